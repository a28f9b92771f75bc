"""Operators: + and - (sympy's Add), * and / (Mul), ** with sqrt and square (Pow), and subscripts x[i, a:b]."""

from __future__ import annotations

import collections
from functools import reduce

import sympy
from sympy import Rational, Tuple
from sympy.printing.precedence import PRECEDENCE

from .. import intervals as iv
from .. import shape_algebra as shapes
from ..floats import number_of
from .base import (LINEAR, NONNEGATIVE, POWER, PRODUCT, SUM, UNDECIDED, FunctionSpec, NodeKind,
                   declare, elementwise_shape, node_class)


def _all_nonnegative(node, sign_of) -> str | None:
    return NONNEGATIVE if all(map(sign_of, node.args)) else None


declare(NodeKind(
    sympy.Add, "a + b - c, broadcast; I takes the size of the rest", elementwise_shape, _all_nonnegative,
    range=lambda node, of: reduce(iv.add, map(of, node.args), iv.point(0.0)),
    asymptotic=SUM, plain=sympy.Add, lower=lambda node, lib: lib.lower_sum(node)))


def _product_range(node, of) -> iv.Range:
    # a repeated factor is a power: a*a >= 0, which a product of ranges cannot see
    args = node.args
    factors = collections.Counter(args).items() if len(set(args)) < len(args) else ((a, 1) for a in args)
    found = iv.point(1.0)
    for arg, count in factors:
        found = iv.multiply(found, of(arg) if count == 1 else iv.power(of(arg), count))
    return found


declare(NodeKind(
    sympy.Mul, "a * b / c, elementwise and broadcast; I takes the size of the rest", elementwise_shape,
    _all_nonnegative, _product_range, asymptotic=PRODUCT, plain=sympy.Mul,
    lower=lambda node, lib: lib.lower_product(node)))


def _power_sign(node, sign_of) -> str | None:
    base, exponent = node.args
    return NONNEGATIVE if sign_of(base) or (exponent.is_Integer and exponent.is_even) else None


def _power_range(node, of) -> iv.Range:
    base, exponent = of(node.args[0]), number_of(node.args[1])
    if exponent is not None:
        return iv.power(base, float(exponent))
    return iv.POSITIVE if base.positive else iv.NONNEG if base.nonnegative else iv.REAL  # 0**b is 0 or inf


declare(NodeKind(
    sympy.Pow, "a ** b, elementwise", elementwise_shape, _power_sign, _power_range, asymptotic=POWER,
    plain=sympy.Pow, lower=lambda node, lib: lib.lower_power(node),
    calls=(FunctionSpec("sqrt", lambda x: sympy.Pow(x, Rational(1, 2), evaluate=False), summary="square root"),
           FunctionSpec("square", lambda x: sympy.Pow(x, 2, evaluate=False), summary="x**2"))))


Index = node_class("Index", __name__, 2,
                   doc="x[i, a:b:c]: the second argument is a Tuple of integers and (start, stop, step) Tuples")


def _latex_index(node, printer) -> str:
    parts = [_latex_subscript(item, printer) for item in node.args[1]]
    return printer.parenthesize(node.args[0], PRECEDENCE["Pow"]) + rf"_{{[{', '.join(parts)}]}}"


def _latex_subscript(item, printer) -> str:
    if isinstance(item, Tuple):
        parts = ["" if part == shapes.OMITTED else printer._print(part) for part in item]
        return ":".join(parts if parts[2] else parts[:2])
    return printer._print(item)


declare(NodeKind(
    Index, "x[i, a:b:c]: entries by position, numpy's basic indexing",
    shape=lambda node, x: shapes.index(x, node.args[1]), sign=None, range=lambda node, of: of(node.args[0]),
    asymptotic=LINEAR, plain=UNDECIDED, lower=lambda node, lib: lib.lower_index(node), latex=_latex_index))
