"""Collapse (W406): a parameter whose loss keeps decreasing toward an end of its domain has no optimum.

``a*norm(W1) + norm(W2) where a: positive`` is bounded below, yet its derivative in ``a`` is ``norm(W1) > 0``
for every value of everything else, so training drives ``a`` to 0 and switches its term off. Decided by
the sign of the derivative, by interval arithmetic over the parameter's whole domain and every value of
the rest (blocks strictly positive, as for W401): proved > 0 or < 0, or no warning. A derivative sympy
cannot write (a tensor node of the parameter without a derivative rule) gives no warning either.
"""

from __future__ import annotations

import math
from typing import Callable

import sympy

from ..language.diagnostics import Diagnostic
from ..language.formula import Parameter
from .asymptotics import End
from .ranges import RangeFinder


def collapse_finding(param: Parameter, with_param: list, strict: RangeFinder,
                     small: Callable[[sympy.Expr], bool]) -> Diagnostic | None:
    """W406 when the loss is monotone in ``param`` over its whole domain; ``with_param`` are its summands.

    ``small(summand)`` says whether sympy.diff may be spent on a summand that is not a plain weight ``p*X``.
    """
    symbol = param.symbol
    slopes = [_weighted(summand, symbol) for summand in with_param]
    if any(slope is None and not small(summand) for slope, summand in zip(slopes, with_param)):
        return None
    try:
        slope = sympy.Add(*(slope if slope is not None else sympy.diff(summand, symbol)
                            for slope, summand in zip(slopes, with_param)))
    except (ArithmeticError, TypeError, ValueError, RecursionError):  # sympy on zoo or nan may raise
        return None
    if slope.has(sympy.Derivative, sympy.Subs):
        return None
    sign = strict.of(slope)
    if not (sign.positive or sign.negative):
        return None
    end = ends(param)[0 if sign.positive else 1]  # the loss falls toward the lower end when rising
    where = end.describe(param.name)
    return Diagnostic("W406", f"the loss keeps decreasing as {where}: '{param.name}' has no optimum inside its "
                              f"domain, and training drives it to that end", param.span, _hint(param, end))


def _weighted(summand: sympy.Expr, symbol: sympy.Symbol) -> sympy.Expr | None:
    """d summand / d symbol for ``p`` or a weight ``p*X`` with X free of p (sympy.diff costs milliseconds)."""
    if summand == symbol:
        return sympy.S.One
    if summand.is_Mul:
        factors = list(summand.args)
        if factors.count(symbol) == 1:
            factors.remove(symbol)
            if not any(f.has(symbol) for f in factors):
                return sympy.Mul(*factors)
    return None


def ends(param: Parameter) -> list[End]:
    """The ends of a parameter's domain, each approached from inside."""
    if param.kind == "interval":
        return [End(param.lower, 1), End(param.upper, -1)]
    lower = -math.inf if param.kind == "real" else 0.0
    return [End(lower, 1), End(math.inf, -1)]


def _hint(param: Parameter, end: End) -> str:
    name = param.name
    # 1/a rather than - log(a) at 0: a*norm(W) - log(a) has its minimum 1 + log(norm(W)), which still falls
    # as training drives W to 0 (W401); a*norm(W) + 1/a has 2*sqrt(norm(W)) >= 0.
    if math.isinf(end.value):
        barrier = f"+ 0.1*{name}**2"
    elif end.side > 0:
        barrier = f"+ 1/{name}" if end.value == 0 else f"+ 1/({name} - {end.value:g})"
    else:
        barrier = f"+ 1/({end.value:g} - {name})"
    return (f"a weight on a penalty cannot be learned from the same loss: add a barrier that grows at that end "
            f"({barrier}), use normalized weights (softmax), or fix it: where {name}: const = {param.init:g}")
