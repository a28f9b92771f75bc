"""Interval arithmetic on value ranges: the algebra the node kinds' range facts are written in.

A :class:`Range` is a sound over-approximation of the values an expression can take: a value outside is
impossible, a value inside may not be reachable. The analysis stage walks formulas with it
(:mod:`lossdsl.analysis.ranges`); the node kinds (:mod:`lossdsl.language.kinds`) state their rules in it.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

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


def sign_range(sign: str | None) -> Range:
    """The range a sign fact ("positive", "nonnegative" or None) allows."""
    return POSITIVE if sign == "positive" else NONNEG if sign == "nonnegative" else REAL


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
    # at equal lower ends the larger of the two reaches the end only if both do: max(x > 0, y >= 0) > 0
    lo, lo_in = max((a.lo, a.lo_closed), (b.lo, b.lo_closed)) if a.lo != b.lo else (a.lo, a.lo_closed and b.lo_closed)
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


def with_zero(a: Range) -> Range:
    """``a`` widened to hold 0 (diag of a vector fills the rest of the matrix with zeros)."""
    return make(min(a.lo, 0.0), max(a.hi, 0.0), a.lo_closed or a.lo >= 0, a.hi_closed or a.hi <= 0)


def softplus(x: float) -> float:
    return x if x > 30 else math.log1p(math.exp(x))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def hull(*ranges: Range) -> Range:
    """The smallest range holding every one of ``ranges`` (the entries of stack(a, b, ...))."""
    lo = min(ranges, key=lambda r: (r.lo, not r.lo_closed))
    hi = max(ranges, key=lambda r: (r.hi, r.hi_closed))
    return make(lo.lo, hi.hi, lo.lo_closed, hi.hi_closed)
