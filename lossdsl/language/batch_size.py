"""``batch_size``: the size of the global batch, read from the formula's batch (y_pred or y_true).

While the formula is built, a ``batch_size`` stands for ``BatchSize(BATCH)``, since the batch it is read
from may be written after it; once the whole formula is built it reads the first target written. A
formula without a target has no batch to count (E223).
"""

from __future__ import annotations

import sympy

from . import nodes
from .source import Span

NAME = "batch_size"
NO_BATCH_HINT = ("batch_size counts the samples of y_true and y_pred: use it with a data term, "
                 "such as mse(y_true, y_pred)")


def bind_batch_size(builder, loss: sympy.Expr, uses: list[Span]) -> sympy.Expr:
    """``loss`` (and the builder's terms and spans) with each batch_size reading the formula's first target."""
    if not uses:
        return loss
    targets = sorted((r for r in builder.references.values() if r.is_target), key=lambda r: r.span.start)
    if not targets:
        for span in uses:
            builder.report("E223", "batch_size needs a batch, and this formula has no y_true or y_pred", span,
                           NO_BATCH_HINT)
        return loss
    mapping = {nodes.BatchSize(nodes.BATCH): nodes.BatchSize(targets[0].symbol)}
    with sympy.evaluate(False):  # keep the trees as written
        def bound(node):
            return node.xreplace(mapping) if isinstance(node, sympy.Basic) else node
        builder.terms = {name: bound(definition) for name, definition in builder.terms.items()}
        builder.spans = {bound(node): span for node, span in builder.spans.items()}
        builder.part_spans = {(bound(node), part): span for (node, part), span in builder.part_spans.items()}
        return bound(loss)
