"""Value ranges of formula expressions by interval arithmetic: which values a subexpression can take.

Used by the stability checks: ``log(x)`` warns when the range of ``x`` reaches 0 or below, ``1/x`` when
it holds 0, and the sign of a coefficient decides whether a growing term pushes the loss to -inf. The
ranges are sound over-approximations: a value outside the range is impossible, a value inside may not
be reachable (``x - x`` is given the range of ``x - y``).
"""

from __future__ import annotations

import collections
import functools
import math
from typing import Callable, NamedTuple

import sympy

from ..language import nodes
from ..language.floats import float_operation
from ..language.formula import IDENTITY

INF = math.inf


class Range(NamedTuple):
    """The interval from ``lo`` to ``hi``; an end is included when its ``*_closed`` flag is set."""

    lo: float
    hi: float
    lo_closed: bool = True
    hi_closed: bool = True

    @property
    def positive(self) -> bool:
        return self.lo > 0 or (self.lo == 0 and not self.lo_closed)

    @property
    def negative(self) -> bool:
        return self.hi < 0 or (self.hi == 0 and not self.hi_closed)

    @property
    def nonnegative(self) -> bool:
        return self.lo >= 0

    @property
    def has_zero(self) -> bool:
        return self.lo < 0 < self.hi or (self.lo == 0 and self.lo_closed) or (self.hi == 0 and self.hi_closed)

    def holds(self, value: float) -> bool:
        return (self.lo < value or (self.lo == value and self.lo_closed)) and \
            (value < self.hi or (value == self.hi and self.hi_closed))


def make(lo: float, hi: float, lo_closed: bool = True, hi_closed: bool = True) -> Range:
    """A range with infinite ends marked open, and the whole line for an undefined (NaN) end."""
    if math.isnan(lo) or math.isnan(hi):
        return REAL
    return Range(lo, hi, lo_closed and lo > -INF, hi_closed and hi < INF)


REAL = Range(-INF, INF, False, False)
POSITIVE = Range(0.0, INF, False, False)
NONNEG = Range(0.0, INF, True, False)
UNIT = Range(-1.0, 1.0)


def point(value: float) -> Range:
    return make(value, value)


def add(a: Range, b: Range) -> Range:
    return make(a.lo + b.lo, a.hi + b.hi, a.lo_closed and b.lo_closed, a.hi_closed and b.hi_closed)


def negate(a: Range) -> Range:
    return Range(-a.hi, -a.lo, a.hi_closed, a.lo_closed)


def multiply(a: Range, b: Range) -> Range:
    # The extremes of a product lie at the corners; 0 * inf is 0, as for sets of finite numbers.
    corners = [(0.0 if x == 0 or y == 0 else x * y, x_in and y_in)
               for x, x_in in ((a.lo, a.lo_closed), (a.hi, a.hi_closed))
               for y, y_in in ((b.lo, b.lo_closed), (b.hi, b.hi_closed))]
    lo, hi = min(c[0] for c in corners), max(c[0] for c in corners)
    zero = a.has_zero or b.has_zero  # one factor 0 makes the product 0, whatever the other is
    lo_in = any(v == lo and c for v, c in corners) or (zero and lo == 0)
    hi_in = any(v == hi and c for v, c in corners) or (zero and hi == 0)
    return make(lo, hi, lo_in, hi_in)


def inverse(a: Range) -> Range:
    if a.lo < 0 < a.hi or a.lo == a.hi == 0:
        return REAL
    if a.hi <= 0:
        return negate(inverse(negate(a)))
    lo = 0.0 if a.hi == INF else 1 / a.hi
    hi = INF if a.lo == 0 else 1 / a.lo
    return make(lo, hi, a.hi_closed, a.lo_closed)


def monotone(function: Callable[[float], float], a: Range) -> Range:
    """The range of an increasing function over ``a``; overflow is +inf, the edge of log's domain -inf."""
    def at(x: float) -> float:
        try:
            return function(x)
        except OverflowError:
            return INF
        except ValueError:  # log(0), log1p(-1): the limit at the edge of the domain
            return -INF
    return make(at(a.lo), at(a.hi), a.lo_closed, a.hi_closed)


def absolute(a: Range) -> Range:
    if a.lo >= 0:
        return a
    if a.hi <= 0:
        return negate(a)
    top, top_in = (-a.lo, a.lo_closed) if -a.lo > a.hi else (a.hi, a.hi_closed)
    return make(0.0, top, True, top_in)


def power(a: Range, exponent: float) -> Range:
    """The range of ``x ** exponent``; a non-integer power only takes the non-negative part of ``x``."""
    if exponent == 0:
        return point(1.0)
    if exponent < 0:
        return power(inverse(a), -exponent)
    if math.isfinite(exponent) and exponent == int(exponent):  # x**inf: int() would raise
        base = absolute(a) if int(exponent) % 2 == 0 else a
        return monotone(lambda x: _signed_power(x, exponent), base)
    return monotone(lambda x: x ** exponent, part_above(a, 0.0))


def _signed_power(x: float, exponent: float) -> float:
    try:
        return math.copysign(abs(x) ** exponent, x)
    except OverflowError:
        return math.copysign(INF, x)


def part_above(a: Range, bound: float) -> Range:
    """The part of ``a`` at or above ``bound`` (where log, sqrt and log1p are defined or reach their limit)."""
    return a if a.lo >= bound else make(bound, max(a.hi, bound), True, a.hi_closed or a.hi > bound)


def maximum(a: Range, b: Range) -> Range:
    lo, lo_in = max((a.lo, a.lo_closed), (b.lo, b.lo_closed))
    hi, hi_in = max((a.hi, a.hi_closed), (b.hi, b.hi_closed))
    return make(lo, hi, lo_in, hi_in)


