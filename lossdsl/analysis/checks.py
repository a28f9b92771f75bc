"""check(): every diagnostic for a formula, with or without a model or a table of shapes."""

from __future__ import annotations

from ..language.diagnostics import Diagnostic, placed, sort_key
from ..language.source import Source
from ..language.frontend import analyze
from .shapes import check_shapes, validate_shapes_table
from .similar import similar_name_warnings
from .stability import check_stability


def check(src: str, model=None, shapes: dict | None = None) -> list[Diagnostic]:
    """All diagnostics for ``src``: syntax and names always; shapes given a model or a ``shapes`` table.

    ``shapes`` maps reference text to a shape, e.g. ``{"L1.kernel": [10, 16]}`` (``None`` for unknown
    dimensions); anything else is a TypeError. Without a model, TensorFlow is not imported.

    >>> import lossdsl
    >>> [d.code for d in lossdsl.check("a*norm(L0.kernel")]
    ['E101']
    """
    if shapes is not None:
        validate_shapes_table(shapes)
    formula, diagnostics = analyze(src)
    found = list(diagnostics)
    if formula is None:
        return placed(found, Source(src))
    found += check_stability(formula)
    if model is not None:
        from .resolve import shapes_from_model  # imports Keras
        resolved, problems = shapes_from_model(formula, model)
        found += problems
        shapes = resolved if not any(d.is_error for d in problems) else None  # W501 warnings keep shapes
    elif shapes is not None:
        found += similar_name_warnings(formula, shapes)
    if shapes is not None:
        found += check_shapes(formula, shapes)
    return placed(sorted(found, key=sort_key), Source(src))
