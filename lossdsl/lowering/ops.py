"""What the node kinds' lowering facets are written with: :class:`Op`, ``tf``, and the rules of the
operators and functions that need more than one TensorFlow call (SPEC §3.1).

Each node kind (:mod:`lossdsl.language.kinds`) declares its lowering as ``lower(node, lib)``, ``lib``
being this module. A facet reads a node's options (axis, norm order, from_logits, ...) once, when the
formula is planned, and answers with an :class:`Op`: a TensorFlow function of the values of some sympy
nodes, or with an equal sympy node to lower instead.

Planning imports no TensorFlow (``lossdsl explain`` shows the program without it): ``tf``, ``keras``,
``replicas`` and ``tensor_math`` here are :class:`~.deferred.DeferredModule` s, imported when the
op's function first runs. So a facet uses them only inside the functions it returns, and names a
function it passes on as it is by its path: ``resolve("tf.math.log1p")``, ``resolve("euclidean_norm")``
(a helper of :mod:`.tensor_math`), ``resolve("replicas.global_sum")``.
"""

from __future__ import annotations

import functools
import math
import sys
from dataclasses import dataclass
from typing import Callable

import sympy

from ..language import nodes
from ..language.catalogue import IDENTITY_WITHOUT_PARTNER
from ..language.findings import Finding
from ..language.formula import IDENTITY
from .deferred import DeferredModule, Named


# Each module by an import statement of its own (no import by a computed name: tests/test_hardening.py).
def _tensorflow():
    import tensorflow
    return tensorflow


def _keras():
    import keras
    return keras


def _replicas():
    from . import replicas
    return replicas


def _tensor_math():
    from . import tensor_math
    return tensor_math


tf = DeferredModule(_tensorflow)
keras = DeferredModule(_keras)
replicas = DeferredModule(_replicas)  # the global reductions (replicas.global_sum)
tensor_math = DeferredModule(_tensor_math)  # zero-safe norm, matmul, identity_like, ...


@dataclass(frozen=True)
class Op:
    """A rule's answer for one node: ``fn`` of the values of ``inputs`` (sympy nodes).

    ``text`` shows the op, with ``{0}``, ``{1}``, ... for the inputs. An op without inputs is called
    with the compute dtype instead. ``across`` is the same op over the global batch (:mod:`.replicas`),
    for an op that reduces over the batch: the lowering uses it where the node's arguments hold the batch
    and its value does not.
    A ``seeded`` op draws random numbers: it is called with the formula's
    Keras ``SeedGenerator`` and the compute dtype before its inputs. An op that ``differentiates`` (the
    text of a ``grad`` target) has no ``fn``: the program takes the gradient of its input on a tape
    (:mod:`.differentiation`).
    """

    fn: Callable
    inputs: tuple
    text: str
    across: Callable | None = None
    seeded: bool = False
    differentiates: str | None = None


@functools.lru_cache(maxsize=None)
def resolve(path: str) -> Named:
    """The function a lowering facet names: ``tf.math.log1p``, ``replicas.global_sum``, or a helper of
    :mod:`.tensor_math` (``euclidean_norm``); looked up on its first call, so naming it imports nothing."""
    return Named(path, sys.modules[__name__])


def __getattr__(name: str):
    """``lib.euclidean_norm``: the helpers of :mod:`.tensor_math` read as names of this module (this imports
    TensorFlow; ``resolve("euclidean_norm")`` does not)."""
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(tensor_math, name)


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
def _placeholders(indices) -> list[str]:
    return ["{%d}" % i for i in indices]


def lower_sum(node):
    """a + b - c: one step, subtracting terms written with a negative coefficient; I sized by the rest.

    A multiple of I (``I``, ``2*I``, ``I/2``, ``a*I``) adds its coefficient times an identity as wide as
    the sum of the other terms.
    """
    spread = _spread_terms(node.args)
    if spread is not None:
        return spread
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
            total = total + _scaled(identity, tensor_math.identity_like(total))
        for coefficient in values[terms:]:
            total = total + coefficient * tensor_math.identity_like(total)
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


