"""Witnesses that a coefficient can be negative: values of its symbols and tensor blocks, tried in floats.

Interval arithmetic proves signs but over-approximates (``exp(-s)*L + s`` gets the whole line although
its minimum over ``s`` is ``1 + log(L)``). A witness settles "can it be negative?" the other way: one
assignment that makes the coefficient negative is a proof; not finding one proves nothing.
"""

from __future__ import annotations

import itertools
import math
import operator
import random
from typing import Callable

import sympy

from ..language import nodes
from ..language.floats import FLOAT_FUNCTIONS
from .ranges import Range, RangeFinder

TRIES = 512
WORK = 50_000  # sampled values per coefficient, at most (TRIES times the atoms, for a large coefficient)
CANDIDATES = [0.0, 1.0, -1.0, 2.0, -2.0, 3.0, -3.0, 10.0, -10.0, 100.0, -100.0, 0.5, -0.5, 0.1, -0.1, 0.01, -0.01]


def can_be_negative(target: sympy.Expr, zeros: list, ranges: RangeFinder) -> bool:
    """Whether sampled values of the atoms (allowed by ``ranges``) make ``target`` < 0 and every ``zeros`` 0.

    >>> a = sympy.Symbol("a", real=True)
    >>> can_be_negative(1 - a**2, [], RangeFinder({}))
    True
    """
    atoms = sorted(set().union(*(_atoms(e) for e in [target, *zeros])), key=sympy.default_sort_key)
    slots = {atom: i for i, atom in enumerate(atoms)}
    try:
        negative, vanishing = _compiled(target, slots), [_compiled(z, slots) for z in zeros]
    except KeyError:  # a function without a float version: no witness
        return False
    choices = [_samples(ranges.of(atom)) for atom in atoms]
    if math.prod(len(c) for c in choices) <= TRIES:
        assignments = itertools.product(*choices)
    else:
        pick = random.Random(0)  # the same tries every run: a finding must not come and go
        # Every other try without zeros: one zero among a hundred factors makes their product 0, never < 0
        # (a product of 100 parameters sampled with zeros: 29 s of failed tries).
        nonzero = [[v for v in c if v != 0] or c for c in choices]
        tries = min(TRIES, max(16, WORK // len(atoms)))  # bounded work for coefficients of thousands of atoms
        assignments = ([pick.choice(c) for c in (nonzero if i % 2 else choices)] for i in range(tries))
    return any(all(_evaluate(z, values) == 0 for z in vanishing) and _evaluate(negative, values) < 0
               for values in assignments)


def _atoms(expr: sympy.Basic) -> set:
    """The symbols and tensor blocks: what the sampled values are given to."""
    if expr.is_Symbol or isinstance(expr, nodes.TensorFunction):
        return {expr}
    return set().union(*(_atoms(arg) for arg in expr.args)) if expr.args else set()


def _samples(allowed: Range) -> list[float]:
    values = [v for v in CANDIDATES if allowed.holds(v)]
    if math.isfinite(allowed.lo) and math.isfinite(allowed.hi):
        values += [allowed.lo + (allowed.hi - allowed.lo) * f for f in (0.5, 0.1, 0.9)]
    return values or [allowed.lo if allowed.lo_closed else allowed.hi]


def _compiled(expr: sympy.Basic, slots: dict) -> Callable[[tuple], float]:
    """A float function of the atoms' values (a tuple, in ``slots`` order); KeyError for an unknown function."""
    if expr in slots:
        return operator.itemgetter(slots[expr])
    if expr.is_Number:
        value = float(expr)
        return lambda values: value
    parts = [_compiled(arg, slots) for arg in expr.args]
    if expr.is_Add:
        return lambda values: math.fsum([part(values) for part in parts])
    if expr.is_Mul:
        return lambda values: math.prod([part(values) for part in parts])
    if expr.is_Pow:
        base, exponent = parts
        return lambda values: base(values) ** exponent(values)
    function, (argument,) = FLOAT_FUNCTIONS[type(expr)], parts
    return lambda values: function(argument(values))


def _evaluate(function: Callable[[tuple], float], values: tuple) -> float:
    """NaN where the value is undefined (log(-1), 1/0, overflow) or complex ((-1) ** 0.5 in Python)."""
    try:
        value = function(values)
    except (ArithmeticError, ValueError, TypeError):  # TypeError: math.log of a complex intermediate
        return math.nan
    return value if isinstance(value, float) else math.nan
