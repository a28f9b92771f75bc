"""Lowering: a checked formula -> a pure TensorFlow function of its inputs (SPEC §3.1).

:func:`lower` walks the sympy tree once, through one dispatch table (:data:`OPS`: sympy node class ->
rule), into a straight-line program with one step per distinct node. Equal sympy subtrees are equal
keys of a memo, so a repeated subexpression is one step, and a named term is one step however often
the loss uses it. A node with no TensorFlow op fails in :func:`lower`, never when the program runs.

Calling the :class:`LoweredFormula` runs the steps on the tensors it is given (variable reads,
targets, parameter values) without copying them, so it traces into ``tf.function`` (also with
``jit_compile=True``) and records on a ``tf.GradientTape``. It computes in float64 if an input is
float64, else in float32; other inputs (float16, bfloat16, integers) are cast to that dtype.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Mapping

import keras
import sympy
import tensorflow as tf

from . import nodes
from .diagnostics import Diagnostic
from .errors import LossError
from .formula import IDENTITY, Formula, term_symbol


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
    squares = tf.reduce_sum(tf.square(x), axis)
    nonzero = squares > 0
    # The inner where keeps sqrt's infinite derivative at 0 out of the gradient (the "double where").
    return tf.where(nonzero, tf.sqrt(tf.where(nonzero, squares, tf.ones_like(squares))), tf.zeros_like(squares))


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
    return loss_class(dtype=dtype, **options)


# ---------------------------------------------------------------------- rules
def _op(fn, text: str):
    """A rule passing the node's tensor arguments straight to ``fn``."""
    return lambda node: Op(fn, node.tensors if isinstance(node, nodes.TensorFunction) else node.args, text)


def _placeholders(indices) -> list[str]:
    return ["{%d}" % i for i in indices]


def _add(node):
    """a + b - c: one step, subtracting terms written with a negative coefficient; I sized by the rest."""
    plus, minus, identity = [], [], 0.0
    for term in node.args:
        coefficient = _identity_coefficient(term)
        if coefficient is not None:
            identity += coefficient
            continue
        negative, magnitude = _split_sign(term)
        (minus if negative else plus).append(magnitude)
    if not plus and not minus:
        raise _identity_without_partner(node)
    count = len(plus)

    def add(*values):
        total = _total(values[:count]) if count else tf.negative(values[0])
        for value in values[max(count, 1):]:
            total = tf.subtract(total, value)
        if identity > 0:
            total = total + _scaled(identity, identity_like(total))
        elif identity < 0:
            total = total - _scaled(-identity, identity_like(total))
        return total

    names = _placeholders(range(len(plus) + len(minus)))
    text = " + ".join(names[:count]) if count else "-" + names[0]
    text += "".join(" - " + name for name in names[max(count, 1):])
    if identity:
        sign, size = (" - ", -identity) if identity < 0 else (" + ", identity)
        text += sign + ("" if size == 1 else f"{size:g} * ") + "tf.eye(n)"
    return Op(add, (*plus, *minus), text)


def _identity_coefficient(term) -> float | None:
    """k for a term that is k times I (I, 2*I, -I), else None."""
    if term == IDENTITY:
        return 1.0
    if term.is_Mul and IDENTITY in term.args and all(
            a == IDENTITY or a.is_Number or a.is_NumberSymbol for a in term.args):
        return float(sympy.Mul(*(a for a in term.args if a != IDENTITY)))
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
            raise _identity_without_partner(node)
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


def _axis_text(axis) -> str:
    return "" if axis is None else f", axis={axis[0] if len(axis) == 1 else list(axis)}"


def _reduction(tf_fn, name: str):
    def rule(node):
        axis = nodes.axis_of(node.args[-1])
        return Op(lambda x: tf_fn(x, axis=axis), node.args[:1], f"{name}({{0}}{_axis_text(axis)})")
    return rule


def _norm(node):
    x, order, axis_option = node.args
    axis = nodes.axis_of(axis_option)
    if order == 1:
        return Op(lambda v: tf.reduce_sum(tf.abs(v), axis), (x,), f"tf.reduce_sum(tf.abs({{0}}){_axis_text(axis)})")
    if order == sympy.oo:
        return Op(lambda v: tf.reduce_max(tf.abs(v), axis), (x,), f"tf.reduce_max(tf.abs({{0}}){_axis_text(axis)})")
    return Op(lambda v: euclidean_norm(v, axis), (x,), f"euclidean_norm({{0}}{_axis_text(axis)})")