def _spread_terms(terms) -> sympy.Expr | None:
    """The sum with every term that holds ``I`` inside a sum (``1 - I``, ``-(1 - I)``, ``(1 - I) * M``)
    written out as separate terms, so each ``I`` stands beside a partner it takes its size from (the
    shape check sized it through broadcasting); None when there is no such term."""
    written = [_spread_product(term) if term.is_Mul else term for term in terms]
    flat = [part for term in written for part in (term.args if _holds_identity_sum(term) else (term,))]
    if all(part is term for part, term in zip(flat, terms)) and len(flat) == len(terms):
        return None
    return sympy.Add(*flat, evaluate=False)


def _spread_product(node) -> sympy.Expr:
    """``(1 - I) * M`` as ``M - I*M``: a product with a sum holding ``I`` as the sum of its terms times the rest."""
    index = next((i for i, arg in enumerate(node.args) if _holds_identity_sum(arg)), None)
    if index is None:
        return node
    rest = node.args[:index] + node.args[index + 1:]
    return sympy.Add(*(sympy.Mul(*(term.args if term.is_Mul else (term,)), *rest, evaluate=False)
                       for term in node.args[index].args), evaluate=False)


def _holds_identity_sum(node) -> bool:
    return node.is_Add and IDENTITY in node.free_symbols


def lower_product(node):
    """a * b / c: one step; a negative coefficient negates, I becomes an identity as wide as the rest."""
    spread = _spread_product(node)
    if spread is not node:
        return spread
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
            result = result * tensor_math.identity_like(result)
        return _scaled(scale, result) if count else result

    names = _placeholders(range(len(factors) + len(divisors)))
    text = " * ".join(names[:count]) if count else f"{scale:g}"
    text += "".join(" / " + name for name in names[count:]) + (" * tf.eye(n)" if identity else "")
    if count and scale != 1:
        text = (f"-({text})" if scale == -1 else f"{scale:g} * {text}")
    return Op(multiply, (*factors, *divisors), text)


#: Constant exponents with a dedicated op: its path, and how it is shown.
POWERS = {
    2.0: ("tf.square", "tf.square({0})"),
    0.5: ("tf.sqrt", "tf.sqrt({0})"),
    -1.0: ("tf.math.reciprocal", "1 / {0}"),
    -0.5: ("tf.math.rsqrt", "tf.math.rsqrt({0})"),
}


def lower_power(node):
    base, exponent = node.args
    if not exponent.is_Number:
        return Op(resolve("tf.pow"), (base, exponent), "tf.pow({0}, {1})")
    power = float(exponent)
    if exponent.is_Float and (2 * power).is_integer():  # x**0.5 is sqrt(x), x**2.0 is square(x): one step each
        return sympy.Pow(base, sympy.Rational(int(2 * power), 2), evaluate=False)
    if power == 1:
        return base
    if power in POWERS:
        return Op(resolve(POWERS[power][0]), (base,), POWERS[power][1])
    return Op(lambda x: tf.pow(x, tf.constant(power, x.dtype)), (base,), f"tf.pow({{0}}, {power:g})")


def reduction(fn, text: str, across=None):
    """A rule for ``fn(x, axis)``, the axis being the node's last argument; ``%s`` in ``text`` shows it.
    ``across(x, axis)`` is the reduction over the global batch."""
    def rule(node):
        axis = nodes.axis_of(node.args[-1])
        shown = "" if axis is None else f", axis={axis[0] if len(axis) == 1 else list(axis)}"
        return Op(lambda x: fn(x, axis), node.args[:1], text % shown,
                  None if across is None else lambda x: across(x, axis))
    return rule


#: norm(x, ord, axis) by its order.
NORMS = {
    1.0: reduction(lambda x, axis: tf.reduce_sum(tf.abs(x), axis), "tf.reduce_sum(tf.abs({0})%s)",
                   lambda x, axis: replicas.global_sum(tf.abs(x), axis)),
    2.0: reduction(resolve("euclidean_norm"), "euclidean_norm({0}%s)", resolve("replicas.global_euclidean_norm")),
    math.inf: reduction(lambda x, axis: tf.reduce_max(tf.abs(x), axis), "tf.reduce_max(tf.abs({0})%s)",
                        lambda x, axis: replicas.global_max(tf.abs(x), axis)),
}


