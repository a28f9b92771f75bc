"""The lowering's dispatch table: sympy node class -> TensorFlow op (SPEC §3.1).

:data:`OPS` maps each node class lossdsl builds (sympy's ``Add``, ``Mul``, ``Pow``, ``exp``, ``log``,
``Abs``, ``sin``, ``cos``, ``tanh`` and every class in :mod:`lossdsl.nodes`) to a rule. A rule reads a
node's options (axis, norm order, from_logits, ...) once, when the formula is lowered, and answers
with an :class:`Op`: a TensorFlow function of the values of some sympy nodes. Functions registered with
``lossdsl.register_function`` need no entry: their node class carries its implementation.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable

import keras
import sympy
import tensorflow as tf

from ..language import nodes
from ..language.formula import IDENTITY
from .gradients import CustomGradient


@dataclass(frozen=True)
class Op:
    """A rule's answer for one node: ``fn`` of the values of ``inputs`` (sympy nodes).

    ``text`` shows the op, with ``{0}``, ``{1}``, ... for the inputs. An op without inputs is called
    with the compute dtype instead.
    """

    fn: Callable
    inputs: tuple
    text: str


class Unsupported(Exception):
    """Raised by a rule for a node it cannot lower; :func:`lower` turns it into a diagnostic."""

    def __init__(self, node, code: str, message: str, hint: str | None = None):
        super().__init__(message)
        self.node, self.code, self.message, self.hint = node, code, message, hint


# ------------------------------------------------------------ numeric helpers
def euclidean_norm(x, axis=None):
    """sqrt(sum(x**2)); its gradient is 0 where the norm is 0 (tf.norm's is NaN there)."""
    kept = _NORM_WITHOUT_NAN(lambda x: _kept_norm(x, axis), x)
    return tf.reshape(kept, []) if axis is None else tf.squeeze(kept, axis)


_NORM_WITHOUT_NAN = CustomGradient("LossdslEuclideanNorm", lambda x, kept, upstream: x * tf.math.divide_no_nan(
    upstream, kept))


def _kept_norm(x, axis):
    # TensorFlow's EuclideanNorm kernel reads x once, without writing x**2 out first: twice as fast as
    # sqrt(reduce_sum(square(x))) on a large tensor. XLA has no such kernel, and fuses the latter.
    if _tracing_for_xla():
        return tf.sqrt(tf.reduce_sum(tf.square(x), axis, keepdims=True))
    return tf.math.reduce_euclidean_norm(x, axis, keepdims=True)


def _tracing_for_xla() -> bool:
    """True while a ``jit_compile=True`` function is traced."""
    try:
        from tensorflow.python.ops import control_flow_util  # how tf.function itself tells (no public API)
    except ImportError:  # pragma: no cover - a TensorFlow that moved it: the form that works everywhere
        return True
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def cosine_similarity(x, y):
    """Cosine of the angle between the flattened (broadcast) tensors; 0 when either is all zeros."""
    if x.shape != y.shape or not x.shape.is_fully_defined():
        shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y))
        x, y = tf.broadcast_to(x, shape), tf.broadcast_to(y, shape)
    # l2_normalize divides by sqrt(max(sum of squares, 1e-12)): finite value and gradient at zero.
    return tf.reduce_sum(tf.math.l2_normalize(tf.reshape(x, [-1])) * tf.math.l2_normalize(tf.reshape(y, [-1])))


def matmul(a, b):
    """numpy's matmul: a rank-1 left (right) operand is a row (column) vector, dropped from the result."""
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.reduce_sum(a * b)
    if a.shape.rank == 1:
        return tf.squeeze(tf.linalg.matmul(a[tf.newaxis, :], b), -2)
    if b.shape.rank == 1:
        return tf.squeeze(tf.linalg.matmul(a, b[:, tf.newaxis]), -1)
    return tf.linalg.matmul(a, b)


def identity_like(x):
    """The identity matrix as wide as ``x``'s last dimension (``I`` sized by its partner)."""
    n = x.shape[-1] if x.shape.rank and x.shape[-1] is not None else tf.shape(x)[-1]
    return tf.eye(n, dtype=x.dtype)


def _scaled(scale: float, x):
    return x if scale == 1 else tf.negative(x) if scale == -1 else tf.constant(scale, x.dtype) * x


def _total(values):
    shapes = {tuple(v.shape) for v in values}
    if len(values) > 1 and len(shapes) == 1 and values[0].shape.is_fully_defined():
        return tf.add_n(values)
    return functools.reduce(tf.add, values)  # operands that broadcast


