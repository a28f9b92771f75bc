"""The one exception family: every error lossdsl raises carries its diagnostics."""

from __future__ import annotations

import os
import sys
import warnings

from .diagnostics import Diagnostic, placed, render_text
from .source import Source


class LossError(Exception):
    """A formula that cannot be used; ``.diagnostics`` says where and why."""

    def __init__(self, diagnostics: list[Diagnostic], source: Source | str = "", message: str | None = None):
        self.source = source if isinstance(source, Source) else Source(source)
        self.diagnostics = placed(diagnostics, self.source)
        super().__init__("\n".join(filter(None, [message, render_text(self.diagnostics, self.source)]))
                         or "invalid formula")


class LossWarning(UserWarning):
    """A formula that works but may not do what was meant (W4xx stability, W5xx style findings)."""


#: Packages whose frames a warning skips to find the user's line.
_SKIPPED = ("lossdsl", "keras", "tensorflow")


def warn(message: str) -> None:
    """Issue a LossWarning at the user's line: the first caller outside lossdsl, Keras and TensorFlow.

    attach() is reached through Keras' model construction, and load_model() through from_config(), so a
    fixed stacklevel would point into a library.
    """
    skipped = tuple(os.path.dirname(module.__file__) + os.sep for module in map(sys.modules.get, _SKIPPED)
                    if module is not None and getattr(module, "__file__", None))
    frame, level = sys._getframe(1), 2  # stacklevel 1 would be this function
    while frame.f_back is not None and frame.f_code.co_filename.startswith(skipped):
        frame, level = frame.f_back, level + 1
    warnings.warn(LossWarning(message), stacklevel=level)


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
