"""Diagnostics: the frozen finding record and its text / JSON / GitHub renderers (the codes: catalogue.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Iterable

from .source import Position, Source, Span

ERROR = "error"
WARNING = "warning"
INFO = "info"  # a note: shown and returned, never a failure (not even under --strict), never a LossWarning


def severity_of(code: str) -> str:
    """The severity a code's first letter gives (the codes are listed in ``catalogue.py``): E, I or W."""
    return {"E": ERROR, "I": INFO}.get(code[:1], WARNING)


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a code from the catalogue, a message, the span it is about, and a hint to fix it."""

    code: str
    message: str
    span: Span
    hint: str | None = None
    #: The 1-based line and column of ``span.start`` in the text it was found in, where known (``check()``
    #: and ``LossError`` fill it in), so that ``str(diagnostic)`` reads ``1:7: E101 '(' is never closed``.
    position: Position | None = field(default=None, compare=False, repr=False)

    def __str__(self) -> str:
        where = f"{self.position.line}:{self.position.column}: " if self.position else ""
        return f"{where}{self.code} {self.message}" + (f" (hint: {self.hint})" if self.hint else "")

    def __repr__(self) -> str:
        where = (f"{self.position.line}:{self.position.column}: " if self.position
                 else f"offsets {self.span.start}-{self.span.end}: ")
        return f"<Diagnostic {where}{self.code} {self.message}>"

    @property
    def severity(self) -> str:
        return severity_of(self.code)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    @property
    def is_note(self) -> bool:
        return self.severity == INFO

    def shifted(self, delta: int) -> Diagnostic:
        """The same finding for a text embedded ``delta`` characters into a larger one."""
        return Diagnostic(self.code, self.message, self.span.shifted(delta), self.hint)


def placed(diagnostics: Iterable[Diagnostic], source: Source) -> list[Diagnostic]:
    """The diagnostics with the line and column of their spans in ``source``.

    >>> import lossdsl
    >>> [str(d) for d in lossdsl.check("a +\\nnorm(L0.kernel")]
    ["2:5: E101 '(' is never closed (hint: add the missing ')')"]
    """
    return [replace(d, position=source.position(d.span.start)) for d in diagnostics]


def sort_key(diagnostic: Diagnostic) -> tuple:
    return (diagnostic.span.start, diagnostic.span.end, diagnostic.code)


def render_text(diagnostics: Iterable[Diagnostic], source: Source) -> str:
    """``NAME:LINE:COL: CODE message``, the source line, a caret underline, and the hint.

    >>> import lossdsl
    >>> text = "a*norm(L0.kernel"
    >>> print(render_text(lossdsl.check(text), Source(text)))
    <formula>:1:7: E101 '(' is never closed
      a*norm(L0.kernel
            ^
      hint: add the missing ')'
    """
    blocks = []
    for d in diagnostics:
        where = source.position(d.span.start)
        lines = [f"{source.name}:{where.line}:{where.column}: {d.code} {d.message}", source.excerpt(d.span)]
        if d.hint:
            lines.append(f"  hint: {d.hint}")
        blocks.append("\n".join(lines))
    return "\n".join(blocks)


def as_records(diagnostics: Iterable[Diagnostic], source: Source) -> list[dict]:
    """Plain dictionaries with 1-based positions, ready for ``json.dumps``."""
    records = []
    for d in diagnostics:
        start, end = source.position(d.span.start), source.position(d.span.end)
        records.append({
            "file": source.name, "code": d.code, "severity": d.severity, "message": d.message,
            "line": start.line, "column": start.column,
            "end_line": end.line, "end_column": end.column, "hint": d.hint,
        })
    return records


def render_json(diagnostics: Iterable[Diagnostic], source: Source) -> str:
    return json.dumps(as_records(diagnostics, source), indent=2)


def render_github(diagnostics: Iterable[Diagnostic], source: Source) -> str:
    """GitHub Actions workflow commands, one annotation per finding."""
    lines = []
    for r in as_records(diagnostics, source):
        message = r["message"] + (f" (hint: {r['hint']})" if r["hint"] else "")
        lines.append(
            f"::{_GITHUB_LEVELS[r['severity']]} file={_escape_property(r['file'])},line={r['line']},col={r['column']},"
            f"endLine={r['end_line']},endColumn={r['end_column']},title={r['code']}::{_escape_data(message)}"
        )
    return "\n".join(lines)


_GITHUB_LEVELS = {ERROR: "error", WARNING: "warning", INFO: "notice"}  # GitHub has no "info" annotation

#: Line breaks besides \r and \n (U+2028 in a backtick name, say): shown as \uXXXX so an annotation stays
#: one line for whatever reads it (GitHub decodes only %25, %0D and %0A).
_OTHER_LINE_BREAKS = {ord(c): f"\\u{ord(c):04x}" for c in "\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A").translate(_OTHER_LINE_BREAKS)


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
