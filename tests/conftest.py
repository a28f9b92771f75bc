"""Shared helpers for the front-end tables: diagnostics as (code, line, column)."""

import pytest

import zipfile
from pathlib import Path

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


def saved_attached_model(directory: Path, formula: str) -> tuple[Path, str]:
    """A small model (a Dense layer 'out' on 3 inputs) attached to ``formula`` and saved as .keras in
    ``directory``: its path and the text of its config.json."""
    import keras
    import lossdsl.keras  # noqa: F401  registers lossdsl's classes with Keras
    inputs = keras.Input((3,))
    model = lossdsl.attach(keras.Model(inputs, keras.layers.Dense(1, name="out")(inputs)), formula)
    path = directory / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        return path, archive.read("config.json").decode()


def with_config(path: Path, config_text: str, target: Path) -> Path:
    """A copy of a saved model with its config.json replaced by ``config_text`` (the zip rebuilt)."""
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
        for name in source.namelist():
            copy.writestr(name, config_text if name == "config.json" else source.read(name))
    return target
