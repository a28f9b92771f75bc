"""The model-free front end: text -> Formula plus diagnostics, cached by text."""

from __future__ import annotations

import functools

from . import functions
from .builder import EDITION, build_formula
from .constant_parts import constant_problems
from .diagnostics import Diagnostic, sort_key
from .errors import raise_for
from .extent import expanded_extent_problems
from .formula import Formula
from .pasted_code import pasted_tensorflow


@functools.lru_cache(maxsize=4096)
def analyze(text: str, edition: int = EDITION) -> tuple[Formula | None, tuple[Diagnostic, ...]]:
    """The formula (``None`` if it has errors) and every model-free diagnostic, sorted by position.

    ``edition`` 1 reads a formula saved before the second edition (see ``builder.build_formula``)."""
    if not isinstance(text, str):
        raise TypeError(f"a formula is a str, not {type(text).__name__}")
    formula, problems = build_formula(text, edition)
    pasted = pasted_tensorflow(text) if formula is None else []
    if pasted:  # say what to write instead, not where the parser stopped; the rest shows once that is fixed
        problems = pasted + [p for p in problems if not p.is_error]
    if formula is not None:
        # before anything walks the written-out formula or asks sympy for the digits of a constant
        too_large = expanded_extent_problems(formula) or constant_problems(formula)
        if too_large:
            formula, problems = None, problems + too_large
    return formula, tuple(sorted(problems, key=sort_key))


functions._on_change.append(analyze.cache_clear)  # a newly registered function changes what parses


def parse(src: str, edition: int = EDITION) -> Formula:
    """Parse and check a formula without a model; raise :class:`lossdsl.LossError` if it has errors.

    >>> import lossdsl
    >>> lossdsl.parse("a*norm(L0.kernel) + norm(L1.kernel)").expr
    a*Norm(L0.kernel, 2, ()) + Norm(L1.kernel, 2, ())
    """
    formula, diagnostics = analyze(src, edition)
    raise_for(list(diagnostics), src)
    return formula
