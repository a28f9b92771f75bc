"""Float evaluation of constants: one node's own operation, and a constant subexpression as a sympy number."""

from __future__ import annotations

import math
import struct

import sympy

FLOAT_FUNCTIONS = {sympy.exp: math.exp, sympy.log: math.log, sympy.Abs: abs, sympy.sin: math.sin,
                   sympy.cos: math.cos, sympy.tanh: math.tanh}


def float_operation(expr: sympy.Basic, values: list[float]) -> float | complex:
    """``expr``'s own operation (a sum, product, power or FLOAT_FUNCTIONS) on its arguments' float values.

    Raises what Python raises: OverflowError, ZeroDivisionError, ValueError (log(-1)), KeyError for an
    operation with no float version; a negative number to a fractional power is complex.
    """
    if expr.is_Add:
        return math.fsum(values)
    if expr.is_Mul:
        return math.prod(values)
    if expr.is_Pow:
        return values[0] ** values[1]
    return FLOAT_FUNCTIONS[type(expr)](*values)


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


#: float32, the dtype the lowering computes in: every number of a formula is judged against it. Its
#: smallest normal value is the smallest that counts: TensorFlow flushes subnormal results to 0 on CPU
#: (a positive parameter initialized to 1e-40 read as 0).
FLOAT32_MAX = 3.4028234663852886e38
FLOAT32_SMALLEST = 1.1754943508222875e-38
FLOAT32_RANGE = ("float32, the type the loss is computed in, holds magnitudes from about 1.2e-38 to 3.4e38 "
                 "(TensorFlow flushes smaller ones to 0)")


def as_float32(value: float) -> float:
    """``value`` rounded to float32, as TensorFlow stores it: +-inf beyond its range."""
    try:
        return struct.unpack("f", struct.pack("f", value))[0]
    except OverflowError:  # struct refuses what would round to infinity
        return math.copysign(math.inf, value)


def beyond_float32(value: float) -> bool:
    """A finite or infinite value that float32 cannot hold (NaN is no number at all, so not beyond)."""
    return abs(value) > FLOAT32_MAX


def vanishes_in_float32(value: float) -> bool:
    """Not 0, but 0 once TensorFlow computes with it in float32."""
    return value != 0.0 and abs(as_float32(value)) < FLOAT32_SMALLEST
