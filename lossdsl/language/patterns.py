"""Patterns over a model's variables (SPEC §5.2): matching paths, and where a collection may stand.

A pattern is a reference path with wildcards: ``*`` and ``?`` inside a component match as in a shell
glob (``conv*``, ``block?_*``), a component ``*`` is any one layer, ``**`` any number of layers (none
too). The last component matches the variable's name. A collection (a pattern, or an elementwise
expression of one) may stand only inside a reduction without ``axis`` (``norm(**.kernel)``), which
reduces over every entry of every member (``grad(f, **.kernel)`` is a collection too: one gradient per
member); a comprehension (``sum(e for W in P)``) takes one member at a
time. Anywhere else one tensor is needed, and :func:`collection_problems` says so.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Iterable

import sympy

from .diagnostics import Diagnostic
from .kinds import kind_of, tensor_args
from .kinds.base import elementwise_shape
from .kinds.collections import Comprehension
from .kinds.gradients import Gradient
from .nodes import Norm, ReduceMax, ReduceMean, ReduceMin, ReduceSum

#: The reductions that may take a collection (without axis): they reduce over every member's entries.
POOLING = (ReduceSum, ReduceMean, ReduceMax, ReduceMin, Norm)
_COMPONENT = re.compile(r"`[^`]*`|[^.]+")
ANY_DEPTH = "**"


def is_glob(part) -> bool:
    return isinstance(part, str) and ("*" in part or "?" in part)


def path_parts(text: str) -> tuple[str, ...]:
    """The components of a dotted path as written (``a.`b-1`.c`` -> ``a``, ```b-1```, ``c``)."""
    return tuple(_COMPONENT.findall(text))


def matches(pattern: tuple, path: tuple) -> bool:
    """Whether ``path`` (layer names, then a variable name) matches ``pattern``'s components.

    >>> matches(("**", "kernel"), ("block1", "conv", "kernel")), matches(("*", "kernel"), ("block1", "conv", "kernel"))
    (True, False)
    >>> matches(("conv*", "kernel"), ("conv2", "kernel")), matches(("encoder", "**", "bias"), ("encoder", "bias"))
    (True, True)
    """
    if not pattern:
        return not path
    head, rest = pattern[0], pattern[1:]
    if head == ANY_DEPTH:  # no layer, or one more layer (never the variable itself: rest names that)
        return matches(rest, path) or (len(path) > 1 and matches(pattern, path[1:]))
    return bool(path) and _component_matches(head, path[0]) and matches(rest, path[1:])


def _component_matches(part, name) -> bool:
    if isinstance(part, int):  # L<i> inside a pattern is a name: patterns match names
        part = f"L{part}"
    if part.startswith("`"):
        return part[1:-1] == name
    return fnmatch.fnmatchcase(str(name), part) if is_glob(part) else part == name


def table_members(pattern: tuple, table: dict) -> list[str]:
    """The keys of a shapes table that a pattern matches, in the table's order (targets never match)."""
    return [key for key in table if key not in ("y_true", "y_pred") and matches(pattern, _unquoted(path_parts(key)))]


def _unquoted(parts: Iterable[str]) -> tuple[str, ...]:
    return tuple(part[1:-1] if part.startswith("`") else part for part in parts)


class Members(tuple):
    """The member texts of one pattern, in model order: what a reference-shapes table holds for a pattern."""


def snapshot_twin(symbol: sympy.Symbol) -> sympy.Symbol:
    """The symbol of ``initial(x)`` for the symbol of ``x``: a pattern's snapshot pattern (``initial(**.kernel)``),
    a loop variable's snapshot (``initial(W)``). Substituting a member for ``x`` substitutes its snapshot for
    the twin, so ``W - initial(W)`` pairs each variable with its own snapshot."""
    return type(symbol)(f"initial({symbol.name})", real=True)


def member_substitution(stands_for: sympy.Symbol, member: str) -> dict:
    """What ``stands_for`` (a pattern or a loop variable) and its snapshot twin become for one member."""
    from .formula import reference_symbol
    return {stands_for: reference_symbol(member), snapshot_twin(stands_for): reference_symbol(f"initial({member})")}


def collection_key(symbol: sympy.Symbol) -> str:
    """The variables a collection symbol stands for: a snapshot pattern pairs with its own pattern."""
    name = symbol.name
    return name[len("initial("):-1] if name.startswith("initial(") else name


def base_collection(carried: frozenset) -> sympy.Symbol:
    """Of a pattern and its snapshot pattern carried together, the pattern (the snapshot follows it)."""
    return min(carried, key=lambda symbol: (symbol.name.startswith("initial("), symbol.name))


