"""Training progress (``step``, ``epoch``) and a named term's history (``start``, ``epoch_start``, ``previous``,
``ema``): what the builder makes of them (SPEC §5.5, §5.6).

Each is a reference with the role STATE: a scalar the term layer keeps as non-trainable state and hands to
the lowered program, so that for the analysis it is a constant (never trained, no gradient) with the sign of
the term it follows. The reference's path says what it is: ``("step",)``, ``("previous", "data", 2)``,
``("ema", "data", 0.9)``; its text is how it is written (``previous(data, 2)``), which names its env input.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from .calls import INVALID, Keyword
from .diagnostics import Diagnostic
from .expression_rules import Identifier, Piece
from .formula import STATE, Formula
from .source import Span

STEP, EPOCH = "step", "epoch"
#: The training progress counters: reserved names, never parameters.
PROGRESS = (STEP, EPOCH)
START, EPOCH_START, PREVIOUS, EMA = "start", "epoch_start", "previous", "ema"
#: The history functions; each takes a named scalar term (and ``previous`` a count, ``ema`` a decay).
HISTORY = (START, EPOCH_START, PREVIOUS, EMA)
_USAGE = {START: "start(data)", EPOCH_START: "epoch_start(data)", PREVIOUS: "previous(data) or previous(data, 2)",
          EMA: "ema(data, 0.9)"}


@dataclass(frozen=True)
class HistoryUse:
    """One history value the formula reads: which function, of which named term, with which option."""

    function: str
    term: str
    option: float | int | None = None  # previous: epochs back (>= 1); ema: the decay in (0, 1)

    @property
    def text(self) -> str:
        return f"{self.function}({self.term}{'' if self.option is None else f', {self.option:g}'})"


def progress(builder, name: str, span: Span) -> sympy.Expr:
    """``step`` or ``epoch``: a non-negative constant within a step."""
    return builder.reference([name], span, role=STATE, nonnegative=True)


def history(builder, name_span: Span, arguments: list[Piece], name: str) -> sympy.Expr:
    """``start(L)``, ``epoch_start(L)``, ``previous(L, k)``, ``ema(L, d)``; INVALID after reporting a misuse."""
    wanted = {START: 1, EPOCH_START: 1, PREVIOUS: (1, 2), EMA: 2}[name]
    counts = wanted if isinstance(wanted, tuple) else (wanted,)
    keywords = [a for a in arguments if type(a.value) is Keyword]
    if len(arguments) not in counts or keywords:
        where = keywords[0].span if keywords else arguments[max(counts)].span if len(arguments) > max(counts) \
            else name_span
        return builder.report("E202", f"{name}() takes {' or '.join(map(str, counts))} positional "
                                      f"argument{'s' if max(counts) > 1 else ''}", where, f"write {_USAGE[name]}")
    argument = arguments[0]
    term = argument.value.text if type(argument.value) is Identifier and not argument.value.quoted else None
    if term is None or term not in builder.terms:
        return _not_a_term(builder, name, argument, term)
    option = None
    if name == PREVIOUS and len(arguments) == 2:
        option = _constant(arguments[1])
        if option is INVALID or option != int(option) or option < 1:
            return builder.report("E242", f"previous({term}, k) looks k epochs back: k must be a whole number >= 1",
                                  arguments[1].span, f"write previous({term}) for the previous epoch, "
                                                     f"previous({term}, 2) for the one before")
        option = int(option)
        option = None if option == 1 else option  # previous(L, 1) is previous(L): one state, one text
    if name == EMA:
        option = _constant(arguments[1])
        if option is INVALID or not 0 < option < 1:
            return builder.report("E243", f"ema({term}, d): the decay d must be a number in (0, 1)",
                                  arguments[1].span, f"write ema({term}, 0.9): each step keeps 0.9 of the average")
    use = HistoryUse(name, term, option)
    nonnegative = bool(builder.term_symbols[term].is_nonnegative)
    return builder.reference([name, term, option], Span(name_span.start, arguments[-1].span.end), role=STATE,
                             text=use.text, nonnegative=nonnegative)


def _constant(piece: Piece):
    """The number an option is written as (``2``, ``0.9``, ``-1``), or INVALID for anything else."""
    value = piece.value
    if isinstance(value, sympy.Basic) and value.is_Number and value.is_finite:
        return float(value)
    return INVALID


def _not_a_term(builder, name: str, argument: Piece, term: str | None) -> sympy.Expr:
    if term in ("y_true", "y_pred"):
        what = f"'{term}' is the batch's {'targets' if term == 'y_true' else 'predictions'}"
    elif term is not None:
        what = f"'{term}' is not a named term (a bare name is a parameter)"
    else:
        what = "a computed value has no name to follow"
    hint = f"name the value first and follow the name: data = mse(y_true, y_pred); {_USAGE[name].split(' or ')[0]}"
    return builder.report("E240", f"{name}() follows a named scalar term: {what}", argument.span, hint)


def history_uses(formula: Formula) -> list[HistoryUse]:
    """Every history value the formula reads, in the order they are written."""
    return [HistoryUse(*ref.path) for ref in formula.references.values() if ref.role == STATE and len(ref.path) == 3]


def progress_uses(formula: Formula) -> list[str]:
    """``step`` and ``epoch``, those the formula reads."""
    return [ref.text for ref in formula.references.values() if ref.role == STATE and len(ref.path) == 1]


def tensor_history_problems(formula: Formula, term_shapes: dict) -> list:
    """E241 for each history of a term that is not a scalar: a term's history is one number a step."""
    problems = []
    for ref in formula.references.values():
        if ref.role == STATE and len(ref.path) == 3:
            shape = term_shapes.get(ref.path[1])
            if shape is not None and tuple(shape) != ():
                problems.append(Diagnostic(
                    "E241", f"{ref.path[0]}() follows a scalar term; '{ref.path[1]}' has shape {tuple(shape)}",
                    ref.span, f"reduce the term to a scalar first: {ref.path[1]}_size = mean({ref.path[1]}), "
                              f"then {ref.path[0]}({ref.path[1]}_size)"))
    return problems


def describe_state(formula: Formula) -> list[str]:
    """One line per value the formula keeps between steps (``explain`` lists them)."""
    lines = [{STEP: "step: the training steps before this one (the optimizer's iterations in fit())",
              EPOCH: "epoch: the index of the current epoch, 0-based (fit()'s, or end_epoch()'s count)"}[name]
             for name in progress_uses(formula)]
    what = {START: "its value at the first training step", EPOCH_START: "its value at the epoch's first training step",
            PREVIOUS: "its mean over the epoch {option} back, as fit() logs it",
            EMA: "{option:g}*ema + {rest:g}*{term} at every training step, from its first value"}
    for use in history_uses(formula):
        option = use.option or 1
        lines.append(f"{use.text}: {what[use.function].format(option=option, rest=1 - option, term=use.term)}")
    return lines