def minimum(a: Range, b: Range) -> Range:
    return negate(maximum(negate(a), negate(b)))


def total(a: Range) -> Range:
    """The range of a sum of one or more entries, each in ``a`` (the count is not known)."""
    if a.lo >= 0:
        return make(a.lo, INF if a.hi > 0 else 0.0, a.lo_closed, a.hi == 0)
    if a.hi <= 0:
        return make(-INF if a.lo < 0 else 0.0, a.hi, a.lo == 0, a.hi_closed)
    return REAL


def _softplus(x: float) -> float:
    return x if x > 30 else math.log1p(math.exp(x))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


#: The range of a sympy function or tensor node from the ranges of its (tensor) arguments.
RULES: dict[type, Callable[..., Range]] = {
    sympy.exp: lambda x: monotone(math.exp, x),
    sympy.log: lambda x: monotone(math.log, part_above(x, 0.0)),
    sympy.Abs: absolute,
    sympy.sin: lambda x: UNIT,
    sympy.cos: lambda x: UNIT,
    sympy.tanh: lambda x: monotone(math.tanh, x),
    nodes.Sigmoid: lambda x: monotone(_sigmoid, x),
    nodes.Softplus: lambda x: monotone(_softplus, x),
    nodes.Relu: lambda x: maximum(x, point(0.0)),
    nodes.Log1p: lambda x: monotone(math.log1p, part_above(x, -1.0)),
    nodes.Clip: lambda x, lo, hi: minimum(maximum(x, lo), hi),
    nodes.Maximum: maximum,
    nodes.Minimum: minimum,
    nodes.StopGradient: lambda x: x,
    nodes.ReduceSum: total,
    nodes.ReduceMean: lambda x: x,
    nodes.ReduceMax: lambda x: x,
    nodes.ReduceMin: lambda x: x,
    nodes.Transposed: lambda x: x,
    nodes.Index: lambda x: x,
    nodes.MatrixTrace: total,
    nodes.Diagonal: lambda x: _with_zero(x),
    nodes.EyeMatrix: lambda: Range(0.0, 1.0),
    nodes.DotProduct: lambda x, y: total(multiply(x, y)),
    nodes.Cosine: lambda x, y: UNIT,
}


@functools.lru_cache(maxsize=None)
def _rule_for(cls: type) -> Callable[..., Range] | None:
    return next((rule for known, rule in RULES.items() if issubclass(cls, known)), None)


def _with_zero(a: Range) -> Range:
    """``a`` widened to hold 0 (diag of a vector fills the rest of the matrix with zeros)."""
    return make(min(a.lo, 0.0), max(a.hi, 0.0), a.lo_closed or a.lo >= 0, a.hi_closed or a.hi <= 0)


def _sign_range(sign: str | None) -> Range:
    return {"positive": POSITIVE, "nonnegative": NONNEG}.get(sign, REAL)


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
        if node.is_Add:
            found = point(0.0)
            for arg in node.args:
                found = add(found, self.of(arg))
            return found
        if node.is_Mul:  # a repeated factor is a power: a*a >= 0, which a product of ranges cannot see
            found, args = point(1.0), node.args
            factors = collections.Counter(args).items() if len(set(args)) < len(args) else ((a, 1) for a in args)
            for arg, count in factors:
                found = multiply(found, self.of(arg) if count == 1 else power(self.of(arg), count))
            return found
        if node.is_Pow:
            base, exponent = self.of(node.args[0]), number_of(node.args[1])
            if exponent is not None:
                return power(base, float(exponent))
            return POSITIVE if base.positive else NONNEG if base.nonnegative else REAL  # 0**b is 0 or inf
        if isinstance(node, nodes.MatrixProduct):
            found = self.of(node.args[0])
            for arg in node.args[1:]:
                found = total(multiply(found, self.of(arg)))
            return found
        rule = _rule_for(type(node))
        tensors = node.tensors if isinstance(node, nodes.TensorFunction) else node.args
        found = rule(*(self.of(arg) for arg in tensors)) if rule else \
            _sign_range(getattr(node, "sign", None))
        if self.strict and isinstance(node, nodes.TensorFunction) and found.lo == 0 and found.lo_closed:
            found = found._replace(lo_closed=False)
        return found


def number_of(expr: sympy.Basic) -> sympy.Number | None:
    """``expr`` as a sympy number if it is a constant (``x**(1/3)`` has an unevaluated division as exponent).

    Exact only for small powers: sympy's exact 9**9**9 has 370 million digits, and 3.0**10**1e3 never
    finishes. Other constants are computed in floats; one beyond the float range is not a number here.
    """
    if expr.is_Number:
        return expr
    if expr.free_symbols or not expr.is_number:
        return None
    approximate = _float_value(expr)
    if approximate is None or not math.isfinite(approximate):
        return None
    if any(node.is_Pow and not (node.exp.is_Number and abs(node.exp) <= 64) for node in sympy.preorder_traversal(expr)):
        return sympy.Float(approximate)
    value = expr.doit()
    value = value if value.is_Number else value.evalf()  # pi/2
    return value if value.is_Number else None


def _float_value(expr: sympy.Basic) -> float | None:
    """A constant in Python floats (None if it overflows, is complex or has no float version)."""
    try:
        if expr.is_Number or expr.is_NumberSymbol:
            return float(expr)
        values = [_float_value(arg) for arg in expr.args]
        if None in values:
            return None
        value = float_operation(expr, values)
        return value if isinstance(value, float) else float(value) if isinstance(value, int) else None
    except (ArithmeticError, ValueError, TypeError, KeyError):  # OverflowError, log(-1), complex powers
        return None


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
