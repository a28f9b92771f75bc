"""Shared helpers for the front-end tables: diagnostics as (code, line, column)."""

import pytest

import lossdsl
from lossdsl.source import Source


def where(source: str, diagnostic) -> tuple:
    """(code, line, column) of a diagnostic, the column 1-based as an editor shows it."""
    position = Source(source).position(diagnostic.span.start)
    return diagnostic.code, position.line, position.column


@pytest.fixture
def diagnose():
    """``diagnose(source, **check_kwargs)`` -> (list of (code, line, column), the diagnostics)."""
    def diagnose(source, **kwargs):
        found = lossdsl.check(source, **kwargs)
        return [where(source, d) for d in found], found
    return diagnose
