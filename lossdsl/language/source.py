"""Spans and sources: character offsets to 1-based lines and columns, caret excerpts."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import cached_property


@dataclass(frozen=True, order=True)
class Span:
    """A half-open range ``[start, end)`` of character offsets into a source text."""

    start: int
    end: int

    def shifted(self, delta: int) -> Span:
        """The same span in a text that has ``delta`` more characters before it."""
        return Span(self.start + delta, self.end + delta)

    def join(self, other: Span) -> Span:
        """The smallest span covering both."""
        return Span(min(self.start, other.start), max(self.end, other.end))


def shortened(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters with "..." when longer, for quoting user text in a message."""
    return text if len(text) <= width else text[:width - 3] + "..."


@dataclass(frozen=True)
class Position:
    """A 1-based line and column."""

    line: int
    column: int


class Source:
    """A named text that knows where its lines start."""

    def __init__(self, text: str, name: str = "<formula>"):
        self.text = text
        self.name = name

    @cached_property
    def _line_starts(self) -> list[int]:
        starts = [0]
        index = self.text.find("\n")
        while index != -1:
            starts.append(index + 1)
            index = self.text.find("\n", index + 1)
        return starts

    def position(self, offset: int) -> Position:
        """The 1-based line and column of a character offset (clamped into the text).

        >>> Source("a +\\nnorm(b)").position(4)
        Position(line=2, column=1)
        """
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return Position(line + 1, offset - self._line_starts[line] + 1)

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start = self._line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end == -1 else self.text[start:end]

    def excerpt(self, span: Span, max_width: int = 160) -> str:
        """The first line of ``span`` and a caret underline of the part of the span on it; a line longer
        than ``max_width`` is cut around the span, with "..." on each side that was cut.

        >>> text = "+".join(f"c{i}" for i in range(100))
        >>> Source(text).excerpt(Span(198, 201), max_width=20).splitlines()  # c52
        ['  ...+c51+c52+c53+c54+c55...', '          ^^^']
        """
        first = self.position(span.start)
        last = self.position(max(span.start, span.end))
        line = self.line_text(first.line).rstrip("\r")
        start = first.column - 1
        end = last.column - 1 if last.line == first.line else len(line)
        left = 0 if len(line) <= max_width else max(0, min(start - max_width // 4, len(line) - max_width))
        right = left + max_width
        before, after = ("..." if left > 0 else ""), ("..." if right < len(line) else "")
        shown = before + _printable(line[left:right]) + after
        caret_start = len(before) + start - left
        carets = "^" * max(1, min(end, right) - start)
        return f"  {shown}\n  {' ' * caret_start}{carets}"


def _printable(text: str) -> str:
    """Control characters (a NUL, a tab) shown as one visible character, so carets line up."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)
