"""Shared helpers for the front-end tables: diagnostics as (code, line, column)."""

import pytest

import lossdsl
from lossdsl.language.source import Source


def where(source: str, diagnostic) -> tuple:
    """(code, line, column) of a diagnostic, the column 1-based as an editor shows it."""
    position = Source(source).position(diagnostic.span.start)
    return diagnostic.code, position.line, position.column


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> str:
    """The path of m.keras: models.hidden_out() saved (imports Keras)."""
    from models import hidden_out
    path = tmp_path_factory.mktemp("model") / "m.keras"
    hidden_out().save(path)
    return str(path)


@pytest.fixture
def diagnose():
    """``diagnose(source, **check_kwargs)`` -> ((code, line, column) of each error, the errors).

    Warnings are left out: the stability findings (W4xx) that check() adds have tests of their own.
    """
    def diagnose(source, **kwargs):
        errors = [d for d in lossdsl.check(source, **kwargs) if d.is_error]
        return [where(source, d) for d in errors], errors
    return diagnose
