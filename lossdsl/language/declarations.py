"""``where`` declarations -> Parameters: the kind, an interval's bounds, the initial value in its domain.

Like ``calls.bind_call``, these take the formula builder, whose ``report`` collects the diagnostics, and
its pieces: a kind's value is its word (``positive``) or the two pieces of an interval's bounds, a
number's value is its sign token (or ``None``) and its number token.
"""

from __future__ import annotations

import difflib
import math

from lark import Token

from . import functions
from .formula import DEFAULT_INIT, KINDS, Parameter
from .expression_rules import span_of


def declare(builder, name: Token, kind, init) -> None:
    """Add the parameter ``name: kind = init`` to ``builder.params``, or report why it cannot be one."""
    span = span_of(name)
    if name in builder.params:
        first = builder.source.position(builder.params[name].span.start)
        builder.report("E204", f"parameter '{name}' is declared twice", span,
                       f"it was first declared at line {first.line}, column {first.column}; keep one declaration")
        return
    if builder.is_reserved(name) or functions.lookup(name):
        what = "a function" if functions.lookup(name) else "reserved"
        builder.report("E208", f"'{name}' is {what} and cannot be a parameter", span, "choose another name")
        return
    kind_name, lower, upper = _kind_of(builder, kind)
    if kind_name is None:
        return
    value = _init_of(builder, name, kind_name, lower, upper, init)
    if value is not None:
        builder.params[str(name)] = Parameter(str(name), kind_name, value, lower, upper, True, span)


def _kind_of(builder, kind) -> tuple[str | None, float | None, float | None]:
    if kind is None:
        return "real", None, None
    if isinstance(kind.value, str):
        word = kind.value
        if word in KINDS[:-1]:
            return word, None, None
        close = difflib.get_close_matches(word, KINDS[:-1], n=1)
        builder.report("E206", f"unknown parameter kind '{word}'", span_of(kind),
                       f"did you mean '{close[0]}'?" if close else "use real, positive, nonneg, const or (lo, hi)")
        return None, None, None
    lower, upper = (_signed_number(builder, bound) for bound in kind.value)
    if lower is None or upper is None:
        return None, None, None
    if not (math.isfinite(lower) and math.isfinite(upper) and lower < upper):
        builder.report("E205", f"the interval ({lower:g}, {upper:g}) is empty or unbounded", span_of(kind),
                       "write (lo, hi) with finite lo < hi; for (0, inf) use positive")
        return None, None, None
    return "interval", lower, upper


def _init_of(builder, name: str, kind: str, lower, upper, init) -> float | None:
    if init is None:
        if kind == "const":
            builder.report("E205", f"constant '{name}' needs a value", span_of(name), f"write {name}: const = 1.0")
            return None
        return (lower + upper) / 2 if kind == "interval" else DEFAULT_INIT[kind]
    value = _signed_number(builder, init)
    if value is None:
        return None
    if not math.isfinite(value):
        builder.report("E205", f"the initial value of '{name}' must be finite", span_of(init),
                       "initial values are finite numbers in the constrained space")
        return None
    inside = {"positive": value > 0, "nonneg": value >= 0,
              "interval": kind == "interval" and lower < value < upper}.get(kind, True)
    if not inside:
        domain = {"positive": "> 0", "nonneg": ">= 0"}.get(kind) or f"inside ({lower:g}, {upper:g})"
        builder.report("E205", f"initial value {value:g} of '{name}' is not {domain}", span_of(init),
                       "initial values are given in the constrained space")
        return None
    return value


def _signed_number(builder, piece) -> float | None:
    """The value of ``[+|-] number``; ``None`` after reporting a literal too large for a float."""
    sign, number = piece.value
    value = math.inf if number.type == "INF" else builder.finite_float(number)
    if value is None:
        return None
    return -value if sign is not None and sign.type == "MINUS" else value
