"""Findings of one code said once: a formula with 100 unconstrained weights gets one W401 naming all 100.

``compile``/``attach`` issue one ``LossWarning`` per group and ``lint``'s text output prints one block per
group; JSON and GitHub annotations stay one record per finding (machines want them separate). Grouping is
by code alone, whatever the code's messages say.
"""

from __future__ import annotations

from typing import Iterable

from .catalogue import CODES
from .diagnostics import Diagnostic, render_text
from .source import Source

#: A code is grouped from this many findings on: two read as well one after the other, each with its own
#: excerpt and hint; from three on, the repeats bury the message.
GROUP_FROM = 3
#: Distinct hints a group lists; beyond that they name their own places, and the first shows the fix.
HINTS_LISTED = 3


def grouped_by_code(diagnostics: Iterable[Diagnostic]) -> list[list[Diagnostic]]:
    """The findings in groups of one code, each group in the order given, groups in order of first finding."""
    groups: dict[str, list[Diagnostic]] = {}
    for diagnostic in diagnostics:
        groups.setdefault(diagnostic.code, []).append(diagnostic)
    return list(groups.values())


def render_grouped(diagnostics: Iterable[Diagnostic], source: Source) -> list[str]:
    """One text per group of ``GROUP_FROM`` or more findings of a code: one header, a line per finding
    (``LINE:COL: message``), the first finding's excerpt, and each distinct hint once (the first only, when
    there are more than ``HINTS_LISTED``); fewer findings of a code are rendered as :func:`render_text` does.

    >>> from lossdsl.language.source import Span
    >>> text = "mse(y_true, y_pred) - p - q - r"
    >>> found = [Diagnostic("W401", f"unbounded below in '{name}'", Span(at, at + 1), "declare it positive")
    ...          for name, at in (("p", 22), ("q", 26), ("r", 30))]
    >>> [block] = render_grouped(found, Source(text))
    >>> print(block)
    <formula>: W401 loss unbounded below, 3 findings:
      1:23: unbounded below in 'p'
      1:27: unbounded below in 'q'
      1:31: unbounded below in 'r'
      mse(y_true, y_pred) - p - q - r
                            ^
      hint: declare it positive
    """
    return [render_text(group, source) if len(group) < GROUP_FROM else _group_text(group, source)
            for group in grouped_by_code(diagnostics)]


def _group_text(group: list[Diagnostic], source: Source) -> str:
    code = group[0].code
    lines = [f"{source.name}: {code} {CODES.get(code, 'finding')}, {len(group)} findings:"]
    for diagnostic in group:
        where = source.position(diagnostic.span.start)
        lines.append(f"  {where.line}:{where.column}: {diagnostic.message}")
    lines.append(source.excerpt(group[0].span))
    hints = list(dict.fromkeys(d.hint for d in group if d.hint))
    if len(hints) <= HINTS_LISTED:
        lines += [f"  hint: {hint}" for hint in hints]
    else:  # hints that name their own place: the first shows the fix
        lines.append(f"  hint (for the first; likewise for the others): {hints[0]}")
    return "\n".join(lines)