@functools.lru_cache(maxsize=None)
def _keras_loss(loss_class, dtype: str, **options):
    # No reduction here: Keras' own reduction also divides by the replica count under a distribution
    # strategy, and the Keras layer scales the whole formula once (keras.py).
    return loss_class(dtype=dtype, reduction=None, **options)


# ---------------------------------------------------------------------- rules
def _op(fn, text: str):
    """A rule passing the node's tensor arguments straight to ``fn``."""
    return lambda node: Op(fn, node.tensors if isinstance(node, nodes.TensorFunction) else node.args, text)


def _placeholders(indices) -> list[str]:
    return ["{%d}" % i for i in indices]


def _add(node):
    """a + b - c: one step, subtracting terms written with a negative coefficient; I sized by the rest.

    A multiple of I (``I``, ``2*I``, ``I/2``, ``a*I``) adds its coefficient times an identity as wide as
    the sum of the other terms.
    """
    plus, minus, scaled, identity = [], [], [], 0.0
    for term in node.args:
        coefficient = _identity_coefficient(term)
        if coefficient is None:
            negative, magnitude = _split_sign(term)
            (minus if negative else plus).append(magnitude)
        elif coefficient.is_number:
            identity += float(coefficient)
        else:
            scaled.append(coefficient)
    if not plus and not minus:
        raise identity_without_partner(node)
    count, terms = len(plus), len(plus) + len(minus)

    def add(*values):
        total = _total(values[:count]) if count else tf.negative(values[0])
        for value in values[max(count, 1):terms]:
            total = tf.subtract(total, value)
        if identity:
            total = total + _scaled(identity, identity_like(total))
        for coefficient in values[terms:]:
            total = total + coefficient * identity_like(total)
        return total

    names = _placeholders(range(terms + len(scaled)))
    text = " + ".join(names[:count]) if count else "-" + names[0]
    text += "".join(" - " + name for name in names[max(count, 1):terms])
    if identity:
        sign, size = (" - ", -identity) if identity < 0 else (" + ", identity)
        text += sign + ("" if size == 1 else f"{size:g} * ") + "tf.eye(n)"
    text += "".join(f" + {name} * tf.eye(n)" for name in names[terms:])
    return Op(add, (*plus, *minus, *scaled), text)


def _identity_coefficient(term) -> sympy.Expr | None:
    """k for a term that is k times I (I, 2*I, -I, I/2, a*I), else None."""
    if term == IDENTITY:
        return sympy.Integer(1)
    if term.is_Mul and IDENTITY in term.args:
        rest = [a for a in term.args if a != IDENTITY]
        return rest[0] if len(rest) == 1 else sympy.Mul(*rest, evaluate=False)
    return None


def _split_sign(term) -> tuple[bool, sympy.Expr]:
    """(True, t) for a term that is -t: a negative number, or a product with a negative coefficient."""
    if term.is_Number:
        return (True, -term) if term.is_negative else (False, term)
    if term.is_Mul:
        coefficient = sympy.Mul(*(a for a in term.args if a.is_Number))
        if coefficient.is_negative:
            rest = [a for a in term.args if not a.is_Number]
            factors = ([] if coefficient == -1 else [-coefficient]) + rest
            return True, (factors[0] if len(factors) == 1 else sympy.Mul(*factors, evaluate=False))
    return False, term


def _mul(node):
    """a * b / c: one step; a negative coefficient negates, I becomes an identity as wide as the rest."""
    coefficient, factors, divisors, identity = sympy.Integer(1), [], [], False
    for arg in node.args:
        if arg == IDENTITY:
            identity = True
        elif arg.is_Number or arg.is_NumberSymbol:
            coefficient *= arg
        elif arg.is_Pow and arg.exp.is_Number and arg.exp == -1:
            divisors.append(arg.base)
        else:
            factors.append(arg)
    scale = float(coefficient)
    if not factors and not divisors:
        if identity:
            raise identity_without_partner(node)
        return sympy.Float(scale)  # a product of numbers is a number
    count = len(factors)

    def multiply(*values):
        # c / d rather than c * (1 / d) when nothing else is in the numerator
        result = functools.reduce(tf.multiply, values[:count]) if count else tf.constant(scale, values[0].dtype)
        for divisor in values[count:]:
            result = tf.math.divide(result, divisor)
        if identity:
            result = result * identity_like(result)
        return _scaled(scale, result) if count else result

    names = _placeholders(range(len(factors) + len(divisors)))
    text = " * ".join(names[:count]) if count else f"{scale:g}"
    text += "".join(" / " + name for name in names[count:]) + (" * tf.eye(n)" if identity else "")
    if count and scale != 1:
        text = (f"-({text})" if scale == -1 else f"{scale:g} * {text}")
    return Op(multiply, (*factors, *divisors), text)