def _matrix_product(node):
    operands = [arg for arg in node.args if arg != IDENTITY]  # I @ x is x, whatever size I takes
    if not operands:
        raise _identity_without_partner(node)
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


def _data_loss(loss_class, option: str | None = None):
    """Keras' own loss with its default reduction (the batch mean), computed in the formula's dtype."""
    def rule(node):
        options = {} if option is None else {option: (bool if option == "from_logits" else float)(node.args[2])}
        shown = ", ".join(f"{k}={v}" for k, v in options.items())
        return Op(lambda y_true, y_pred: _keras_loss(loss_class, y_pred.dtype.name, **options)(y_true, y_pred),
                  node.args[:2], f"keras.losses.{loss_class.__name__}({shown})({{0}}, {{1}})")
    return rule


def _registered(node):
    """A function registered with lossdsl.register_function: its node class carries the implementation."""
    implementation = type(node).implementation

    def call(*values):
        result = tf.convert_to_tensor(implementation(*values))
        return result if result.dtype == values[0].dtype else tf.cast(result, values[0].dtype)

    return Op(call, node.tensors, f"{type(node).__name__}({', '.join(_placeholders(range(len(node.tensors))))})")


def _identity_without_partner(node) -> Unsupported:
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
    nodes.ReduceSum: _reduction(tf.reduce_sum, "tf.reduce_sum"),
    nodes.ReduceMean: _reduction(tf.reduce_mean, "tf.reduce_mean"),
    nodes.ReduceMax: _reduction(tf.reduce_max, "tf.reduce_max"),
    nodes.ReduceMin: _reduction(tf.reduce_min, "tf.reduce_min"),
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
    nodes.Huber: _data_loss(keras.losses.Huber, "delta"),
    nodes.BCE: _data_loss(keras.losses.BinaryCrossentropy, "from_logits"),
    nodes.CCE: _data_loss(keras.losses.CategoricalCrossentropy, "from_logits"),
    nodes.SparseCCE: _data_loss(keras.losses.SparseCategoricalCrossentropy, "from_logits"),
    nodes.KLD: _data_loss(keras.losses.KLDivergence),
}


# -------------------------------------------------------------------- program
@dataclass
class Step:
    """One value of the program: an input read from the env, a constant, or an op on earlier steps."""

    name: str
    fn: Callable | None = None
    inputs: tuple[int, ...] = ()
    text: str | None = None  # None for inputs and constants, which are not ops
    reads: str | None = None  # the env key of an input


class _Compiler:
    """Builds the steps of one formula; ``memo`` maps each sympy node to the step computing it."""

    def __init__(self, formula: Formula):
        self.formula = formula
        self.steps: list[Step] = []
        self.memo: dict = {}
        taken = {*formula.terms, *formula.params}
        self.prefix = "t" if not any(re.fullmatch(r"t\d+", name) for name in taken) else "_t"
        self.computed = 0

    def lower(self, node) -> int:
        """The index of the step computing ``node``, adding it (and its inputs) the first time."""
        if node not in self.memo:
            self.memo[node] = self.new_step(node)
        return self.memo[node]

    def new_step(self, node) -> int:
        if node.is_Symbol:
            return self.add(self.input(node))
        if node.is_Number or node.is_NumberSymbol:
            return self.add(self.constant(node))
        rule = OPS.get(type(node)) or (_registered if hasattr(type(node), "implementation") else None)
        if rule is None:
            raise Unsupported(node, "E201", f"'{type(node).__name__}' has no TensorFlow lowering",
                              "register it with lossdsl.register_function(name, tf_function)")
        made = rule(node)
        if isinstance(made, sympy.Basic):  # the rule rewrote the node into an equal one
            return self.lower(made)
        inputs = tuple(self.lower(arg) for arg in made.inputs)
        self.computed += 1
        return self.add(Step(f"{self.prefix}{self.computed}", made.fn, inputs, made.text))

    def input(self, symbol) -> Step:
        name = symbol.name
        if symbol == IDENTITY:
            raise _identity_without_partner(symbol)
        if name not in self.formula.references and name not in self.formula.params:
            raise Unsupported(symbol, "E215", f"'{name}' is not a reference, a parameter or a named term")
        return Step(name, reads=name)

    @staticmethod
    def constant(number) -> Step:
        value = float(number)
        name = {sympy.pi: "pi", sympy.oo: "inf", -sympy.oo: "-inf"}.get(number, f"{value:g}")
        return Step(name, fn=lambda dtype: tf.constant(value, dtype))

    def add(self, step: Step) -> int:
        self.steps.append(step)
        return len(self.steps) - 1

    def name(self, index: int, name: str) -> None:
        """Show a computed step under a term's name (cosmetic: ``ops`` only)."""
        step = self.steps[index]
        if step.text is not None and re.fullmatch(re.escape(self.prefix) + r"\d+", step.name):
            step.name = name


