"""Value ranges of formula expressions by interval arithmetic: which values a subexpression can take.

Used by the stability checks: ``log(x)`` warns when the range of ``x`` reaches 0 or below, ``1/x`` when
it holds 0, and the sign of a coefficient decides whether a growing term pushes the loss to -inf. The
ranges are sound over-approximations: a value outside the range is impossible, a value inside may not
be reachable (``x - x`` is given the range of ``x - y``). Each node kind states its own rule (the
``range`` facet of :mod:`lossdsl.language.kinds`); this module walks the tree with them.
"""

from __future__ import annotations

import sympy

from ..language.floats import number_of
from ..language.formula import IDENTITY
from ..language.intervals import INF, NONNEG, POSITIVE, REAL, Range, make, point
from ..language.kinds import TensorFunction, kind_of

__all__ = ["NONNEG", "POSITIVE", "REAL", "Range", "RangeFinder", "make", "number_of", "point"]


class RangeFinder:
    """Ranges of expressions, given the ranges of their symbols; results are memoized per node.

    With ``strict``, a tensor block that is non-negative (a norm, a data loss) is taken as positive: the
    unboundedness check judges ``exp(-s)*mse(y_true, y_pred) + s`` for a loss that is not exactly 0.
    """

    def __init__(self, symbols: dict, strict: bool = False):
        self.symbols = symbols
        self.strict = strict
        self.memo: dict = {}

    def of(self, node: sympy.Basic) -> Range:
        if node.is_Number:  # before the memo: hashing a sympy Float is slow, it is not cached
            return _constant(node)
        found = self.memo.get(node)
        if found is None:
            found = self.memo[node] = self._compute(node)
        return found

    def _compute(self, node: sympy.Basic) -> Range:
        if node.is_Number or node is sympy.pi or node is sympy.E:
            return _constant(node)
        if node.is_Symbol:
            if node in self.symbols:
                return self.symbols[node]
            return Range(0.0, 1.0) if node == IDENTITY else _assumed(node)
        kind = kind_of(type(node))
        found = REAL if kind is None else kind.range(node, self.of)
        if self.strict and isinstance(node, TensorFunction) and found.lo == 0 and found.lo_closed:
            found = found._replace(lo_closed=False)
        return found


def _constant(number: sympy.Basic) -> Range:
    return point(float(number))


def _assumed(symbol: sympy.Symbol) -> Range:
    if symbol.is_positive:
        return POSITIVE
    if symbol.is_nonnegative:
        return NONNEG
    if symbol.is_negative:
        return Range(-INF, 0.0, False, False)
    return REAL
