"""The formula builder's methods for collections (SPEC §5.2): a pattern, and a comprehension over one.

The parser reduces a comprehension's body before it reaches ``for W in P``, so the names of loop
variables are found in the text first (as declarations are read first): inside the body ``W`` is then
a :class:`~lossdsl.language.kinds.collections.LoopVariable`, never an implicit parameter. A loop
variable used outside its comprehension is an error (E233).
"""

from __future__ import annotations

import re

from .calls import INVALID
from .kinds.collections import COMPREHENSIONS, LoopVariable
from .formula import SNAPSHOT
from .patterns import path_parts, snapshot_twin
from .snapshots import snapshot_pattern
from .expression_rules import Piece, span_of
from .source import Span

_LOOP = re.compile(r"\bfor\s+([A-Za-z_][A-Za-z0-9_]*)\s+in\b")
_COMMENT = re.compile(r"#[^\n]*")


class CollectionReductions:
    """Mixed into the formula builder beside ExpressionRules: ``pattern`` and ``comprehension`` are grammar aliases."""

    def find_loop_variables(self, lexed: str) -> None:
        self.loop_names = set(_LOOP.findall(_COMMENT.sub("", lexed))) if "for" in lexed else set()
        self.loop_uses: list[tuple[str, Span]] = []
        self.loop_scopes: list[tuple[str, Span]] = []

    def loop_variable(self, name: str, span: Span) -> LoopVariable:
        self.loop_uses.append((name, span))
        return self.located(LoopVariable(name, real=True), span)

    def pattern(self, children) -> Piece:
        token = children[0]
        span, text = span_of(token), str(token)
        parts = path_parts(text)
        if len(parts) < 2:
            return Piece(self.report("E230", f"'{text}' is a pattern of layers, not of variables", span,
                                     f"name the variable too: {text}.kernel"), span)
        if parts[-1] == "T":
            return Piece(self.report("E231", f"'{text}' transposes a collection", span,
                                     f"iterate: sum(f(W.T) for W in {'.'.join(parts[:-1])})"), span)
        # a pattern's reference (**.kernel) stands for every variable it matches
        return Piece(self.reference(list(parts), span, text=text, pattern=True), span)

    def comprehension(self, children) -> Piece:
        name, _open, body, _for, variable, _in, iterable, closing = children
        span = Span(name.start_pos, closing.end_pos)
        levels = max(body.levels, iterable.levels)
        self.loop_scopes.append((str(variable), body.span))
        cls = COMPREHENSIONS.get(str(name))
        if cls is None:
            return Piece(self.report("E231", f"'{name}(... for ...)': only sum, mean, max and min reduce a "
                                     "comprehension", span_of(name), "write sum(e for W in P), or mean, max, min"),
                         span, levels)
        source = self.value(iterable)
        if source is INVALID:  # already reported
            return Piece(source, span, levels)
        reference = self.references.get(getattr(source, "name", None))
        if reference is None or not reference.pattern:
            return Piece(self.report("E231", "a comprehension iterates over a pattern", iterable.span,
                                     "write a path with wildcards, for example: for W in **.kernel"), span, levels)
        if str(variable) in self.params and self.params[str(variable)].declared:
            self.report("E233", f"'{variable}' is a declared parameter and cannot be a loop variable",
                        span_of(variable), "give the loop variable another name")
        loop = LoopVariable(str(variable), real=True)
        value = self.value(body)
        if snapshot_twin(loop) in value.free_symbols:  # initial(W): the members' snapshots are references too
            if reference.role == SNAPSHOT:
                self.report("E222", f"initial({variable}): '{variable}' is a snapshot already, constant",
                            iterable.span, f"iterate over the variables: for {variable} in {reference.variable_text}")
            else:
                snapshot_pattern(self.references, reference, iterable.span)
        node = cls(value, loop, source, evaluate=False)
        return Piece(self.located(node, span), span, levels)

    def loop_variables_out_of_scope(self) -> None:
        """E233 for a loop variable's name used outside every comprehension over it."""
        for name, span in self.loop_uses:
            if not any(name == bound and scope.start <= span.start and span.end <= scope.end
                       for bound, scope in self.loop_scopes):
                self.report("E233", f"'{name}' is a comprehension's variable, used outside it", span,
                            f"use it inside f(...) for {name} in P, or rename the parameter")