def carried_patterns(node, patterns) -> frozenset:
    """The pattern symbols (of ``patterns``) that ``node`` stands for member-wise: not yet reduced by a
    reduction without axis, nor iterated by a comprehension."""
    if node.is_Symbol:
        return frozenset((node,)) if node in patterns else frozenset()
    if not node.args or isinstance(node, (sympy.Tuple, Comprehension, *POOLING)):
        return frozenset()
    return frozenset().union(*(carried_patterns(arg, patterns) for arg in tensor_args(node)))


def carried_substitution(node, substitution: dict):
    """``node`` with ``substitution`` (a pattern and its snapshot twin -> one member) applied where the
    pattern is carried (see :func:`carried_patterns`): a comprehension or reduction inside reduces its own
    collections (``grad(sum(e for V in P), P)`` iterates all of P inside, whatever member the gradient is of)."""
    if node in substitution:
        return substitution[node]
    if not node.args or isinstance(node, (sympy.Tuple, Comprehension, *POOLING)):
        return node
    args = [carried_substitution(arg, substitution) for arg in node.args]
    return node if all(a is b for a, b in zip(args, node.args)) else node.func(*args, evaluate=False)


# ------------------------------------------------------------------ where a collection may stand
def collection_problems(formula) -> list[Diagnostic]:
    """A diagnostic wherever a collection stands where one tensor is needed (E231), or two are mixed (E232)."""
    patterns = {ref.symbol: text for text, ref in formula.references.items() if ref.pattern}
    if not patterns:
        return []
    walker = _CollectionWalker(formula, patterns)
    for expr in [*formula.terms.values(), formula.expr]:
        walker.needs_one_tensor(expr, walker.carried(expr))
    return walker.problems


class _CollectionWalker:
    def __init__(self, formula, patterns: dict):
        self.formula, self.patterns = formula, patterns
        self.problems: list[Diagnostic] = []
        self.memo: dict = {}

    def carried(self, node) -> frozenset:
        """The patterns whose members ``node`` still stands for (unreduced), reporting misuses below it."""
        if node not in self.memo:
            self.memo[node] = self._carried(node)
        return self.memo[node]

    def _carried(self, node) -> frozenset:
        if node.is_Symbol:
            return frozenset((node,)) if node in self.patterns else frozenset()
        if not node.args or isinstance(node, sympy.Tuple):
            return frozenset()
        if isinstance(node, Comprehension):
            self.needs_one_tensor(node.body, self.carried(node.body))
            return frozenset()
        if isinstance(node, Gradient):  # member-wise in x (one gradient per member); f is one tensor
            self.needs_one_tensor(node.args[0], self.carried(node.args[0]))
            return self.carried(node.args[1])
        carried = [self.carried(arg) for arg in tensor_args(node)]
        if isinstance(node, POOLING):
            inner = frozenset().union(*carried)
            if inner and node.args[-1] != sympy.Tuple():
                self.report(node, "E231", f"{self.named(inner)} is a collection: a reduction over it takes no axis",
                            "reduce over every entry (drop axis=), or iterate: sum(f(W) for W in P)")
            elif len({collection_key(symbol) for symbol in inner}) > 1:
                self.report(node, "E232", f"one reduction over two collections ({self.named(inner)}): "
                            "their members do not pair up", "reduce each on its own: sum(...) + sum(...)")
            return frozenset()
        if _is_elementwise(node):
            return frozenset().union(*carried)
        for arg, inner in zip(tensor_args(node), carried):
            self.needs_one_tensor(arg, inner)
        return frozenset()

    def needs_one_tensor(self, node, carried: frozenset) -> None:
        if carried:
            self.report(node, "E231", f"{self.named(carried)} is a collection where one tensor is needed",
                        "reduce it (sum(...), norm(...), max(...)) or iterate: sum(f(W) for W in "
                        f"{self.patterns[next(iter(carried))]})")

    def named(self, carried) -> str:
        return " and ".join(sorted(f"'{self.patterns[symbol]}'" for symbol in carried))

    def report(self, node, code: str, message: str, hint: str) -> None:
        self.problems.append(Diagnostic(code, message, self.formula.span_of(node), hint))


def _is_elementwise(node) -> bool:
    kind = kind_of(type(node))
    if kind is None:
        return False
    return kind.shape is elementwise_shape or any(spec.shape_rule == "elementwise" and spec.implementation
                                                  for spec in kind.calls)
