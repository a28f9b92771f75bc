"""The declarative table of functions a formula may call: arguments, options, shape rule, sympy node.

Users add their own with :func:`register_function`; the lowering stage finds the TensorFlow op of a
built-in by its node class, and of a registered function in the spec itself.
"""

from __future__ import annotations

import difflib
import threading
from dataclasses import dataclass, field
from typing import Callable

import sympy
from sympy import Rational, Tuple

from . import nodes


@dataclass(frozen=True)
class Option:
    """A constant argument: ``kind`` is axis, order, positive, flag or size."""

    name: str
    kind: str
    default: object = None


@dataclass(frozen=True)
class FunctionSpec:
    """What a formula function takes and what it builds."""

    name: str
    build: Callable[..., sympy.Expr]  # (*tensors, *options) -> sympy node
    tensors: tuple[str, ...] = ("x",)
    options: tuple[Option, ...] = ()
    shape_rule: str | Callable = "elementwise"
    summary: str = ""
    implementation: Callable | None = field(default=None, compare=False)  # registered functions only

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.tensors + tuple(option.name for option in self.options)

    def signature(self) -> str:
        options = [o.name if o.default is None else f"{o.name}={_shown_default(o.default)}" for o in self.options]
        return f"{self.name}({', '.join(self.tensors + tuple(options))})"


def _shown_default(value) -> str:
    if value == Tuple():
        return "None"
    return "inf" if value == sympy.oo else f"{float(value):g}"


AXIS = Option("axis", "axis", Tuple())


def _node(cls):
    return lambda *args: cls(*args, evaluate=False)


def _sympy(function):
    return lambda x: function(x, evaluate=False)


def _reduction(name: str, cls, summary: str) -> FunctionSpec:
    return FunctionSpec(name, _node(cls), options=(AXIS,), shape_rule="reduce", summary=summary)


def _data_loss(name: str, cls, summary: str, *options: Option) -> FunctionSpec:
    return FunctionSpec(name, _node(cls), ("y_true", "y_pred"), options, "data_loss", summary)


def _elementwise(name: str, build, summary: str, tensors=("x",)) -> FunctionSpec:
    return FunctionSpec(name, build, tensors, summary=summary)


FROM_LOGITS = Option("from_logits", "flag", sympy.Integer(0))

BUILTINS: dict[str, FunctionSpec] = {spec.name: spec for spec in [
    FunctionSpec("norm", _node(nodes.Norm), options=(Option("ord", "order", sympy.Integer(2)), AXIS),
                 shape_rule="reduce", summary="2-norm of all entries (ord=1 or inf for other norms)"),
    _reduction("sum", nodes.ReduceSum, "sum of entries"),
    _reduction("mean", nodes.ReduceMean, "mean of entries"),
    _reduction("max", nodes.ReduceMax, "largest entry"),
    _reduction("min", nodes.ReduceMin, "smallest entry"),
    _elementwise("abs", _sympy(sympy.Abs), "absolute value"),
    _elementwise("sqrt", lambda x: sympy.Pow(x, Rational(1, 2), evaluate=False), "square root"),
    _elementwise("square", lambda x: sympy.Pow(x, 2, evaluate=False), "x**2"),
    _elementwise("exp", _sympy(sympy.exp), "e**x"),
    _elementwise("log", _sympy(sympy.log), "natural logarithm"),
    _elementwise("log1p", _node(nodes.Log1p), "log(1 + x), accurate near 0"),
    _elementwise("sin", _sympy(sympy.sin), "sine"),
    _elementwise("cos", _sympy(sympy.cos), "cosine"),
    _elementwise("tanh", _sympy(sympy.tanh), "hyperbolic tangent"),
    _elementwise("sigmoid", _node(nodes.Sigmoid), "1 / (1 + exp(-x))"),
    _elementwise("softplus", _node(nodes.Softplus), "log(1 + exp(x))"),
    _elementwise("relu", _node(nodes.Relu), "max(x, 0)"),
    _elementwise("clip", _node(nodes.Clip), "x limited to [lo, hi]", ("x", "lo", "hi")),
    _elementwise("maximum", _node(nodes.Maximum), "elementwise larger of x and y", ("x", "y")),
    _elementwise("minimum", _node(nodes.Minimum), "elementwise smaller of x and y", ("x", "y")),
    _elementwise("stop", _node(nodes.StopGradient), "x, with no gradient flowing through it"),
    FunctionSpec("trace", _node(nodes.MatrixTrace), shape_rule="trace", summary="sum of a matrix's diagonal"),
    FunctionSpec("diag", _node(nodes.Diagonal), shape_rule="diag",
                 summary="diagonal of a matrix, or the matrix with a vector on its diagonal"),
    FunctionSpec("eye", _node(nodes.EyeMatrix), (), (Option("n", "size"),), "eye", "the n-by-n identity"),
    FunctionSpec("dot", _node(nodes.DotProduct), ("x", "y"), shape_rule="pair_to_scalar",
                 summary="sum of x * y"),
    FunctionSpec("cosine", _node(nodes.Cosine), ("x", "y"), shape_rule="pair_to_scalar",
                 summary="cosine similarity of x and y, flattened"),
    _data_loss("mse", nodes.MSE, "mean squared error"),
    _data_loss("mae", nodes.MAE, "mean absolute error"),
    _data_loss("huber", nodes.Huber, "Huber loss", Option("delta", "positive", sympy.Float(1.0))),
    _data_loss("bce", nodes.BCE, "binary cross-entropy", FROM_LOGITS),
    _data_loss("cce", nodes.CCE, "categorical cross-entropy", FROM_LOGITS),
    _data_loss("sparse_cce", nodes.SparseCCE, "sparse categorical cross-entropy", FROM_LOGITS),
    _data_loss("kld", nodes.KLD, "Kullback-Leibler divergence"),
]}

