"""A formula's collections made explicit once their members are known (SPEC §5.2).

A pattern's members come from the model (``resolve``) or from the keys of a shapes table that it
matches (:func:`table_members`). :func:`expand_members` then rewrites every reduction of a collection
and every comprehension into a pooled reduction over one expression per member, so that lowering sees
only tensors it can read: ``sum(square(**.kernel))`` becomes ``PooledSum(k1**2, ..., kn**2)``,
``norm(**.kernel)`` the global norm ``PooledNorm(k1, ..., kn)``, ``mean(e for W in P)`` the mean of the
members' ``mean(e)``.
"""

from __future__ import annotations

import dataclasses

import sympy
from sympy import Tuple

from ..language import nodes
from ..language.diagnostics import Diagnostic
from ..language.formula import SNAPSHOT, Formula, Reference, reference_symbol, term_symbol
from ..language.kinds.collections import Comprehension
from ..language.patterns import (POOLING, Members, base_collection, carried_patterns, member_substitution, path_parts,
                                table_members)

LISTED = 8


def with_table_members(formula: Formula, table: dict) -> tuple[dict, list[Diagnostic]]:
    """The shapes table with each pattern's matching keys as its :class:`Members`; E230 for a pattern
    that matches no key. A table states members by their own keys: ``**.kernel`` matches
    ``"conv1.kernel"`` and ``"block.conv.kernel"``, in the table's order."""
    given, table, problems = table, dict(table), []
    for text, reference in formula.references.items():
        if reference.pattern:
            keys = table_members(reference.path, given)
            if keys and reference.role == SNAPSHOT:  # initial(P): each member's snapshot, of the member's shape
                table[text] = Members(f"initial({key})" for key in keys)
                table.update({f"initial({key})": given[key] for key in keys})
            elif keys:
                table[text] = Members(keys)
            else:
                named = [key for key in given if key not in ("y_true", "y_pred")]
                shown = ", ".join(named[:LISTED]) + (", ..." if len(named) > LISTED else "")
                problems.append(Diagnostic("E230", f"'{text}' matches no entry of the shapes table", reference.span,
                                           f"the table names: {shown or 'nothing'}"))
    return table, problems


def members_of(reference_shapes: dict | None) -> dict[str, Members]:
    """{pattern text: its members} from a reference-shapes dict."""
    return {text: shape for text, shape in (reference_shapes or {}).items() if isinstance(shape, Members)}


def expand_members(formula: Formula, members: dict[str, Members]) -> Formula:
    """``formula`` with every collection reduced over its explicit members (see the module docstring)."""
    if not members:
        return formula
    expander = _Expander(formula, members)
    with sympy.evaluate(False):
        terms, renamed = {}, {}
        for name, definition in formula.terms.items():
            terms[name] = expander.expand(definition).xreplace(renamed)
            old, new = term_symbol(name, definition), term_symbol(name, terms[name])
            if old != new:  # the symbol says whether the term is non-negative: keep uses in step
                renamed[old] = new
        expr = expander.expand(formula.expr).xreplace(renamed)
    references = {text: ref for text, ref in formula.references.items() if not ref.pattern}
    for text, ref in formula.references.items():
        for member in members.get(text, ()) if ref.pattern else ():
            variable = member[len("initial("):-1] if ref.role == SNAPSHOT else member
            references.setdefault(member, Reference(member, path_parts(variable), ref.span, ref.role))
    return dataclasses.replace(formula, expr=expr, terms=terms, references=references,
                               spans={**formula.spans, **expander.spans})


class _Expander:
    def __init__(self, formula: Formula, members: dict[str, Members]):
        self.formula = formula
        self.members = {formula.references[text].symbol: found for text, found in members.items()
                        if text in formula.references}
        self.symbols = {symbol: [reference_symbol(m) for m in found] for symbol, found in self.members.items()}
        self.memo: dict = {}
        self.spans: dict = {}

    def expand(self, node):
        if node not in self.memo:
            self.memo[node] = made = self._expand(node)
            if made is not node:
                self.spans.setdefault(made, self.formula.span_of(node))
        return self.memo[node]

    def _expand(self, node):
        if node.is_Atom or isinstance(node, Tuple):
            return node
        if isinstance(node, Comprehension):
            body = self.expand(node.body)  # inner collections first: the substitution below is then the loop's own
            return _over_members(type(node).how, [body.xreplace(member_substitution(node.variable, m))
                                                  for m in self.members.get(node.pattern, ())])
        if isinstance(node, POOLING):
            carried = carried_patterns(node.args[0], self.symbols)
            if carried:
                # one collection per reduction (a pattern with its snapshots): checked when the formula was built
                pattern = base_collection(carried)
                inner = self.expand(node.args[0])
                return _pooled(node, [inner.xreplace(member_substitution(pattern, m)) for m in self.members[pattern]])
        args = [self.expand(arg) for arg in node.args]
        return node if all(a is b for a, b in zip(args, node.args)) else node.func(*args, evaluate=False)


def _pooled(node, parts: list):
    """A reduction without axis over every entry of every part."""
    if isinstance(node, nodes.Norm):
        order = node.args[1]
        if order == 2:
            return nodes.PooledNorm(*parts, evaluate=False)
        absolute = [sympy.Abs(part, evaluate=False) for part in parts]
        return (nodes.PooledMax if order == sympy.oo else nodes.PooledSum)(*absolute, evaluate=False)
    pooled = {nodes.ReduceSum: nodes.PooledSum, nodes.ReduceMean: nodes.PooledMean,
              nodes.ReduceMax: nodes.PooledMax, nodes.ReduceMin: nodes.PooledMin}[type(node)]
    return pooled(*parts, evaluate=False)


def _over_members(how: str, bodies: list):
    """A comprehension's value: each member's ``e`` reduced the same way (sum of sums, mean of means, ...)."""
    if how == "mean":
        means = [nodes.ReduceMean(body, Tuple(), evaluate=False) for body in bodies]
        total = means[0] if len(means) == 1 else sympy.Add(*means, evaluate=False)
        return total if len(means) == 1 else sympy.Mul(sympy.Rational(1, len(means)), total, evaluate=False)
    pooled = {"sum": nodes.PooledSum, "max": nodes.PooledMax, "min": nodes.PooledMin}[how]
    return pooled(*bodies, evaluate=False)
