"""Elementwise functions: sympy's own (exp, log, abs, sin, cos, tanh) and lossdsl's tensor functions."""

from __future__ import annotations

import math

import sympy

from .. import intervals as iv
from .base import (NONNEGATIVE, POSITIVE, UNDECIDED, FunctionSpec, NodeKind, Unary, build, declare, elementwise_shape,
                   node_class, on_ranges, same_sign, tf_op)


def _sympy_call(name: str, cls, summary: str) -> FunctionSpec:
    return FunctionSpec(name, lambda x: cls(x, evaluate=False), summary=summary)


def _sympy_kind(name: str, cls, summary: str, sign, value_range, asymptotic, path: str, domain=None) -> None:
    """A kind whose node class is sympy's own: sympy prints it and knows its assumptions."""
    declare(NodeKind(cls, summary, elementwise_shape, sign, on_ranges(value_range), Unary(asymptotic), cls,
                     tf_op(path), calls=(_sympy_call(name, cls, summary),), domain=domain))


_sympy_kind("exp", sympy.exp, "e**x", POSITIVE, lambda x: iv.monotone(math.exp, x),
            lambda e, x: e.exp(x), "tf.exp")
_sympy_kind("log", sympy.log, "natural logarithm", None, lambda x: iv.monotone(math.log, iv.part_above(x, 0.0)),
            lambda e, x: e.log(x), "tf.math.log", domain=0.0)
_sympy_kind("abs", sympy.Abs, "absolute value", NONNEGATIVE, iv.absolute, lambda e, x: e.absolute(x), "tf.abs")
_sympy_kind("sin", sympy.sin, "sine", None, lambda x: iv.UNIT, lambda e, x: e.bounded(x), "tf.sin")
_sympy_kind("cos", sympy.cos, "cosine", None, lambda x: iv.UNIT, lambda e, x: e.bounded(x), "tf.cos")
# tanh(x) = 1 - 2 / (exp(2x) + 1)
_sympy_kind("tanh", sympy.tanh, "hyperbolic tangent", None, lambda x: iv.monotone(math.tanh, x),
            lambda e, x: e.one_plus(e.scaled(-2, e.inverse(e.one_plus(e.exp(e.scaled(2, x)))))), "tf.tanh")


def _function(name: str, call: str, summary: str, latex: str, *, sign=None, value_range, asymptotic=UNDECIDED,
              plain=UNDECIDED, lower, tensors=("x",), domain=None) -> type:
    """A kind of lossdsl's own elementwise node class ``name``, called as ``call(tensors...)``."""
    cls = node_class(name, __name__, len(tensors), len(tensors), doc=f"{call}({', '.join(tensors)}): {summary}")
    return declare(NodeKind(cls, summary, elementwise_shape, sign, on_ranges(value_range), asymptotic, plain,
                            lower, latex, calls=(FunctionSpec(call, build(cls), tensors, summary=summary),),
                            domain=domain))


Log1p = _function("Log1p", "log1p", "log(1 + x), accurate near 0", r"\operatorname{log1p}",
                  value_range=lambda x: iv.monotone(math.log1p, iv.part_above(x, -1.0)),
                  asymptotic=Unary(lambda e, x: e.log(e.one_plus(x))), plain=lambda x: sympy.log(1 + x),
                  lower=tf_op("tf.math.log1p"), domain=-1.0)
Sigmoid = _function("Sigmoid", "sigmoid", "1 / (1 + exp(-x))", r"\sigma", sign=POSITIVE,
                    value_range=lambda x: iv.monotone(iv.sigmoid, x),
                    asymptotic=Unary(lambda e, x: e.inverse(e.one_plus(e.exp(e.scaled(-1, x))))),
                    plain=lambda x: 1 / (1 + sympy.exp(-x)), lower=tf_op("tf.sigmoid"))
Softplus = _function("Softplus", "softplus", "log(1 + exp(x))", r"\operatorname{softplus}", sign=POSITIVE,
                     value_range=lambda x: iv.monotone(iv.softplus, x),
                     asymptotic=Unary(lambda e, x: e.log(e.one_plus(e.exp(x)))),
                     plain=lambda x: sympy.log(1 + sympy.exp(x)), lower=tf_op("tf.nn.softplus"))
Relu = _function("Relu", "relu", "max(x, 0)", r"\operatorname{relu}", sign=NONNEGATIVE,
                 value_range=lambda x: iv.maximum(x, iv.point(0.0)),
                 asymptotic=Unary(lambda e, x: e.at_most(x)),  # 0 <= relu(x) <= |x|
                 plain=lambda x: sympy.Max(x, 0), lower=tf_op("tf.nn.relu"))
# min(max(...)) rather than clip_by_value: lo and hi may be tensors that broadcast x to a larger shape
Clip = _function("Clip", "clip", "x limited to [lo, hi]", r"\operatorname{clip}", tensors=("x", "lo", "hi"),
                 sign=lambda node, sign_of: NONNEGATIVE if sign_of(node.args[1]) and sign_of(node.args[2]) else None,
                 value_range=lambda x, lo, hi: iv.minimum(iv.maximum(x, lo), hi),
                 lower=lambda node, lib: lib.Op(lambda x, lo, hi: lib.tf.minimum(lib.tf.maximum(x, lo), hi),
                                                node.tensors, "tf.minimum(tf.maximum({0}, {1}), {2})"))
Maximum = _function("Maximum", "maximum", "elementwise larger of x and y", r"\max", tensors=("x", "y"),
                    sign=lambda node, sign_of: POSITIVE if POSITIVE in map(sign_of, node.args) else
                    NONNEGATIVE if any(map(sign_of, node.args)) else None,
                    value_range=iv.maximum, lower=tf_op("tf.maximum"))
Minimum = _function("Minimum", "minimum", "elementwise smaller of x and y", r"\min", tensors=("x", "y"),
                    sign=lambda node, sign_of: NONNEGATIVE if all(map(sign_of, node.args)) else None,
                    value_range=iv.minimum, lower=tf_op("tf.minimum"))
StopGradient = _function("StopGradient", "stop", "x, with no gradient flowing through it", r"\operatorname{stop}",
                         sign=same_sign(0), value_range=lambda x: x, lower=tf_op("tf.stop_gradient"))
