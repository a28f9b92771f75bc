"""Constant parts that floats cannot hold or that exact arithmetic cannot afford (E110, E111).

TensorFlow computes a formula in floats, but sympy, asked by the checks, computes a constant part exactly:
``1e308**1e3`` at a precision of millions of bits, ``10**-10**10`` with ten billion digits, and even
``(1000001/1000000)**100000``, about 1.105, with 600,000 digits in numerator and denominator (10 s). Each
such part is reported at its span before any check evaluates it. Runs after the extent check, which
bounds the depth of the recursion here; a power too large to compute exactly is refused earlier still, as
the parser builds it (:func:`exact_power_problem`): sympy's assumptions, which building a call around it
asks, can compute it (``normalize(y_true - R**100000)`` next to other terms took 8 s).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from . import nodes
from .catalogue import EXACT_TOO_LARGE, EYE_TOO_LARGE, FLOAT_TOO_LARGE, FLOAT_TOO_SMALL
from .diagnostics import Diagnostic
from .formula import Formula
from .floats import FLOAT_FUNCTIONS, beyond_float32, float_operation, vanishes_in_float32
from .source import shortened

#: Bits of an exact numerator or denominator past which a constant is E111: sympy computes far below it in
#: microseconds, and Python refuses to print integers of more than 4,300 digits (about 14,000 bits).
MAX_EXACT_BITS = 10_000
#: Entries of a tensor the formula creates by itself (``eye(n)``, an ``I`` sized by context): 400 MB of float32.
#: ``norm(eye(100000))`` passed the checks and exhausted memory when called; ``eye(3000000000)`` overflowed
#: TensorFlow's int32 dimension. Larger tensors of the model itself are no concern of the formula's.
MAX_CREATED_ENTRIES = 10**8


class _Value(NamedTuple):
    number: float | None  # the part's value in floats; None if it is not a real constant
    bits: tuple | None  # bounds on the bits of its exact numerator and denominator; None if not exact


_NOT_CONSTANT = _Value(None, None)


def constant_problems(formula: Formula) -> list[Diagnostic]:
    """E110 for a number or constant part beyond float32 although its operands are not (too large, or a
    non-zero one that rounds to 0); E111 for one whose exact value would have too many digits."""
    walker = _Constants()
    for expr in [*formula.terms.values(), formula.expr]:
        walker.value(expr)
    return [_diagnostic(formula, node, problem, value) for node, problem, value in walker.found] + \
        created_tensor_problems(formula, walker.memo)


def exact_power_problem(power, spans: dict, text: str) -> Diagnostic | None:
    """E111 for a constant power (or a part of it) whose exact value would have too many digits, while it
    is built; ``spans`` locates the parts in ``text``."""
    walker = _Constants()
    walker.value(power)
    for node, problem, value in walker.found:
        if problem == "exact":
            span = spans.get(node, spans[power])
            return EXACT_TOO_LARGE.at(span, what="constant", written=shortened(text[span.start:span.end], 32),
                                      value=value)
    return None


def created_tensor_problems(formula: Formula, parts) -> list[Diagnostic]:
    """E213 for each ``eye(n)`` among ``parts`` (nodes of the formula) beyond MAX_CREATED_ENTRIES."""
    return [EYE_TOO_LARGE.at(formula.span_of(node), n=node.args[0], entries=int(node.args[0]) ** 2, **CREATED_LIMIT)
            for node in parts if isinstance(node, nodes.EyeMatrix) and int(node.args[0]) ** 2 > MAX_CREATED_ENTRIES]


#: The fields of the messages about MAX_CREATED_ENTRIES (EYE_TOO_LARGE, IDENTITY_TOO_LARGE).
CREATED_LIMIT = {"limit": MAX_CREATED_ENTRIES, "megabytes": MAX_CREATED_ENTRIES * 4 // 10**6}



def _diagnostic(formula: Formula, node, problem: str, value: float) -> Diagnostic:
    written = shortened(_written(formula, node), 32)
    span = formula.span_of(node)
    message = {"large": FLOAT_TOO_LARGE, "small": FLOAT_TOO_SMALL}.get(problem, EXACT_TOO_LARGE)
    return message.at(span, what="constant", written=written, value=value)


class _Constants:
    """Float value and exact size of every constant part, memoized; problems in ``found``."""

    def __init__(self):
        self.memo: dict = {}
        self.found: list = []

    def value(self, node) -> _Value:
        if node not in self.memo:
            self.memo[node] = self._value(node)
        return self.memo[node]

    def _value(self, node) -> _Value:
        if node.is_Rational:
            return self._number(node, _Value(float(node), (node.p.bit_length(), node.q.bit_length())))
        if node.is_Number or node.is_NumberSymbol:
            return self._number(node, _Value(float(node), None))  # a Float or pi: sympy's fixed precision
        if not node.args:
            return _NOT_CONSTANT
        values = [self.value(arg) for arg in node.args]
        numbers = [v.number for v in values]
        if None in numbers or not (node.is_Add or node.is_Mul or node.is_Pow or type(node) in FLOAT_FUNCTIONS):
            return _NOT_CONSTANT
        number = _float_value(node, numbers)
        bits = _exact_bits(node, values)
        if number is not None and beyond_float32(number) and not any(map(beyond_float32, numbers)):
            self.found.append((node, "large", number))
        elif (node.is_Pow or node.is_Mul) and number is not None and (number == 0.0 or vanishes_in_float32(number)) \
                and all(n != 0.0 and math.isfinite(n) for n in numbers):  # so not 0 exactly: 0 in floats only
            self.found.append((node, "small", number))
        elif bits is not None and max(bits) > MAX_EXACT_BITS and number is not None:
            self.found.append((node, "exact", number))
            bits = None  # reported here, not again for every part around it
        return _Value(number, bits)


    def _number(self, node, value: _Value) -> _Value:
        """A number as written: reported when float32 cannot hold it (inf is written on purpose)."""
        if math.isfinite(value.number) and beyond_float32(value.number):
            self.found.append((node, "large", value.number))
        elif vanishes_in_float32(value.number):
            self.found.append((node, "small", value.number))
        return value


def _float_value(node, numbers: list[float]) -> float | None:
    try:
        value = float_operation(node, numbers)
    except OverflowError:
        value = math.inf
    except (ArithmeticError, ValueError):  # 1/0, log(-1): the stability warnings' business
        value = None
    return value if isinstance(value, float) else None  # a complex power is not a float constant


def _exact_bits(node, values: list[_Value]) -> tuple | None:
    """Bounds on the bits of the numerator and denominator sympy's exact result has, or None."""
    bits = [v.bits for v in values]
    if None in bits:
        return None
    if node.is_Mul:
        return sum(n for n, _ in bits), sum(d for _, d in bits)
    if node.is_Add:  # a/b + c/d = (a*d + c*b) / (b*d)
        denominator = sum(d for _, d in bits)
        return max(n + denominator - d for n, d in bits) + len(bits), denominator
    exponent = values[1].number if node.is_Pow else None
    if exponent is not None and exponent.is_integer():
        (n, d), times = bits[0], abs(exponent)
        return (n * times, d * times) if exponent >= 0 else (d * times, n * times)
    return None  # 2**(1/2) stays a root; exp(1) and friends stay symbolic


def _written(formula: Formula, node) -> str:
    """A node as the formula writes it, where its span is known."""
    span = formula.spans.get(node)
    return formula.source[span.start:span.end] if span is not None else str(node)
