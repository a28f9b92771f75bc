"""Float evaluation of one node's own operation: how constant parts are judged against the float range."""

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
