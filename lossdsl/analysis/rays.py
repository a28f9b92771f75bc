"""The loss restricted to a ray through everything training moves, decided by the one-variable expansion.

Training moves the trainable parameters and, through the weights, every tensor block built from them (a
norm of a kernel, a data loss). Each such quantity gets a coordinate in which it ranges over the whole
line: a real parameter is itself, a positive one ``p*exp(x)``, an interval one approaches its ends like
``exp(-t)``, a block of non-negative values ``B*exp(u)`` (0 and +inf both reachable), a block of either
sign ``B + v``. Along the ray ``t -> +inf`` in a direction ``d`` (one integer per coordinate) the loss is a
function of ``t`` alone, with the starting point kept symbolic (the parameter and block symbols
themselves), so asymptotics.py expands it and the first growing term decides as for one parameter.

A ray on which the loss provably tends to -inf is a proof that it is unbounded below (blocks are taken as
independent of each other, which is the one over-approximation: ``norm(W)`` and ``sum(W)`` move
together in truth). Not finding one proves nothing; the per-parameter analysis proves boundedness.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass
from typing import Iterator

import sympy

from .asymptotics import LINEAR, ZERO, End, Expander, Series, add, series
from .ranges import RangeFinder
from .witness import can_be_negative

BOUNDED, UNBOUNDED, UNKNOWN = "bounded", "unbounded", "unknown"
RISING = "rising"  # bounded, and tending to +inf: no optimum lies at that end
#: Rays tried per group of coupled coordinates and per pass (a count, not a clock: the same verdict on
#: every machine and in every thread). A ray of a typical group costs 0.2-1 ms.
RAYS = 48
#: Speeds tried for a block: a weight exp(-2*s) on a block is only beaten by the block falling faster.
BLOCK_SPEEDS = (1, 3)
PARAM_SPEEDS = (1,)
RANDOM_SEED = 14


@dataclass(frozen=True)
class Coordinate:
    """One thing training moves. ``kind``: real, positive, interval (parameters); weights, data, signed (blocks)."""

    node: sympy.Basic
    kind: str
    label: str  # how a message names it: the parameter's name, or the block as written
    lower: float = 0.0  # the ends of an interval parameter
    upper: float = 0.0

    @property
    def is_block(self) -> bool:
        return self.kind in ("weights", "data", "signed")

    def speeds(self) -> tuple:
        return BLOCK_SPEEDS if self.is_block else PARAM_SPEEDS

    def along(self, d: int) -> Series:
        """The coordinate's value along the ray as a series in t (``self.node`` is the symbolic start)."""
        if self.kind in ("real", "signed"):
            return series({ZERO: self.node, LINEAR: sympy.Integer(d)})
        if self.kind == "interval":
            gap = sympy.Dummy(positive=True)  # how far from the end the ray starts: any positive value
            end, sign = (self.upper, -1) if d > 0 else (self.lower, 1)
            return series({ZERO: sympy.Float(end), (-1, 0, 0): sign * gap})
        return series({(d, 0, 0): self.node})  # node * exp(d*t)

    def describe(self, d: int) -> str:
        """Where the coordinate goes along a direction with component ``d`` != 0."""
        if self.kind in ("real", "signed"):
            return "+inf" if d > 0 else "-inf"
        if self.kind == "interval":
            return f"{self.upper:g}-" if d > 0 else f"{self.lower:g}+"
        return "+inf" if d > 0 else ("0" if self.is_block else "0+")


def describe_direction(coordinates: list[Coordinate], direction: tuple) -> str:
    """``a = b -> +inf``, ``norm(L0.kernel) -> 0 and s -> -inf``: real parameters at equal speed are equal."""
    moving = [(c, d) for c, d in zip(coordinates, direction) if d]
    parts, done = [], set()
    for c, d in moving:
        if c in done:
            continue
        if c.kind == "real":
            same = [o for o, e in moving if o.kind == "real" and e == d]
            opposite = [o for o, e in moving if o.kind == "real" and e == -d]
            done.update(same + opposite)
            names = " = ".join([o.label for o in same] + [f"-{o.label}" for o in opposite])
            parts.append(f"{names} -> {c.describe(d)}")
        else:
            parts.append(f"{c.label} -> {c.describe(d)}")
    return " and ".join(parts)


def directions(coordinates: list[Coordinate], allowed: callable, seed: int = RANDOM_SEED) -> Iterator[tuple]:
    """Up to RAYS directions accepted by ``allowed``: those moving one or two coordinates first (the paths a
    message can name), then seeded random ones (the same on every run) moving any number.
    """
    choices = [[s * sign for s in c.speeds() for sign in (1, -1)] for c in coordinates]
    seen: set = set()
    for direction in itertools.islice(_few_moving(choices), 4 * RAYS):
        if len(seen) >= RAYS * 3 // 4:
            break
        if allowed(direction):
            seen.add(direction)
            yield direction
    pick = random.Random(seed)
    for _ in range(4 * RAYS):  # bounded draws: a filter that rejects most cannot loop long
        if len(seen) >= RAYS:
            return
        direction = tuple(pick.choice([0, *c]) for c in choices)
        if any(direction) and direction not in seen and allowed(direction):
            seen.add(direction)
            yield direction


