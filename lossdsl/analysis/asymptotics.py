"""Asymptotic expansions of a formula in one parameter as it approaches an end of its domain.

The parameter ``p`` is written through ``t -> +oo``: ``p = t`` (p -> +oo), ``p = -t`` (p -> -oo),
``p = v + 1/t`` (p -> v from above), ``p = v - 1/t`` (p -> v from below). An expression becomes a
:class:`Series`: terms ``coef * exp(lam*t) * t**k * log(t)**m`` whose coefficients are free of ``p`` (sympy
expressions in the other parameters and the tensor blocks), plus a bound ``O(rest)`` on what was left
out. A growth ``(lam, k, m)`` compares lexicographically; a term grows without bound iff its growth is
above ``(0, 0, 0)``. Whatever cannot be expanded exactly, or by a leading term whose coefficient is
provably non-zero, gives ``None``: "cannot tell", never a guess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, NamedTuple

import sympy

from ..language.floats import number_of
from ..language import kinds
from ..language.kinds import kind_of

ZERO = (0, 0, 0)
LINEAR, LOG = (0, 1, 0), (0, 0, 1)
MAX_TERMS = 24
#: Functions of the parameter (exp, log, tanh, ...) nested deeper than this are not expanded: each level's
#: coefficient is a function of the one below, and sympy sorts products of such towers by walking them
#: (a tower of 140 exp() took 1.5 s; found by the long fuzz run). No loss is written that way.
MAX_NESTED_FUNCTIONS = 24
ONE = sympy.S.One


def _plus(g: tuple, h: tuple) -> tuple:
    return (g[0] + h[0], g[1] + h[1], g[2] + h[2])


def _times(g: tuple, q) -> tuple:
    return (g[0] * q, g[1] * q, g[2] * q)


def _number(q: Fraction) -> sympy.Rational:
    return sympy.Rational(q.numerator, q.denominator)


def _fraction(number: sympy.Basic | None) -> Fraction | None:
    """A finite sympy number as an exact fraction (a float's decimal digits as written)."""
    return Fraction(str(number)) if number is not None and number.is_Number and number.is_finite else None


class End(NamedTuple):
    """Where a parameter goes: ``value`` is +-inf, or a finite bound approached from ``side`` (+1 above)."""

    value: float
    side: int

    def describe(self, name: str) -> str:
        if math.isinf(self.value):
            return f"{name} -> {'+' if self.value > 0 else '-'}inf"
        return f"{name} -> {self.value:g}{'+' if self.side > 0 else '-'}"


@dataclass(frozen=True)
class Series:
    """``sum(coef * growth) + O(rest)``; ``rest`` None means the sum is exact."""

    terms: dict = field(default_factory=dict)
    rest: tuple | None = None

    def top(self) -> tuple | None:
        """The largest growth present, a term's or the remainder's (None for an exact 0)."""
        return max([*self.terms, *([self.rest] if self.rest is not None else [])], default=None)

    def leading(self) -> tuple[tuple, sympy.Expr] | None:
        """(growth, coefficient) of the largest term (terms are always above the remainder)."""
        if not self.terms:
            return None
        growth = max(self.terms)
        return growth, self.terms[growth]


def series(terms: dict, rest: tuple | None = None) -> Series | None:
    """A Series without zero terms or terms swallowed by the remainder; None when it grows too large."""
    kept = {g: c for g, c in terms.items() if c is not sympy.S.Zero and (rest is None or g > rest)}
    if len(kept) > MAX_TERMS:
        return None
    return Series(kept, rest)


def constant(value: sympy.Expr) -> Series:
    return series({ZERO: value})


def add(x: Series | None, y: Series | None) -> Series | None:
    if x is None or y is None:
        return None
    terms = dict(x.terms)
    for g, c in y.terms.items():
        terms[g] = terms[g] + c if g in terms else c
    rests = [r for r in (x.rest, y.rest) if r is not None]
    return series(terms, max(rests) if rests else None)


def multiply(x: Series | None, y: Series | None) -> Series | None:
    if x is None or y is None:
        return None
    if x.top() is None or y.top() is None:
        return Series()  # exactly zero
    terms: dict = {}
    for g, a in x.terms.items():
        for h, b in y.terms.items():
            k = _plus(g, h)
            product = _product(a, b)
            terms[k] = terms[k] + product if k in terms else product
    rests = [_plus(y.top(), x.rest)] if x.rest is not None else []
    rests += [_plus(x.top(), y.rest)] if y.rest is not None else []
    return series(terms, max(rests) if rests else None)


def _product(a: sympy.Expr, b: sympy.Expr) -> sympy.Expr:
    if a is ONE or b is ONE:  # most coefficients are 1: no sympy at all
        return b if a is ONE else a
    if (a.is_Number and b.is_Add) or (b.is_Number and a.is_Add):
        return sympy.Mul(a, b, evaluate=False)  # evaluating -1*(x + y) distributes, slowly, for nothing
    return a * b


class Expander:
    """Expands formula expressions in ``param`` towards ``end``.

    ``contains(node)`` says whether a node depends on the parameter; ``sign(coef)`` is the value range of
    a coefficient (see :mod:`lossdsl.ranges`), used to prove a leading coefficient non-zero or positive;
    ``scalars`` are the parameter symbols (every other symbol may be a tensor).
    """

    def __init__(self, param: sympy.Symbol, end: End, contains: Callable, sign: Callable, scalars: frozenset):
        self.param, self.end, self.contains, self.sign, self.scalars = param, end, contains, sign, scalars
        self.memo: dict = {}
        self.nestings: dict = {}
        if math.isinf(end.value):
            self.variable = series({LINEAR: sympy.Integer(1 if end.value > 0 else -1)})
        else:
            bound = sympy.Integer(int(end.value)) if end.value == int(end.value) else sympy.Float(end.value)
            self.variable = series({ZERO: bound, (0, -1, 0): sympy.Integer(end.side)})

    def expand(self, node: sympy.Basic) -> Series | None:
        if not self.contains(node):
            return constant(node)
        if node not in self.memo:
            self.memo[node] = self._expand(node)
        return self.memo[node]

    def _expand(self, node: sympy.Basic) -> Series | None:
        if node == self.param:
            return self.variable
        kind = kind_of(type(node))
        rule = kind.asymptotic if kind is not None else None
        if rule is kinds.PRODUCT:  # the factors free of the parameter as one coefficient, applied once at the end
            # (multiplying them in one by one cost a sympy product each: 2 s for 2,400 factors)
            free = [arg for arg in node.args if not self.contains(arg)]
            found = constant(ONE)  # not None: None means a factor could not be expanded, and must stay so
            for arg in (arg for arg in node.args if self.contains(arg)):
                found = multiply(found, self.expand(arg))
            return multiply(found, constant(sympy.Mul(*free))) if free else found
        if rule is kinds.SUM:
            found = self.expand(node.args[0])
            for arg in node.args[1:]:
                found = add(found, self.expand(arg))
            return found
        if self.nesting(node) > MAX_NESTED_FUNCTIONS:
            return None
        if rule is kinds.POWER:
            base, exponent = node.args
            if self.contains(exponent):
                if self.contains(base) or not self.sign(base).positive:
                    return None
                return self.exp(multiply(self.expand(exponent), constant(sympy.log(base))))
            return self.power(self.expand(base), _fraction(number_of(exponent)))
        if isinstance(rule, kinds.Unary) and len(node.args) == 1:
            return rule.rule(self, self.expand(node.args[0]))
        if rule is not kinds.LINEAR and rule is not kinds.ABSOLUTELY_LINEAR:
            return None  # UNDECIDED, or a node no kind declares: "cannot tell"
        factor, rest = self.factor_out(node)
        return None if factor is None else multiply(self.expand(factor), constant(rest))

    def nesting(self, node: sympy.Basic) -> int:
        """How many functions of the parameter the expansion composes (exp, log, tanh, p**x...) ``node`` nests."""
        if node not in self.nestings:
            inner = max((self.nesting(arg) for arg in node.args if self.contains(arg)), default=0)
            self.nestings[node] = inner + (_is_unary(node) or (node.is_Pow and self.contains(node.args[1])))
        return self.nestings[node]

    def factor_out(self, node: sympy.Basic) -> tuple[sympy.Expr | None, sympy.Expr]:
        """(f, rest) with node = f * rest, f a scalar expression, rest free of the parameter; f None if not.

        Linear tensor operations let scalars out: sum(a*W) = a*sum(W), norm(a*W) = |a|*norm(W), sum(a) = a*sum(1).
        """
        if not self.contains(node):
            return ONE, node
        linear = _linearity(node)
        if node.is_Mul or linear is not None:
            parts = [self.factor_out(arg) for arg in (node.args if node.is_Mul else node.tensors)]
            if any(f is None for f, _ in parts):
                return None, node
            factor = sympy.Mul(*(f for f, _ in parts))
            if node.is_Mul:
                return factor, sympy.Mul(*(rest for _, rest in parts))
            rests = [rest for _, rest in parts]  # all 1: the operation is applied to a scalar, sum(a) = a
            rest = ONE if all(r is ONE for r in rests) else node.func(*rests, *node.options)
            return (sympy.Abs(factor) if linear is kinds.ABSOLUTELY_LINEAR else factor), rest
        # A scalar (a, exp(-s)) comes out whole; anything else (maximum(a, W), a tensor function) cannot.
        return (node, ONE) if node.free_symbols <= self.scalars else (None, node)

    # --------------------------------------------------------------- operations needing signs
    def power(self, x: Series | None, q: Fraction | None) -> Series | None:
        if x is None or q is None:
            return None
        if q.denominator == 1 and 0 <= q <= 8:
            found = constant(sympy.Integer(1))
            for _ in range(int(q)):
                found = multiply(found, x)
            return found
        factored = self.factored(x, positive=q.denominator != 1)
        if factored is None:
            return None
        g0, c0, u = factored  # (c0 g0 (1 + u)) ** q = c0**q g0**q (1 + q u + O(u**2))
        return multiply(series({_times(g0, q): c0 ** _number(q)}), _one_plus(_first_order(u, _number(q))))

    def inverse(self, x: Series | None) -> Series | None:
        return self.power(x, Fraction(-1))

    def exp(self, x: Series | None) -> Series | None:
        """exp(growing + c + vanishing v) = exp(c) * exp(growing) * (1 + v + O(v**2))."""
        if x is None or (x.rest is not None and x.rest >= ZERO):
            return None
        growing = {g: c for g, c in x.terms.items() if g > ZERO}
        if any(g not in (LINEAR, LOG) or not c.is_Number for g, c in growing.items()):
            return None  # exp(t**2), exp(exp(t)), exp(b*t) with b symbolic: not in this calculus
        growth = (_fraction(growing.get(LINEAR, sympy.Integer(0))), _fraction(growing.get(LOG, sympy.Integer(0))), 0)
        vanishing = Series({g: c for g, c in x.terms.items() if g < ZERO}, x.rest)
        return multiply(series({growth: sympy.exp(x.terms.get(ZERO, sympy.Integer(0)))}),
                        _one_plus(_first_order(vanishing, sympy.Integer(1))))

    def log(self, x: Series | None) -> Series | None:
        """log(c * exp(lam*t) * t**k * (1 + u)) = log(c) + lam*t + k*log(t) + u + O(u**2)."""
        factored = self.factored(x, positive=True)
        if factored is None or factored[0][2] != 0:
            return None  # log(log(t)) is not in this calculus
        (lam, k, _), c0, u = factored
        terms = {LINEAR: _number(Fraction(lam)), LOG: _number(Fraction(k)), ZERO: sympy.log(c0)}
        return add(series(terms), _first_order(u, sympy.Integer(1)))

    def factored(self, x: Series | None, positive: bool) -> tuple[tuple, sympy.Expr, Series] | None:
        """x = c0 * g0 * (1 + u), u vanishing, for a leading coefficient c0 proved non-zero (or positive)."""
        lead = x.leading() if x is not None else None
        if lead is None:
            return None
        g0, c0 = lead
        sign = self.sign(c0)
        if not (sign.positive or (sign.negative and not positive)):
            return None
        others = Series({g: c for g, c in x.terms.items() if g != g0}, x.rest)
        return g0, c0, multiply(others, series({_times(g0, -1): 1 / c0}))

    def absolute(self, x: Series | None) -> Series | None:
        lead = x.leading() if x is not None else None
        if lead is not None and (self.sign(lead[1]).positive or self.sign(lead[1]).negative):
            sign = 1 if self.sign(lead[1]).positive else -1
            return multiply(x, constant(sympy.Integer(sign)))
        return None if x is None else Series({}, x.top())  # |x| = O(x)

    # ----------------------------------------------------- the vocabulary of the kinds' unary rules
    @staticmethod
    def one_plus(x: Series | None) -> Series | None:
        return _one_plus(x)

    @staticmethod
    def scaled(factor: int, x: Series | None) -> Series | None:
        return multiply(constant(sympy.Integer(factor)), x)

    @staticmethod
    def bounded(x: Series | None) -> Series:
        """O(1): a function that stays within fixed bounds (sin, cos) whatever its argument does."""
        return Series({}, ZERO)

    @staticmethod
    def at_most(x: Series | None) -> Series | None:
        """O(x): a function bounded by its argument's size (0 <= relu(x) <= |x|)."""
        return None if x is None else Series({}, x.top())


def _is_unary(node: sympy.Basic) -> bool:
    kind = kind_of(type(node))
    return kind is not None and isinstance(kind.asymptotic, kinds.Unary)


def _linearity(node: sympy.Basic):
    """LINEAR or ABSOLUTELY_LINEAR for a tensor operation scalars factor out of, else None."""
    kind = kind_of(type(node))
    linear = kind is not None and kind.asymptotic in (kinds.LINEAR, kinds.ABSOLUTELY_LINEAR)
    return kind.asymptotic if linear else None


def _one_plus(x: Series | None) -> Series | None:
    return add(constant(sympy.Integer(1)), x)


def _first_order(u: Series, q: sympy.Expr) -> Series:
    """q*u + O(u**2) for a vanishing u: the first-order part of (1 + u)**q - 1 or of log(1 + u)."""
    top = u.top()
    if top is None:
        return u
    return series({g: q * c for g, c in u.terms.items()}, max(r for r in (u.rest, _times(top, 2)) if r is not None))
