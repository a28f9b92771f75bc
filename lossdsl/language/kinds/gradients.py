"""``grad(f, x)`` (SPEC §5.7): the gradient of ``f`` (the sum of its entries) with respect to ``x``.

``x`` is a reference the builder has checked (``language.gradients``): a variable, a pattern's member, a
parameter, an activation or ``inputs``; the result has ``x``'s shape. Its value depends on everything
``f`` reads, through the model too, so the stability facts know nothing of it but that it is real: a
norm of it is non-negative like any norm. The lowering does not compute it from its arguments' values:
it asks the tape that recorded ``f`` (``lowering.differentiation``).
"""

from __future__ import annotations

from .. import intervals as iv
from .base import UNDECIDED, FunctionSpec, NodeKind, build, declare, node_class

#: The function's name in formulas; a reserved name, never a parameter.
GRAD = "grad"
SUMMARY = "the gradient of f (the sum of its entries) with respect to x, a reference; x's shape"


def _latex(node, printer) -> str:
    f, x = node.args
    return rf"\nabla_{{{printer._print(x)}}} {printer.parenthesize(f, 50)}"


def _lower(node, lib):
    f, x = node.args
    return lib.Op(None, (f, x), "grad({0}, {1})", differentiates=x.name)


_GradientNode = node_class("Gradient", __name__, 2, 2, doc=f"grad(f, x): {SUMMARY}")
Gradient = declare(NodeKind(
    _GradientNode, SUMMARY, shape=lambda node, f, x: x, sign=None, range=lambda node, of: iv.REAL,
    # It moves with every weight f reads, in ways no rule here can follow: "cannot tell", never a guess.
    asymptotic=UNDECIDED, plain=UNDECIDED, lower=_lower, latex=_latex,
    calls=(FunctionSpec(GRAD, build(_GradientNode), ("f", "x"), shape_rule=lambda f, x: x, summary=SUMMARY),)))
