"""Binding a call's arguments to a function's table entry: arity, keywords and constant options."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

import sympy
from sympy import Integer, Tuple

from . import functions
from .formula import LAYER_INDEX
from .source import Span


#: Stands for a subexpression that already produced an error, so checking can go on.
INVALID = sympy.Symbol("\N{UP TACK}")


@dataclass
class Keyword:
    """``name=value`` inside a call; ``value`` is the builder's piece for the value."""

    name: str
    value: object


@dataclass
class Parenthesized:
    """``(a, b, ...)``: a tuple of the builder's pieces, which only an option may be (``axis=(0, 1)``, a shape)."""

    items: list


#: Reserved names a user may try to call: what they are, and what to write instead.
NOT_CALLABLE = {
    "I": ("the identity matrix", "for an identity of a chosen size write eye(n), for example eye(3)"),
    "pi": ("a constant", "multiply with *: pi * x"),
    "batch_size": ("a number (the size of the batch)", "use it as a value: sum(square(y_pred)) / batch_size"),
    "y_true": ("a tensor (the batch targets)", "pass them to a data loss, for example mse(y_true, y_pred)"),
    "y_pred": ("a tensor (the batch predictions)", "pass them to a data loss, for example mse(y_true, y_pred)"),
}


def bind_call(builder, name: str, name_span: Span, arguments: list) -> sympy.Expr:
    """The sympy node of ``name(arguments)``, or INVALID after reporting what is wrong with the call.

    ``arguments`` are the builder's pieces (``.value``, ``.span``), a keyword argument's value a
    :class:`Keyword`. ``builder`` provides ``value(piece)`` (close an identifier into a sympy value),
    ``report(...)`` and ``located_part(node, option name, span)``.
    """
    spec = functions.lookup(name)
    if spec is None and (name in NOT_CALLABLE or LAYER_INDEX.fullmatch(name)):
        what, hint = NOT_CALLABLE.get(name, ("a layer", f"use one of its variables, for example {name}.kernel"))
        return builder.report("E201", f"'{name}' is {what}, not a function", name_span, hint)
    if spec is None:
        close = functions.closest_name(name)
        return builder.report("E201", f"unknown function '{name}'", name_span,
                              f"did you mean '{close}'?" if close else "see the function table in docs/language.md")
    if spec.variadic:
        return _bind_variadic(builder, spec, name_span, arguments)
    bound: dict[str, tuple[object, Span]] = {}  # parameter name -> (piece of its value, span of the argument)
    parameters = spec.parameter_names
    positional = [argument for argument in arguments if type(argument.value) is not Keyword]
    keywords = [argument for argument in arguments if type(argument.value) is Keyword]
    first_keyword = next((i for i, argument in enumerate(arguments) if type(argument.value) is Keyword),
                         len(arguments))
    if len(positional) > first_keyword:
        return builder.report("E203", "a positional argument follows a keyword argument",
                              positional[first_keyword].span, "put positional arguments first")
    if len(positional) > len(parameters):
        return builder.report("E202", f"{name}() takes at most {len(parameters)} argument(s), got {len(positional)}",
                              positional[len(parameters)].span, f"the signature is {spec.signature()}")
    bound.update((parameter, (argument, argument.span)) for parameter, argument in zip(parameters, positional))
    for argument in keywords:
        keyword = argument.value
        if keyword.name not in parameters or keyword.name in bound:
            close = difflib.get_close_matches(keyword.name, parameters, n=1)
            problem = "is given twice in" if keyword.name in bound else "is not an argument of"
            return builder.report("E203", f"'{keyword.name}' {problem} {name}()", argument.span,
                                  (f"did you mean '{close[0]}'? " if close and keyword.name not in bound else "")
                                  + f"the signature is {spec.signature()}")
        bound[keyword.name] = (keyword.value, argument.span)
    required = spec.tensors + tuple(o.name for o in spec.options if o.default is None)
    missing = [p for p in required if p not in bound]
    if missing:
        return builder.report("E202", f"{name}() is missing {', '.join(missing)}", name_span,
                              f"the signature is {spec.signature()}")
    tensors = [builder.value(bound[t][0]) for t in spec.tensors]
    options = [_option(builder, name, option, bound.get(option.name)) for option in spec.options]
    if INVALID in tensors or INVALID in options:
        return INVALID
    node = spec.build(*tensors, *options, *_call_number(spec, name_span))
    for option in spec.options:
        if option.name in bound:
            builder.located_part(node, option.name, bound[option.name][1])
    return node