#: Constant exponents with a dedicated op.
POWERS = {
    2.0: (tf.square, "tf.square({0})"),
    0.5: (tf.sqrt, "tf.sqrt({0})"),
    -1.0: (tf.math.reciprocal, "1 / {0}"),
    -0.5: (tf.math.rsqrt, "tf.math.rsqrt({0})"),
}


def _pow(node):
    base, exponent = node.args
    if not exponent.is_Number:
        return Op(tf.pow, (base, exponent), "tf.pow({0}, {1})")
    power = float(exponent)
    if exponent.is_Float and (2 * power).is_integer():  # x**0.5 is sqrt(x), x**2.0 is square(x): one step each
        return sympy.Pow(base, sympy.Rational(int(2 * power), 2), evaluate=False)
    if power == 1:
        return base
    if power in POWERS:
        return Op(POWERS[power][0], (base,), POWERS[power][1])
    return Op(lambda x: tf.pow(x, tf.constant(power, x.dtype)), (base,), f"tf.pow({{0}}, {power:g})")


def _reduction(fn, text: str):
    """A rule for ``fn(x, axis)``, the axis being the node's last argument; ``%s`` in ``text`` shows it."""
    def rule(node):
        axis = nodes.axis_of(node.args[-1])
        shown = "" if axis is None else f", axis={axis[0] if len(axis) == 1 else list(axis)}"
        return Op(lambda x: fn(x, axis), node.args[:1], text % shown)
    return rule


#: norm(x, ord, axis) by its order.
NORMS = {
    1.0: _reduction(lambda x, axis: tf.reduce_sum(tf.abs(x), axis), "tf.reduce_sum(tf.abs({0})%s)"),
    2.0: _reduction(euclidean_norm, "euclidean_norm({0}%s)"),
    math.inf: _reduction(lambda x, axis: tf.reduce_max(tf.abs(x), axis), "tf.reduce_max(tf.abs({0})%s)"),
}


def _norm(node):
    rule = NORMS.get(float(node.args[1]))
    if rule is None:
        raise Unsupported(node, "E213", f"norm order {node.args[1]} has no TensorFlow lowering", "use 1, 2 or inf")
    return rule(node)


def _matrix_product(node):
    operands = [arg for arg in node.args if arg != IDENTITY]  # I @ x is x, whatever size I takes
    if not operands:
        raise identity_without_partner(node)
    if len(operands) == 1:
        return operands[0]
    return Op(lambda *values: functools.reduce(matmul, values), tuple(operands),
              " @ ".join(_placeholders(range(len(operands)))))


def _eye(node):
    n = int(node.args[0])
    return Op(lambda dtype: tf.eye(n, dtype=dtype), (), f"tf.eye({n})")


def _index(node):
    x, subscripts = node.args
    key = tuple(slice(*(None if part == nodes.OMITTED else int(part) for part in item))
                if isinstance(item, sympy.Tuple) else int(item) for item in subscripts)
    shown = ", ".join(_slice_text(item) if isinstance(item, sympy.Tuple) else str(item) for item in subscripts)
    return Op(lambda value: value[key], (x,), f"{{0}}[{shown}]")


def _slice_text(bounds) -> str:
    parts = ["" if part == nodes.OMITTED else str(part) for part in bounds]
    return ":".join(parts if parts[2] else parts[:2])


def _data_loss(loss_class, same_shape: bool = True, **option_types):
    """Keras' own per-sample loss, averaged over the batch (Keras' default reduction), in the formula's dtype.

    The shape check lets the pair broadcast (``bce(y_true, logit)`` with one scalar logit), but some Keras
    losses insist on equal ranks, so the pair is broadcast first; sparse_cce's labels have a rank less.
    """
    def rule(node):
        options = {name: convert(value) for (name, convert), value in zip(option_types.items(), node.options)}
        shown = ", ".join(f"{k}={v}" for k, v in {**options, "reduction": None}.items())
        prepare = _broadcast_pair if same_shape else lambda y_true, y_pred: (y_true, y_pred)
        return Op(lambda y_true, y_pred: tf.reduce_mean(
            _keras_loss(loss_class, y_pred.dtype.name, **options)(*prepare(y_true, y_pred))),
            node.args[:2], f"tf.reduce_mean(keras.losses.{loss_class.__name__}({shown})({{0}}, {{1}}))")
    return rule


