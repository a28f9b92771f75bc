"""Reparametrization of constrained parameters: the optimizer trains an unconstrained raw variable.

positive and nonneg use softplus, an interval (lo, hi) uses lo + (hi - lo) * sigmoid, real and const
are the raw value itself. ``init`` and what users read and set are in the constrained space.
"""

from __future__ import annotations

import math

import numpy
import tensorflow as tf

from ..language.formula import Parameter


def constrain(param: Parameter, raw: tf.Tensor) -> tf.Tensor:
    """The constrained value of a parameter from its raw variable's value."""
    if param.kind in ("positive", "nonneg"):
        return tf.math.softplus(raw)
    if param.kind == "interval":
        return param.lower + (param.upper - param.lower) * tf.math.sigmoid(raw)
    return raw


def unconstrain(param: Parameter, value: float) -> float:
    """The raw value whose constrained value is ``value`` (the inverse of :func:`constrain`)."""
    value = float(value)
    if param.kind in ("positive", "nonneg"):
        if value <= 0:
            raise ValueError(f"parameter '{param.name}' is {param.kind}: {value} is outside its domain; "
                             "softplus reaches 0 only in the limit")
        # log(expm1(v)), written to stay finite for large v (expm1 overflows above ~709)
        return value + math.log(-math.expm1(-value))
    if param.kind == "interval":
        if not param.lower < value < param.upper:
            raise ValueError(f"parameter '{param.name}' must lie inside ({param.lower:g}, {param.upper:g}), got {value}")
        fraction = (value - param.lower) / (param.upper - param.lower)
        return math.log(fraction) - math.log1p(-fraction)
    return value


def unconstrain_array(param: Parameter, values) -> numpy.ndarray:
    """The raw values, entry by entry, of a tensor-valued parameter whose constrained values are ``values``
    (the domain is checked before: ``analysis.constants``)."""
    values = numpy.asarray(values, dtype="float64")
    if param.kind in ("positive", "nonneg"):
        return values + numpy.log(-numpy.expm1(-values))
    if param.kind == "interval":
        fraction = (values - param.lower) / (param.upper - param.lower)
        return numpy.log(fraction) - numpy.log1p(-fraction)
    return values
