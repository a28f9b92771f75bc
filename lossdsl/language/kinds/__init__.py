"""Every node kind lossdsl knows, one declaration each (see :mod:`.base` for what a declaration holds).

The families are modules of this package: arithmetic (+, *, **, subscripts), elementwise functions,
reductions, linear algebra, matrix functions, shaping, random draws, data losses. Adding a built-in
function is one declaration in one of them.
Functions registered from Python (``lossdsl.register_function``) are kinds too, in ``REGISTERED_KINDS``.
"""

from __future__ import annotations

# In this order the function table lists them (reductions, elementwise, ...).
from . import (reductions, elementwise, arithmetic, linear_algebra, matrices, shaping,  # noqa: F401, I001
               random_draws, data_losses, collections, gradients)
from .base import (ABSOLUTELY_LINEAR, BUILTIN_KINDS, KINDS, LINEAR, POWER, PRODUCT, REGISTERED_KINDS, SUM,
                   UNDECIDED, FunctionSpec, Marker, NodeKind, Option, TensorFunction, Unary, kind_of, tensor_args)

__all__ = ["ABSOLUTELY_LINEAR", "BUILTIN_KINDS", "KINDS", "LINEAR", "POWER", "PRODUCT", "REGISTERED_KINDS", "SUM",
           "UNDECIDED", "FunctionSpec", "Marker", "NodeKind", "Option", "TensorFunction", "Unary", "kind_of",
           "tensor_args", "builtin_calls"]


def builtin_calls() -> dict[str, FunctionSpec]:
    """Every built-in function a formula may call, by name, in the order the families declare them."""
    return {spec.name: spec for kind in BUILTIN_KINDS.values() for spec in kind.calls}
