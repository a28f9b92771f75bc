"""``where`` declarations -> Parameters: the kind, an interval's bounds, the initial value in its domain.

Like ``calls.bind_call``, these take the formula builder, whose ``report`` collects the diagnostics, and
its pieces: a kind's value is its word (``positive``) or the two pieces of an interval's bounds, a
number's value is its sign token (or ``None``) and its number token.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

from lark import Token

from .floats import FLOAT32_MAX, FLOAT32_RANGE, as_float32, beyond_float32, vanishes_in_float32
from .expression_rules import Piece, span_of
from .formula import DEFAULT_INIT, KINDS, TENSOR_KIND, Parameter
from .snapshots import declare_tensor
from .source import Span

#: The kinds a declaration may name, for "did you mean".
KIND_WORDS = (*KINDS[:-1], TENSOR_KIND)

#: The most entries a tensor-valued parameter may hold (400 MB as float32): more is a mistyped dimension, and
#: would fail at attach() as an out-of-memory error far from the formula.
MAX_PARAMETER_ENTRIES = 10**8


@dataclass
class Shaped:
    """A kind with a shape, ``real[10, 8]``: the scalar kind's piece and one piece per dimension."""

    kind: Piece
    dimensions: list


def declare(builder, name: Token, kind, init) -> None:
    """Add the parameter ``name: kind = init`` to ``builder.params``, or report why it cannot be one."""
    span = span_of(name)
    if name in builder.params or name in builder.tensors:
        declared = builder.params[name].span if name in builder.params else builder.tensors[name]
        first = builder.source.position(declared.start)
        builder.report("E204", f"parameter '{name}' is declared twice", span,
                       f"it was first declared at line {first.line}, column {first.column}; keep one declaration")
        return
    if builder.is_reserved(name) or builder.is_function(name):
        what = "a function" if builder.is_function(name) else "reserved"
        builder.report("E208", f"'{name}' is {what} and cannot be a parameter", span, "choose another name")
        return
    shaped = kind is not None and isinstance(kind.value, Shaped)
    scalar_kind = kind.value.kind if shaped else kind
    if scalar_kind is not None and scalar_kind.value == TENSOR_KIND:
        declare_tensor(builder, name, kind, init)
        return
    kind_name, lower, upper = _kind_of(builder, scalar_kind)
    if kind_name is None or kind_name == "interval" and not _interval_fits_float32(builder, lower, upper, scalar_kind):
        return
    shape = _shape_of(builder, name, kind.value.dimensions) if shaped else ()
    if shape is None:
        return
    value = _init_of(builder, name, kind_name, lower, upper, init)
    if value is not None and _init_fits_float32(builder, name, kind_name, value, init):
        builder.params[str(name)] = Parameter(str(name), kind_name, value, lower, upper, True, span, shape)


def _shape_of(builder, name: Token, dimensions: list) -> tuple[int, ...] | None:
    """The shape written after a kind (``real[10, 8]``); ``None`` after reporting a dimension that is not
    a positive whole number."""
    shape = []
    for piece in dimensions:
        sign, number = piece.value
        text = str(number)
        if (sign is not None and sign.type == "MINUS") or not text.isdigit() or int(text) == 0:
            builder.report("E220", f"a dimension of '{name}' must be a positive whole number, not "
                           f"{'-' if sign is not None and sign.type == 'MINUS' else ''}{text}", span_of(piece),
                           f"write the shape with whole numbers, for example {name}: real[10, 8]")
            return None
        shape.append(int(text))
    entries = math.prod(shape)
    if entries > MAX_PARAMETER_ENTRIES:
        builder.report("E220", f"'{name}' would hold {entries:.3g} entries ({4 * entries / 2**30:.3g} GiB as float32): "
                       f"a parameter holds at most {MAX_PARAMETER_ENTRIES:.0e}", Span(span_of(dimensions[0]).start, span_of(dimensions[-1]).end),
                       "a learned tensor of the model's size belongs in a layer; check the dimensions")
        return None
    return tuple(shape)


def _kind_of(builder, kind) -> tuple[str | None, float | None, float | None]:
    if kind is None:
        return "real", None, None
    if isinstance(kind.value, str):
        word = kind.value
        if word in KINDS[:-1]:
            return word, None, None
        close = difflib.get_close_matches(word, KIND_WORDS, n=1)
        builder.report("E206", f"unknown parameter kind '{word}'", span_of(kind),
                       f"did you mean '{close[0]}'?" if close else
                       "use real, positive, nonneg, const, (lo, hi), or tensor for a tensor given from Python")
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


def _interval_fits_float32(builder, lower: float, upper: float, kind) -> bool:
    """Whether the lowering can compute ``lower + (upper - lower) * sigmoid(raw)`` in float32; else E205."""
    if beyond_float32(lower) or beyond_float32(upper):
        problem = "has a bound beyond float32"
    elif beyond_float32(upper - lower):
        problem = f"is wider than float32 holds (upper - lower > {FLOAT32_MAX:.4g})"
    elif as_float32(lower) >= as_float32(upper):
        problem = "is empty in float32 (its bounds round to the same number)"
    else:
        return True
    builder.report("E205", f"the interval ({lower:.9g}, {upper:.9g}) {problem}", span_of(kind), FLOAT32_RANGE)
    return False


def _init_fits_float32(builder, name: str, kind: str, value: float, init) -> bool:
    """Whether the initial value survives float32, the type of the parameter's variable; else E205."""
    if beyond_float32(value):
        problem, hint = "is beyond float32", FLOAT32_RANGE
    elif kind in ("positive", "nonneg") and (value == 0.0 or vanishes_in_float32(value)):
        # softplus(raw) reaches 0 only as raw -> -inf: no float32 variable holds that raw value
        problem = ("is 0" if value == 0 else "is 0 in float32") + f", which a {kind} parameter never reaches"
        hint = f"a {kind} parameter is softplus of a trained variable; start it above 0: {name}: {kind} = 1e-6"
    else:
        return True
    builder.report("E205", f"the initial value {value:g} of '{name}' {problem}",
                   span_of(init) if init is not None else span_of(name), hint)
    return False


def _signed_number(builder, piece) -> float | None:
    """The value of ``[+|-] number``; ``None`` after reporting a literal too large for a float."""
    sign, number = piece.value
    value = math.inf if number.type == "INF" else builder.finite_float(number)
    if value is None:
        return None
    return -value if sign is not None and sign.type == "MINUS" else value