_registered: dict[str, FunctionSpec] = {}
_registry_lock = threading.Lock()
_on_change: list[Callable[[], None]] = []


def lookup(name: str) -> FunctionSpec | None:
    """The spec of a built-in or registered function, or ``None``."""
    return _registered.get(name) or BUILTINS.get(name)


def known_names() -> list[str]:
    return sorted({*BUILTINS, *_registered})


def closest_name(name: str) -> str | None:
    """The known function name most like ``name``, for a "did you mean" hint."""
    matches = difflib.get_close_matches(name, known_names(), n=1, cutoff=0.6)
    return matches[0] if matches else None


def register_function(name: str, implementation: Callable, shape_rule: str | Callable = "elementwise",
                      nonnegative: bool = False, arity: int = 1) -> FunctionSpec:
    """Make ``name(x, ...)`` callable from formulas, computed by ``implementation`` (a TensorFlow function).

    ``shape_rule`` is "elementwise", "reduce", "pair_to_scalar", or a callable from the argument shapes
    (tuples, ``None`` for unknown dimensions) to the result shape.

    >>> import lossdsl
    >>> spec = lossdsl.register_function("cube", lambda x: x ** 3)
    >>> lossdsl.parse("sum(cube(L1.kernel))").expr
    ReduceSum(cube(L1.kernel), ())
    >>> lossdsl.unregister_function("cube")
    """
    if not name.isidentifier() or name in BUILTINS:
        raise ValueError(f"cannot register {name!r}: it must be an identifier and not a built-in function")
    node_class = type(name, (nodes.TensorFunction,), {
        "nargs": arity, "tensor_arity": arity, "sign": "nonnegative" if nonnegative else None,
        "latex_name": rf"\operatorname{{{name}}}".replace("_", r"\_"),
        "implementation": staticmethod(implementation),
    })
    tensors = ("x",) if arity == 1 else tuple(f"x{i + 1}" for i in range(arity))
    spec = FunctionSpec(name, _node(node_class), tensors, shape_rule=shape_rule,
                        summary=(implementation.__doc__ or "").strip().split("\n")[0], implementation=implementation)
    with _registry_lock:
        _registered[name] = spec
    for callback in _on_change:
        callback()
    return spec


def unregister_function(name: str) -> None:
    """Forget a registered function (formulas using it no longer parse)."""
    with _registry_lock:
        _registered.pop(name, None)
    for callback in _on_change:
        callback()
