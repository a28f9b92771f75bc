"""Arrays given from Python (``constants=``) against a formula's declarations, and the shapes they give.

A declared tensor (``where F: tensor``) takes its shape from its array; a parameter may take an array as
its initial value (``c: real[10, 8]`` with ``constants={"c": array}``), which must have its declared shape
and lie in its kind's domain. A snapshot ``initial(W)`` has the shape of ``W``. numpy is imported only
when arrays are given (never TensorFlow).
"""

from __future__ import annotations

import difflib

from ..language.diagnostics import Diagnostic
from ..language.formula import CONSTANT, SNAPSHOT, STATE, Formula, Parameter
from ..language.source import Span
from ..language.shape_algebra import describe

GIVE = "pass constants={{'{name}': array}} to attach(), compile() or check()"


def as_arrays(constants: dict) -> dict:
    """The given values as numpy arrays (not copied when they are arrays already: a Fisher diagonal is as large
    as the weights); TypeError naming the first that is not an array of numbers."""
    import numpy

    if not isinstance(constants, dict):
        raise TypeError(f"constants must map names to arrays, like {{'F': numpy.ones((10, 8))}}; "
                        f"got {type(constants).__name__}")
    arrays = {}
    for name, value in constants.items():
        try:
            arrays[name] = numpy.asarray(value)
        except (TypeError, ValueError) as error:
            raise TypeError(f"constants[{name!r}] is not an array of numbers: {error}") from None
        if arrays[name].dtype.kind not in "biuf":
            raise TypeError(f"constants[{name!r}] is not an array of numbers: its dtype is {arrays[name].dtype}")
    return arrays


def constant_problems(formula: Formula, arrays: dict) -> list[Diagnostic]:
    """E221 for a declared tensor with no array, a name the formula does not declare, and an array initial
    value of the wrong shape or outside its parameter's domain."""
    found = [Diagnostic("E221", f"tensor '{name}' is declared but not given", span, GIVE.format(name=name))
             for name, span in formula.tensors.items() if name not in arrays]
    for name, array in arrays.items():
        if name in formula.tensors:
            continue
        param = formula.params.get(name)
        if param is None:
            close = difflib.get_close_matches(name, [*formula.tensors, *formula.params], n=1)
            found.append(Diagnostic("E221", f"constants= gives '{name}', which the formula does not declare",
                                    Span(0, 0), f"did you mean '{close[0]}'?" if close else
                                    f"declare it: where {name}: tensor"))
        else:
            found += _initial_value_problems(param, array)
    return found


def _initial_value_problems(param: Parameter, array) -> list[Diagnostic]:
    import numpy

    if array.shape != param.shape:
        return [Diagnostic("E221", f"constants= gives '{param.name}' an array of shape {describe(array.shape)}, "
                                   f"but it is declared with shape {describe(param.shape)}", param.span,
                           f"give an array of shape {describe(param.shape)}, or a scalar in the declaration")]
    inside = {"positive": array > 0, "nonneg": array >= 0,
              "interval": (param.lower < array) & (array < param.upper) if param.kind == "interval" else True}
    if not numpy.all(inside.get(param.kind, True)) or not numpy.all(numpy.isfinite(array)):
        domain = {"positive": "> 0", "nonneg": ">= 0"}.get(param.kind) or (
            f"inside ({param.lower:g}, {param.upper:g})" if param.kind == "interval" else "finite")
        return [Diagnostic("E221", f"constants= gives '{param.name}' initial values that are not all {domain}",
                           param.span, "initial values are given in the constrained space")]
    return []


def with_derived_shapes(formula: Formula, shapes: dict | None, arrays: dict | None) -> dict | None:
    """``shapes`` (reference text -> shape) completed with the given tensors' shapes and the snapshots'
    (``initial(W)`` has the shape of ``W``); ``None`` if there is nothing to take shapes from."""
    if shapes is None and arrays is None:
        return None
    table = dict(shapes or {})
    for text, reference in formula.references.items():
        if reference.role == CONSTANT and arrays is not None:  # one not given is E221 already: no E215 too
            table[text] = tuple(arrays[text].shape) if text in arrays else None
        elif reference.role == SNAPSHOT and text not in table and reference.variable_text in table:
            table[text] = table[reference.variable_text]
        elif reference.role == STATE:  # step, epoch, a term's history: one number a step
            table[text] = ()
    return table


def name_given_shapes(diagnostics: list[Diagnostic], formula: Formula, arrays: dict) -> list[Diagnostic]:
    """Shape errors that a given tensor takes part in say so in the hint: its shape came from its array."""
    named = []
    for diagnostic in diagnostics:
        inside = [text for text, reference in formula.references.items()
                  if reference.role == CONSTANT and text in arrays
                  and diagnostic.span.start <= reference.span.start < diagnostic.span.end]
        if diagnostic.code.startswith("E3") and inside:
            given = "; ".join(f"'{text}' has shape {describe(arrays[text].shape)}, from the array given in "
                              "constants=" for text in inside)
            diagnostic = Diagnostic(diagnostic.code, diagnostic.message, diagnostic.span,
                                    f"{given}; {diagnostic.hint}" if diagnostic.hint else given)
        named.append(diagnostic)
    return named