def _broadcast_pair(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    if x.shape.rank == 0 and y.shape.rank == 0:  # mse(3, b): Keras reduces over the last axis, so give it one
        return tf.reshape(x, [1]), tf.reshape(y, [1])
    if x.shape.as_list() == y.shape.as_list():  # the usual case: nothing to do, not even an op
        return x, y
    longer, shorter = (x, y) if x.shape.rank > y.shape.rank else (y, x)
    if longer.shape.rank == shorter.shape.rank + 1 and longer.shape[-1] == 1 and \
            longer.shape[:-1].is_compatible_with(shorter.shape):
        return x, y  # labels (n,) with predictions (n, 1): Keras squeezes the 1 itself, per sample
    shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y))
    return tf.broadcast_to(x, shape), tf.broadcast_to(y, shape)


def registered(node):
    """A function registered with lossdsl.register_function: its node class carries the implementation."""
    implementation = type(node).implementation

    def call(*values):
        result = tf.convert_to_tensor(implementation(*values))
        return result if result.dtype == values[0].dtype else tf.cast(result, values[0].dtype)

    return Op(call, node.tensors, f"{type(node).__name__}({', '.join(_placeholders(range(len(node.tensors))))})")


def identity_without_partner(node) -> Unsupported:
    return Unsupported(node, "E307", "I has no matrix beside it to take its size from",
                       "use eye(n) for an identity of a chosen size")


#: sympy node class -> rule(node) -> Op, or an equal sympy node to lower instead. Symbols and numbers
#: are the program's inputs and constants; registered functions carry their op on their node class.
OPS: dict[type, Callable] = {
    sympy.Add: _add,
    sympy.Mul: _mul,
    sympy.Pow: _pow,
    sympy.exp: _op(tf.exp, "tf.exp({0})"),
    sympy.log: _op(tf.math.log, "tf.math.log({0})"),
    sympy.Abs: _op(tf.abs, "tf.abs({0})"),
    sympy.sin: _op(tf.sin, "tf.sin({0})"),
    sympy.cos: _op(tf.cos, "tf.cos({0})"),
    sympy.tanh: _op(tf.tanh, "tf.tanh({0})"),
    nodes.Log1p: _op(tf.math.log1p, "tf.math.log1p({0})"),
    nodes.Sigmoid: _op(tf.sigmoid, "tf.sigmoid({0})"),
    nodes.Softplus: _op(tf.nn.softplus, "tf.nn.softplus({0})"),
    nodes.Relu: _op(tf.nn.relu, "tf.nn.relu({0})"),
    # min(max(...)) rather than clip_by_value: lo and hi may be tensors that broadcast x to a larger shape
    nodes.Clip: _op(lambda x, lo, hi: tf.minimum(tf.maximum(x, lo), hi), "tf.minimum(tf.maximum({0}, {1}), {2})"),
    nodes.Maximum: _op(tf.maximum, "tf.maximum({0}, {1})"),
    nodes.Minimum: _op(tf.minimum, "tf.minimum({0}, {1})"),
    nodes.StopGradient: _op(tf.stop_gradient, "tf.stop_gradient({0})"),
    nodes.Norm: _norm,
    nodes.ReduceSum: _reduction(tf.reduce_sum, "tf.reduce_sum({0}%s)"),
    nodes.ReduceMean: _reduction(tf.reduce_mean, "tf.reduce_mean({0}%s)"),
    nodes.ReduceMax: _reduction(tf.reduce_max, "tf.reduce_max({0}%s)"),
    nodes.ReduceMin: _reduction(tf.reduce_min, "tf.reduce_min({0}%s)"),
    nodes.MatrixProduct: _matrix_product,
    nodes.Transposed: _op(tf.transpose, "tf.transpose({0})"),
    nodes.MatrixTrace: _op(tf.linalg.trace, "tf.linalg.trace({0})"),
    nodes.Diagonal: _op(lambda x: tf.linalg.diag(x) if x.shape.rank == 1 else tf.linalg.diag_part(x),
                        "diag({0})"),
    nodes.EyeMatrix: _eye,
    nodes.DotProduct: _op(lambda x, y: tf.reduce_sum(x * y), "tf.reduce_sum({0} * {1})"),
    nodes.Cosine: _op(cosine_similarity, "cosine_similarity({0}, {1})"),
    nodes.Index: _index,
    nodes.MSE: _data_loss(keras.losses.MeanSquaredError),
    nodes.MAE: _data_loss(keras.losses.MeanAbsoluteError),
    nodes.Huber: _data_loss(keras.losses.Huber, delta=float),
    nodes.BCE: _data_loss(keras.losses.BinaryCrossentropy, from_logits=bool),
    nodes.CCE: _data_loss(keras.losses.CategoricalCrossentropy, from_logits=bool),
    nodes.SparseCCE: _data_loss(keras.losses.SparseCategoricalCrossentropy, same_shape=False, from_logits=bool),
    nodes.KLD: _data_loss(keras.losses.KLDivergence),
}