def _few_moving(choices: list[list[int]]) -> Iterator[tuple]:
    """Every direction moving one coordinate, then every one moving two."""
    n = len(choices)
    for size in (1, 2):
        for support in itertools.combinations(range(n), size):
            for values in itertools.product(*(choices[i] for i in support)):
                direction = [0] * n
                for i, v in zip(support, values):
                    direction[i] = v
                yield tuple(direction)


def falls_along(summands: list, coordinates: list[Coordinate], direction: tuple, strict: RangeFinder,
                scalars: frozenset) -> bool:
    """Whether the loss provably tends to -inf along the ray in ``direction``."""
    expander = _RayExpander({c.node: c.along(d) for c, d in zip(coordinates, direction) if d}, strict, scalars)
    try:
        return _falls(summands, expander, strict)
    except (ArithmeticError, TypeError, ValueError):  # sympy's arithmetic on oo, zoo or nan may raise
        return False


def _falls(summands: list, expander: _RayExpander, strict: RangeFinder) -> bool:
    total, rescued = Series(), False
    for summand in summands:
        if not expander.contains(summand):
            continue
        expanded = expander.expand(summand)
        if expanded is not None:
            total = add(total, expanded)
        elif strict.of(summand).lo > -math.inf:
            rescued = True  # bounded below: it cannot make the loss fall, but might stop a fall
        else:
            return False
    return total is not None and not rescued and decide_series(total, strict) == UNBOUNDED


class _RayExpander(Expander):
    """The one-parameter expansion where the moving coordinates (symbols or whole blocks) are given as series."""

    def __init__(self, moved: dict, strict: RangeFinder, scalars: frozenset):
        gaps = {s for x in moved.values() for c in x.terms.values() for s in c.free_symbols}
        super().__init__(sympy.Dummy("t"), End(math.inf, -1), self.contains, strict.of, scalars | gaps)
        self.moved, self.containing = moved, {}

    def contains(self, node: sympy.Basic) -> bool:
        found = self.containing.get(node)
        if found is None:
            found = self.containing[node] = node in self.moved or any(self.contains(arg) for arg in node.args)
        return found

    def _expand(self, node: sympy.Basic) -> Series | None:
        return self.moved[node] if node in self.moved else super()._expand(node)


def decide_series(x: Series, strict: RangeFinder) -> str:
    """Bounded below iff the first growing term that is not 0 has a positive coefficient (then RISING)."""
    must_vanish = []
    for growth in sorted((g for g in x.terms if g > ZERO), reverse=True):
        coefficient = x.terms[growth]
        sign = strict.of(coefficient)
        if sign.positive:
            return RISING
        if sign.nonnegative:  # 0 for some values: then the next term decides
            must_vanish.append(coefficient)
            continue
        if (sign.negative and not must_vanish) or can_be_negative(coefficient, must_vanish, strict):
            return UNBOUNDED
        return UNKNOWN
    return UNKNOWN if x.rest is not None and x.rest > ZERO else BOUNDED


def summands(expr: sympy.Expr) -> list[sympy.Expr]:
    """The terms of a sum, with number * (sum) distributed, so each term can be judged alone."""
    found, stack = [], [(expr, sympy.S.One)]
    while stack:
        node, factor = stack.pop()
        if node.is_Add:
            stack.extend((arg, factor) for arg in node.args)
        elif node.is_Mul and len(node.args) == 2 and node.args[0].is_Number and node.args[1].is_Add:
            stack.append((node.args[1], factor * node.args[0]))
        else:  # unevaluated: evaluating 0.1*x costs more than judging it
            found.append(node if factor is sympy.S.One else sympy.Mul(factor, node, evaluate=False))
    return found


def square_completes(expr: sympy.Expr, param: sympy.Symbol, strict: RangeFinder) -> bool:
    """Whether ``expr = c2*p**2 + c1*p + c0`` is bounded below in ``p`` by completing the square.

    With ``c2 >= 0`` its minimum over ``p`` is ``c0 - c1**2/(4*c2)``; when ``c1**2/c2`` cancels to an expression
    without a denominator, ``c1`` vanishes wherever ``c2`` does, so that minimum bounds the loss for every
    value of the rest (``a**2*b**2 - a*b`` >= -1/4, which the leading-term rule cannot see).
    """
    try:
        poly = sympy.Poly(expr, param)
        if poly.degree() != 2:
            return False
        c2, c1, c0 = poly.all_coeffs()
        if not strict.of(c2).nonnegative:
            return False
        quotient = sympy.cancel(c1 ** 2 / c2)
    except (sympy.PolynomialError, ArithmeticError, TypeError, ValueError):
        return False
    if sympy.fraction(quotient)[1].free_symbols:
        return False
    return strict.of(c0 - quotient / 4).lo > -math.inf
