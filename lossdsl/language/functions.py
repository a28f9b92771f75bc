"""The functions a formula may call: the built-ins' call signatures, and the user's own functions.

A built-in is declared once, with every fact about it, in :mod:`lossdsl.language.kinds`; this module
lists their call signatures by name (:data:`BUILTINS`). Users add functions with
:func:`register_function`, which declares a node kind of the same structure.
"""

from __future__ import annotations

import difflib
import threading
from typing import Callable

from . import intervals, kinds, shape_algebra
from .findings import Finding
from .kinds.base import UNDECIDED, FunctionSpec, NodeKind, Option, TensorFunction, build

__all__ = ["BUILTINS", "FunctionSpec", "Option", "closest_name", "known_names", "lookup", "register_function",
           "unregister_function"]

BUILTINS: dict[str, FunctionSpec] = kinds.builtin_calls()

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
    node_class = type(name, (TensorFunction,), {
        "nargs": arity, "tensor_arity": arity, "implementation": staticmethod(implementation)})
    tensors = ("x",) if arity == 1 else tuple(f"x{i + 1}" for i in range(arity))
    summary = (implementation.__doc__ or "").strip().split("\n")[0]
    spec = FunctionSpec(name, build(node_class), tensors, shape_rule=shape_rule, summary=summary,
                        implementation=implementation)
    sign = "nonnegative" if nonnegative else None
    kind = NodeKind(node_class, summary, _shape_facet(name, shape_rule), sign,
                    range=lambda node, of: intervals.sign_range(sign),
                    asymptotic=UNDECIDED, plain=UNDECIDED,  # nothing is known of the user's function
                    lower=lambda node, lib: lib.registered(node),
                    latex=rf"\operatorname{{{name}}}".replace("_", r"\_"), calls=(spec,))
    with _registry_lock:
        for old in [cls for cls, known in kinds.REGISTERED_KINDS.items() if known.calls[0].name == name]:
            del kinds.REGISTERED_KINDS[old]
        kinds.REGISTERED_KINDS[node_class] = kind
        _registered[name] = spec
    for callback in _on_change:
        callback()
    return spec


def _shape_facet(name: str, shape_rule: str | Callable) -> Callable:
    """The shape facet of a registered function, from register_function's ``shape_rule``."""
    if callable(shape_rule):
        return lambda node, *shapes: _user_rule(name, shape_rule, shapes)
    if shape_rule == "reduce":
        return lambda node, *shapes: shape_algebra.SCALAR
    if shape_rule == "pair_to_scalar":
        return lambda node, *shapes: shape_algebra.pair_to_scalar(*shapes)
    return lambda node, *shapes: shape_algebra.broadcast(*shapes)


def _user_rule(name: str, rule: Callable, shapes: tuple):
    try:
        result = rule(*shapes)
    except Exception as error:  # a user's rule: report it, whatever it raised
        raise Finding("E308", f"{name}(): {error}",
                      f"the shape rule registered for {name}() rejected these arguments") from None
    return None if result is None else tuple(result)


def unregister_function(name: str) -> None:
    """Forget a registered function (formulas using it no longer parse)."""
    with _registry_lock:
        _registered.pop(name, None)
        for old in [cls for cls, known in kinds.REGISTERED_KINDS.items() if known.calls[0].name == name]:
            del kinds.REGISTERED_KINDS[old]
    for callback in _on_change:
        callback()

