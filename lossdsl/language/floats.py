"""Float evaluation of one node's own operation: how constant parts are judged against the float range."""

from __future__ import annotations

import math

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
