"""Limits on the checked formula: its size with its named terms written out (``Formula.expanded()``).

The parser bounds each statement (MAX_NESTING), but a term that uses an earlier term inherits its depth,
and a term used twice is copied twice: a chain of terms can nest far deeper than Python's stack allows,
and ``t1 = t0 + t0``, ``t2 = t1 + t1``, ... doubles in size with every line. The stability checks work on
the written-out formula, so both are measured here, without writing it out, before anything walks it.
"""

from __future__ import annotations

from .diagnostics import Diagnostic
from .formula import Formula
from .parser import MAX_NESTING  # noqa: F401  (the limits below are stated in its terms)

#: Documented limits (docs/reliability.md). One statement can be 2 * MAX_NESTING + 1 sympy levels deep
#: (a - (b - (...)) is an Add and a Mul a level); sympy's assumption queries recurse about five Python
#: frames a level, so 160 levels stay well inside Python's default recursion limit of 1,000.
MAX_EXPANDED_DEPTH = 160
MAX_EXPANDED_NODES = 20_000  # a statement within MAX_TOKENS has at most ~8,000


def expanded_extent_problems(formula: Formula) -> list[Diagnostic]:
    """E106 / E107 for the first named term (or the loss) whose written-out form is too deep or too large."""
    known: dict = {}  # term symbol -> (depth, size) of its written-out definition
    statements = [(name, formula.term_symbol(name), definition) for name, definition in formula.terms.items()]
    for name, symbol, definition in [*statements, (None, None, formula.expr)]:
        depth, size = _extent(definition, known, {})
        what = f"term '{name}'" if name else "the loss"
        span = formula.span_of(definition)
        if depth > MAX_EXPANDED_DEPTH:
            return [Diagnostic("E106", f"with the named terms it uses written out, {what} is nested {depth:,} "
                                       f"levels deep; the limit is {MAX_EXPANDED_DEPTH}", span,
                               "a term is as deep as the terms inside it: shorten the chain of terms")]
        if size > MAX_EXPANDED_NODES:
            return [Diagnostic("E107", f"with the named terms it uses written out, {what} has {size:,} nodes; "
                                       f"the limit is {MAX_EXPANDED_NODES:,}", span,
                               "every use of a term copies it: use large terms fewer times")]
        known[symbol] = (depth, size)
    return []


def _extent(root, known: dict, memo: dict) -> tuple[int, int]:
    """(depth, node count) of ``root`` with term symbols counted as their definitions.

    Iterative: this is the check that keeps every later (recursive) walk inside Python's stack, so it must
    not rely on the parser's estimate of a statement's depth.
    """
    todo = [(root, False)]
    while todo:
        node, children_done = todo.pop()
        if node in known or node in memo:
            continue
        if not node.args:
            memo[node] = (1, 1)
        elif children_done:
            extents = [known[arg] if arg in known else memo[arg] for arg in node.args]
            memo[node] = (1 + max(d for d, _ in extents), 1 + sum(s for _, s in extents))
        else:
            todo.append((node, True))
            todo.extend((arg, False) for arg in node.args)
    return known[root] if root in known else memo[root]
