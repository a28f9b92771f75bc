"""Diagnostics: the frozen finding record, the table of codes, and the text / JSON / GitHub renderers."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Iterable

from .source import Position, Source, Span

ERROR = "error"
WARNING = "warning"

#: Every code lossdsl can report, with a short title. The first letter is the severity.
CODES: dict[str, str] = {
    # E1xx syntax
    "E100": "unexpected input",
    "E101": "unbalanced bracket",
    "E102": "missing operand",
    "E103": "trailing operator",
    "E104": "'^' is not a power operator",
    "E105": "empty formula",
    "E106": "nesting too deep",
    "E107": "formula too long",
    "E108": "character not allowed",
    "E109": "statement out of place",
    "E110": "number beyond the float range",
    "E111": "constant too large to compute exactly",
    "E112": "TensorFlow or Keras code instead of formula syntax",
    # E2xx names
    "E201": "unknown function",
    "E202": "wrong number of arguments",
    "E203": "unknown or repeated keyword argument",
    "E204": "parameter declared twice",
    "E205": "parameter value outside its domain",
    "E206": "unknown parameter kind",
    "E207": "named term defined twice or used before its definition",
    "E208": "reserved name",
    "E209": "layer index out of range",
    "E210": "unknown layer",
    "E211": "layer has no such variable",
    "E212": "a layer is not a value",
    "E213": "bad index or option",
    "E214": "a function is not a value",
    "E215": "unknown reference",
    "E216": "attribute of a computed value",
    "E217": "model not built",
    "E218": "ambiguous layer or variable name",
    "E219": "model output not selected or unknown",
    # E3xx shapes
    "E301": "shapes do not broadcast",
    "E302": "matrix product dimensions disagree",
    "E303": "the loss is not a scalar",
    "E304": "transpose needs a matrix",
    "E305": "axis out of range",
    "E306": "index out of range",
    "E307": "identity size unknown",
    "E308": "wrong rank for function",
    # W4xx stability
    "W401": "loss unbounded below",
    "W402": "log or sqrt of a possibly non-positive value",
    "W403": "division by a possibly zero value",
    "W404": "declared parameter is unused",
    "W405": "could not decide boundedness",
    # W5xx style
    "W501": "implicit parameter looks like a layer name",
    "W502": "implicit parameter named like a variable the model keeps as an attribute",
}


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a code from :data:`CODES`, a message, the span it is about, and a hint to fix it."""

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
        return ERROR if self.code.startswith("E") else WARNING

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

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
            f"::{r['severity']} file={_escape_property(r['file'])},line={r['line']},col={r['column']},"
            f"endLine={r['end_line']},endColumn={r['end_column']},title={r['code']}::{_escape_data(message)}"
        )
    return "\n".join(lines)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")
