"""The one exception family: every error lossdsl raises carries its diagnostics."""

from __future__ import annotations

from .diagnostics import Diagnostic, render_text
from .source import Source


class LossError(Exception):
    """A formula that cannot be used; ``.diagnostics`` says where and why."""

    def __init__(self, diagnostics: list[Diagnostic], source: Source | str = "", message: str | None = None):
        self.diagnostics = list(diagnostics)
        self.source = source if isinstance(source, Source) else Source(source)
        super().__init__("\n".join(filter(None, [message, render_text(self.diagnostics, self.source)]))
                         or "invalid formula")


class LossWarning(UserWarning):
    """A formula that works but may not do what was meant (W4xx stability, W5xx style findings)."""


class LossSyntaxError(LossError):
    """The text is not a formula (E1xx)."""


class LossNameError(LossError):
    """A name does not resolve: unknown function, layer, variable or parameter misuse (E2xx)."""


class LossShapeError(LossError):
    """Shapes disagree or the loss is not a scalar (E3xx)."""


def raise_for(diagnostics: list[Diagnostic], source: Source | str) -> None:
    """Raise the subclass matching the first error, if there is any error."""
    errors = [d for d in diagnostics if d.is_error]
    if not errors:
        return
    family = {"1": LossSyntaxError, "2": LossNameError, "3": LossShapeError}.get(errors[0].code[1], LossError)
    raise family(errors, source)