class LoweredFormula:
    """The formula as a pure function of its inputs: ``lowered(env)`` -> {term name: value, "": loss}.

    ``env`` maps reference texts ("L0.kernel", "y_true", "`dense-1`.kernel") and parameter names to
    tensors. ``ops`` lists the TensorFlow ops, one per computed node, in evaluation order.
    """

    def __init__(self, formula: Formula, steps: list[Step], outputs: dict[str, int]):
        self.formula = formula
        self.steps = steps
        self.outputs = outputs
        self.inputs = list(dict.fromkeys(step.reads for step in steps if step.reads))  # in order of use
        self.ops = [f"{s.name} = {s.text.format(*(steps[i].name for i in s.inputs))}"
                    for s in steps if s.text is not None]
        loss = steps[outputs[""]].name
        if loss != "loss":
            self.ops.append(f"loss = {loss}")

    def __call__(self, env: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        missing = [name for name in self.inputs if env.get(name) is None]
        if missing:
            raise LossError([self.missing(name) for name in missing], self.formula.source)
        # A variable is read once per call (never copied); every use of it sees that read.
        given = {name: tf.convert_to_tensor(env[name]) for name in self.inputs}
        dtype = tf.float64 if any(value.dtype == tf.float64 for value in given.values()) else tf.float32
        values = []
        for step in self.steps:
            if step.reads:
                value = given[step.reads]
                values.append(value if value.dtype == dtype else tf.cast(value, dtype))
            elif not step.inputs:
                values.append(step.fn(dtype))
            else:
                values.append(step.fn(*(values[i] for i in step.inputs)))
        return {name: values[index] for name, index in self.outputs.items()}

    def missing(self, name: str) -> Diagnostic:
        reference = self.formula.references.get(name)
        if reference is None:
            return Diagnostic("E215", f"no value was given for parameter '{name}'", self.formula.params[name].span)
        hint = "pass the batch: term(y_true, y_pred)" if reference.is_target else None
        return Diagnostic("E215", f"no value was given for '{name}'", reference.span, hint)

    def __repr__(self) -> str:
        return "LoweredFormula(\n  " + "\n  ".join(self.ops) + "\n)"


def lower(formula: Formula) -> LoweredFormula:
    """The formula as a TensorFlow function; LossError at once for any node with no TensorFlow op.

    >>> import lossdsl, tensorflow as tf
    >>> lowered = lower(lossdsl.parse("reg = norm(L0.kernel)\\n2 * reg"))
    >>> lowered.ops
    ['reg = euclidean_norm(L0.kernel)', 'loss = 2 * reg']
    >>> float(lowered({"L0.kernel": tf.constant([3.0, 4.0])})[""])
    10.0
    """
    compiler = _Compiler(formula)
    outputs = {}
    try:
        for name, definition in formula.terms.items():
            outputs[name] = compiler.memo[term_symbol(name, definition)] = compiler.lower(definition)
            compiler.name(outputs[name], name)
        outputs[""] = compiler.lower(formula.expr)
    except Unsupported as problem:
        raise LossError([Diagnostic(problem.code, problem.message, formula.span_of(problem.node), problem.hint)],
                        formula.source) from None
    compiler.name(outputs[""], "loss")
    return LoweredFormula(formula, compiler.steps, outputs)
