"""Shared helpers for the front-end tables: diagnostics as (code, line, column)."""

import pytest

import lossdsl
from lossdsl.language.source import Source


def where(source: str, diagnostic) -> tuple:
    """(code, line, column) of a diagnostic, the column 1-based as an editor shows it."""
    position = Source(source).position(diagnostic.span.start)
    return diagnostic.code, position.line, position.column


@pytest.fixture
def diagnose():
    """``diagnose(source, **check_kwargs)`` -> ((code, line, column) of each error, the errors).

    Warnings are left out: the stability findings (W4xx) that check() adds have tests of their own.
    """
    def diagnose(source, **kwargs):
        errors = [d for d in lossdsl.check(source, **kwargs) if d.is_error]
        return [where(source, d) for d in errors], errors
    return diagnose