def _bind_variadic(builder, spec: functions.FunctionSpec, name_span: Span, arguments: list) -> sympy.Expr:
    """``stack(a, b, ...)``, ``normal(6, 1)``: any number of positional tensors, or of sizes."""
    keyword = next((argument for argument in arguments if type(argument.value) is Keyword), None)
    if keyword is not None:
        return builder.report("E203", f"{spec.name}() takes no keyword arguments", keyword.span,
                              f"the signature is {spec.signature()}")
    if not arguments:
        return builder.report("E202", f"{spec.name}() needs at least one argument", name_span,
                              f"the signature is {spec.signature()}")
    if spec.variadic == "tensors":
        values = [builder.value(argument) for argument in arguments]
    else:
        size = functions.Option("size", spec.variadic)
        values = [_option(builder, spec.name, size, (argument, argument.span)) for argument in arguments]
    return INVALID if INVALID in values else spec.build(*values, *_call_number(spec, name_span))


def _call_number(spec: functions.FunctionSpec, name_span: Span) -> tuple:
    """What tells two calls written alike apart, for a function whose every call is its own (a random draw)."""
    return (Integer(name_span.start),) if spec.numbered else ()


def _is_shape(values) -> bool:
    return all(isinstance(v, Integer) and (v > 0 or v == -1) for v in values) and list(values).count(-1) <= 1


OPTION_RULES = {
    # kind: (accepts the constant, or each constant of a tuple?, what to write instead)
    "axis": (lambda v: isinstance(v, Integer), "an integer axis or a tuple of them, for example axis=1 or axis=(0, 1)"),
    "order": (lambda v: v in (1, 2, sympy.oo), "1, 2 or inf"),
    "positive": (lambda v: v.is_Number and v > 0 and v.is_finite, "a positive number"),
    "nonnegative": (lambda v: v.is_Number and v >= 0 and v.is_finite, "a number >= 0"),
    "fraction": (lambda v: v.is_Number and 0 <= v <= 1, "a number from 0 to 1"),
    "flag": (lambda v: v in (0, 1), "0 or 1"),
    "size": (lambda v: isinstance(v, Integer) and v > 0, "a positive whole number, for example eye(3)"),
    "shape": (lambda v: _is_shape([v]), "positive whole numbers with at most one -1, for example (2, -1)"),
}
#: Option kinds that may be a tuple (each entry accepted by the rule, and the whole by the check).
TUPLE_KINDS = {"axis": lambda values: len(set(values)) == len(values), "shape": _is_shape}


def _option(builder, function: str, option: functions.Option, given) -> sympy.Basic:
    """A constant option, checked against its kind; the default when it is not given."""
    if given is None:
        return option.default
    item, span = given
    accepts, expected = OPTION_RULES[option.kind]
    if type(item.value) is Parenthesized and option.kind in TUPLE_KINDS:
        values = [builder.value(part) for part in item.value.items]
        if INVALID in values:
            return INVALID
        if all(v.is_Number and accepts(v) for v in values) and TUPLE_KINDS[option.kind](values):
            return Tuple(*values)
    else:
        value = builder.value(item)
        if value is INVALID:
            return INVALID
        if value.is_Number and accepts(value):
            return Tuple(value) if option.kind in TUPLE_KINDS else value
    return builder.report("E213", f"{option.name} of {function}() must be {expected}", span,
                          "options are constants written in the formula")