def lower_norm(node):
    rule = NORMS.get(float(node.args[1]))
    if rule is None:
        raise Finding("E213", f"norm order {node.args[1]} has no TensorFlow lowering", "use 1, 2 or inf", node=node)
    return rule(node)


def lower_matrix_product(node):
    operands = [arg for arg in node.args if arg != IDENTITY]  # I @ x is x, whatever size I takes
    if not operands:
        raise identity_without_partner(node)
    if len(operands) == 1:
        return operands[0]

    def product(*values):
        return functools.reduce(tensor_math.matmul, values)

    # over the batch (y_pred.T @ y_pred): the product is linear in each replica's part, so sum the parts
    return Op(product, tuple(operands), " @ ".join(_placeholders(range(len(operands)))),
              lambda *values: replicas.all_sum(product(*values)))


def lower_eye(node):
    n = int(node.args[0])
    return Op(lambda dtype: tf.eye(n, dtype=dtype), (), f"tf.eye({n})")


def lower_index(node):
    x, subscripts = node.args
    key = tuple(slice(*(None if part == nodes.OMITTED else int(part) for part in item))
                if isinstance(item, sympy.Tuple) else int(item) for item in subscripts)
    shown = ", ".join(_slice_text(item) if isinstance(item, sympy.Tuple) else str(item) for item in subscripts)
    return Op(lambda value: value[key], (x,), f"{{0}}[{shown}]")


def _slice_text(bounds) -> str:
    parts = ["" if part == nodes.OMITTED else str(part) for part in bounds]
    return ":".join(parts if parts[2] else parts[:2])


def data_loss(node, loss_class: str, same_shape: bool, option_types: dict, fixed: dict | None = None):
    """Keras' own per-sample loss ``keras.losses.<loss_class>``, averaged over the batch (Keras' default
    reduction), in the formula's dtype.

    The shape check lets the pair broadcast (``bce(y_true, logit)`` with one scalar logit), but some Keras
    losses insist on equal ranks, so the pair is broadcast first; sparse_cce's labels have a rank less.
    """
    options = {**(fixed or {}), **{name: convert(value) for (name, convert), value in zip(option_types.items(),
                                                                                           node.options)}}
    shown = ", ".join(f"{k}={v}" for k, v in {**options, "reduction": None}.items())
    prepare = _broadcast_pair if same_shape else lambda y_true, y_pred: (y_true, y_pred)

    def per_sample(y_true, y_pred):
        loss = getattr(keras.losses, loss_class)  # read when the op runs: planning imports no Keras
        return _keras_loss(loss, y_pred.dtype.name, **options)(*prepare(y_true, y_pred))

    return Op(lambda y_true, y_pred: tf.reduce_mean(per_sample(y_true, y_pred)),
              node.args[:2], f"tf.reduce_mean(keras.losses.{loss_class}({shown})({{0}}, {{1}}))",
              lambda y_true, y_pred: replicas.global_mean(per_sample(y_true, y_pred)))


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


def random_draw(node, like: bool):
    """normal(6, 1), uniform_like(x): keras.random's draw of that shape, from the formula's SeedGenerator."""
    draw = resolve(f"keras.random.{node.distribution}")
    if like:
        return Op(lambda seed, dtype, x: draw(tf.shape(x), dtype=dtype, seed=seed), node.tensors,
                  f"keras.random.{node.distribution}(tf.shape({{0}}), seed=seed_generator)", seeded=True)
    shape = [int(size) for size in node.args[:-1]]
    return Op(lambda seed, dtype: draw(shape, dtype=dtype, seed=seed), (),
              f"keras.random.{node.distribution}({shape}, seed=seed_generator)", seeded=True)


def registered(node):
    """A function registered with lossdsl.register_function: its node class carries the implementation."""
    implementation = type(node).implementation

    def call(*values):
        result = tf.convert_to_tensor(implementation(*values))
        return result if result.dtype == values[0].dtype else tf.cast(result, values[0].dtype)

    return Op(call, node.tensors, f"{type(node).__name__}({', '.join(_placeholders(range(len(node.tensors))))})")


def identity_without_partner(node) -> Finding:
    return Finding(*IDENTITY_WITHOUT_PARTNER.parts(), node=node)
