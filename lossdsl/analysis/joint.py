"""Bounded below jointly in everything training moves (SPEC §5.9): W401 naming a path, I401 for data losses.

The per-parameter analysis (stability.py) proves boundedness one parameter at a time with every tensor
block fixed. Here all trainable parameters and every block built from trainable weights move together
along rays (rays.py). The summands are first split into groups that share nothing that moves: the loss
is unbounded below iff one group is, and a group whose summands are each bounded below (ranges with
blocks allowed to reach 0) needs no ray at all, which is the common case and costs microseconds.

Two passes per group: rays that keep every data loss away from 0 (a fall there is W401), then rays on
which a data loss goes to 0 (a fall that needs a perfect fit is the note I401).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import sympy

from ..language import nodes
from ..language import kinds
from ..language.kinds import kind_of
from ..language.diagnostics import Diagnostic
from ..language.formula import Formula, Parameter
from .asymptotics import End, Expander
from .ranges import RangeFinder
from .rays import Coordinate, describe_direction, directions, falls_along

#: Keras' non-trainable layer variables: without a model to ask, these names stay fixed like constants.
NONTRAINABLE_VARIABLES = {"moving_mean", "moving_variance"}
_SEARCHED: dict = {}  # shape of a group -> (code, direction) of its falling ray, or None
_NOT_SEARCHED = object()
#: Positively homogeneous besides the linear kinds: max(c*W) = c*max(W) for c > 0, |c*W| = c*|W|.
HOMOGENEOUS = (sympy.Abs, nodes.ReduceMax, nodes.ReduceMin, nodes.Maximum, nodes.Minimum, nodes.Relu)


class JointFinding(NamedTuple):
    diagnostic: Diagnostic
    moved: frozenset  # names of the parameters on the path


def joint_findings(formula: Formula, summands: list, params: dict, finder: RangeFinder,
                   strict: RangeFinder) -> list[JointFinding]:
    """W401 (a path along which the loss falls) or I401 (only with a data loss at 0) for each group."""
    trainable = {symbol: p for symbol, p in params.items() if p.trainable}
    if all(finder.of(s).lo > -math.inf for s in summands):
        return []  # every summand is bounded below even with blocks at 0: nothing can fall
    space = _Space(formula, trainable, finder)
    summands = [space.normalized(s) for s in summands]
    found = []
    for group in _groups(summands, space):
        if all(finder.of(s).lo > -math.inf for s in group):
            continue
        coordinates = sorted({c for s in group for c in space.coordinates_of(s)}, key=space.order)
        # Only a ray that moves something in a summand without a lower bound can fall.
        falling = {c for s in group if finder.of(s).lo == -math.inf for c in space.coordinates_of(s)}
        key = _shape(group, coordinates, space, strict)
        result = _SEARCHED.get(key, _NOT_SEARCHED)  # one read: another thread may clear the memo meanwhile
        if result is _NOT_SEARCHED:
            result = _search(group, coordinates, [c in falling for c in coordinates], strict, space.scalars)
            if len(_SEARCHED) >= 10_000:
                _SEARCHED.clear()
            _SEARCHED[key] = result
        if result:
            code, direction = result
            found.append(_finding(code, coordinates, direction, space))
    return found


def _shape(group: list, coordinates: list[Coordinate], space: _Space, strict: RangeFinder) -> tuple:
    """The group's structure with each symbol and block replaced by its number, range and coordinate kind.

    The search sees an atom only through these, so groups of equal shape have equal results: formulas that
    differ in layer or parameter names search once (the coordinates are numbered as the atoms are).
    """
    atoms: dict = {}

    def walk(node: sympy.Basic) -> tuple:
        if node.is_Number:
            return (float(node),)
        if node.is_Symbol or (isinstance(node, nodes.TensorFunction) and not space.moves(node)):
            coordinate = space.block(node) if isinstance(node, nodes.TensorFunction) else \
                _parameter_coordinate(space.trainable[node]) if node in space.trainable else None
            kind = coordinate and (coordinate.kind, coordinate.lower, coordinate.upper)
            return (atoms.setdefault(node, len(atoms)), strict.of(node), kind)
        return (type(node), *(walk(arg) for arg in node.args))

    summands = tuple(walk(summand) for summand in group)
    return summands, tuple(atoms[c.node] for c in coordinates)


def _search(group: list, coordinates: list[Coordinate], falling: list[bool], strict: RangeFinder,
            scalars: frozenset) -> tuple[str, tuple] | None:
    """(code, direction) of the first ray on which the loss falls, W401 before I401; None if none falls."""
    data = [i for i, c in enumerate(coordinates) if c.kind == "data"]
    moves_falling = [i for i, f in enumerate(falling) if f]
    passes = [("W401", lambda d: all(d[i] >= 0 for i in data) and any(d[i] for i in moves_falling))]
    if data:
        passes.append(("I401", lambda d: any(d[i] < 0 for i in data) and any(d[i] for i in moves_falling)))
    for code, allowed in passes:
        for direction in directions(coordinates, allowed):
            if falls_along(group, coordinates, direction, strict, scalars):
                return code, direction
    return None


def _finding(code: str, coordinates: list[Coordinate], direction: tuple, space: _Space) -> JointFinding:
    path = describe_direction(coordinates, direction)
    moving = [c for c, d in zip(coordinates, direction) if d]
    params = [space.trainable[c.node] for c in moving if not c.is_block]
    span = params[0].span if params else space.formula.span_of(moving[0].node)
    first = params[0].name if params else None
    if code == "I401":
        zero = next(c.label for c, d in zip(coordinates, direction) if c.kind == "data" and d < 0)
        message = f"the loss is bounded below only while {zero} > 0: it tends to -inf as {path}" \
                  f"{_others(coordinates, direction)}"
        hint = "harmless unless the data can be fitted exactly; to keep the loss bounded even then, add a " \
               f"small penalty that grows along the path, such as 0.1*{first}**2" if first else \
               "harmless unless the data can be fitted exactly"
    else:
        message = f"the loss is unbounded below: it tends to -inf as {path}{_others(coordinates, direction)}"
        hint = f"add a term that grows along this path (such as 0.1*{first}**2), weight the falling terms by " \
               f"something bounded (sigmoid, softmax), or make '{first}' const" if first else _block_hint(coordinates, direction)
    return JointFinding(Diagnostic(code, message, span, hint), frozenset(p.name for p in params))


def _block_hint(coordinates: list[Coordinate], direction: tuple) -> str:
    block = next(c.label for c, d in zip(coordinates, direction) if d)
    still = [c.label for c, d in zip(coordinates, direction) if not d and not c.is_block]
    if still:
        return f"the weight of {block} can be negative: make it non-negative (exp, sigmoid, softplus, or " \
               f"where {still[0]}: positive)"
    return f"nothing stops {block}: penalize it with a term that grows faster (norm(W)**2 beats norm(W)), " \
           "or drop the negative weight"


def _others(coordinates: list[Coordinate], direction: tuple) -> str:
    """The parameters that stay put on the path: their value matters (``a*norm(W)`` falls for a < 0)."""
    still = [c.label for c, d in zip(coordinates, direction) if not d and not c.is_block]
    return f" (for some value of {', '.join(still)})" if still else ""


def _groups(summands: list, space: _Space) -> list[list]:
    """Summands joined when they share a coordinate (union-find over coordinates), in formula order."""
    parent: dict = {}

    def root(c):
        while parent.setdefault(c, c) != c:
            c = parent[c]
        return c

    members = [space.coordinates_of(s) for s in summands]
    for coordinates in members:
        for c in coordinates[1:]:
            parent[root(c)] = root(coordinates[0])
    groups: dict = {}
    for summand, coordinates in zip(summands, members):
        if coordinates:
            groups.setdefault(root(coordinates[0]), []).append(summand)
    return list(groups.values())


class _Space:
    """The coordinates of a formula: its trainable parameters and the blocks training moves."""

    def __init__(self, formula: Formula, trainable: dict, finder: RangeFinder):
        self.formula, self.trainable, self.finder = formula, trainable, finder
        self.scalars = frozenset(trainable)
        self.references = {ref.symbol: ref for ref in formula.references.values()}
        self.blocks: dict = {}  # node -> Coordinate, or None for a fixed block
        self.memo: dict = {}
        self.positions: dict = {}
        # Pulls scalars out of linear tensor operations: sum(a*W) = a*sum(W), norm(a*W) = |a|*norm(W).
        self.factoring = Expander(sympy.Dummy(), End(math.inf, -1), self.moves, finder.of, self.scalars)

    def moves(self, node: sympy.Basic) -> bool:
        return bool(node.free_symbols & self.scalars)

    def order(self, c: Coordinate) -> tuple:
        """Parameters in declaration order, then blocks as first met."""
        if not c.is_block:
            return (0, list(self.trainable).index(c.node), "")
        return (1, self.positions[c.node], "")

    def normalized(self, node: sympy.Basic) -> sympy.Basic:
        """``node`` with scalars pulled out of linear tensor operations and stop(...) of parameters frozen."""
        if not node.args or not self.moves(node):
            return node
        if isinstance(node, nodes.StopGradient):
            return _frozen(node, self.finder)
        args = [self.normalized(arg) for arg in node.args]
        # rebuilt only when an argument changed: sympy re-evaluates (and re-sorts) every node it builds
        found = node if all(new is old for new, old in zip(args, node.args)) else node.func(*args)
        if isinstance(found, nodes.TensorFunction):  # factor_out lets scalars out of linear ones only
            factor, rest = self.factoring.factor_out(found)
            if factor is not None:
                return factor * rest
        return found

    def coordinates_of(self, summand: sympy.Basic) -> list[Coordinate]:
        if summand not in self.memo:
            found: dict = {}
            self._collect(summand, found)
            self.memo[summand] = list(found)
        return self.memo[summand]

    def _collect(self, node: sympy.Basic, found: dict) -> None:
        if node in self.trainable:
            found[_parameter_coordinate(self.trainable[node])] = None
        elif isinstance(node, nodes.TensorFunction) and not self.moves(node):
            coordinate = self.block(node)
            if coordinate is not None:
                found[coordinate] = None
        else:
            for arg in node.args:
                self._collect(arg, found)

    def block(self, node: sympy.Basic) -> Coordinate | None:
        if node not in self.blocks:
            self.positions.setdefault(node, len(self.positions))
            self.blocks[node] = self._classify(node)
        return self.blocks[node]

    def _classify(self, node: sympy.Basic) -> Coordinate | None:
        """A coordinate for a block training can move over [0, +inf] or the whole line; None if fixed."""
        refs = [self.references[s] for s in node.free_symbols if s in self.references]
        roots = {ref.path[0] for ref in refs}
        data = isinstance(node, nodes.DataLoss) or {"y_true", "y_pred"} <= roots
        moved = "y_pred" in roots or any(not ref.is_target and ref.path[-1] not in NONTRAINABLE_VARIABLES
                                         for ref in refs)
        values = self.finder.of(node)
        # Training reaches 0 and +inf of a block by scaling its weights (W -> c*W), which moves a block that is
        # homogeneous in them (norms, sums, squares, @); sum(sin(W)) or softmax stay bounded however W moves.
        if not moved or values.hi < math.inf or not (data or self._scalable(node)):
            return None
        span = self.formula.spans.get(node)
        label = self.formula.source[span.start:span.end] if span else _written(node)
        if values.lo >= 0:
            return Coordinate(node, "data" if data else "weights", label)
        return Coordinate(node, "signed", label) if values.lo == -math.inf else None


    def _scalable(self, node: sympy.Basic) -> bool:
        """Whether scaling the trainable weights scales ``node`` (a positively homogeneous function of them)."""
        if node.is_Symbol:
            return node in self.references and not self.references[node].path[0] == "y_true"
        if node.is_Number or isinstance(node, nodes.StopGradient):
            return False
        if node.is_Pow:
            return node.exp.is_Number and node.exp > 0 and self._scalable(node.base)
        if node.is_Mul:
            return all(arg.is_Number or self._scalable(arg) for arg in node.args)
        kind = kind_of(type(node))
        homogeneous = node.is_Add or isinstance(node, HOMOGENEOUS) or (
            kind is not None and kind.asymptotic in (kinds.LINEAR, kinds.ABSOLUTELY_LINEAR))
        arguments = node.tensors if isinstance(node, nodes.TensorFunction) else node.args
        return homogeneous and all(self._scalable(arg) for arg in arguments)


def _parameter_coordinate(param: Parameter) -> Coordinate:
    if param.kind == "interval":
        return Coordinate(param.symbol, "interval", param.name, param.lower, param.upper)
    return Coordinate(param.symbol, "real" if param.kind == "real" else "positive", param.name)


def _frozen(node: sympy.Basic, finder: RangeFinder) -> sympy.Symbol:
    """A symbol for ``stop(x)``: a constant for training, with the sign of its value."""
    values = finder.of(node)
    return sympy.Dummy(positive=True) if values.positive else sympy.Dummy(nonnegative=True) \
        if values.nonnegative else sympy.Dummy(negative=True) if values.negative else sympy.Dummy(real=True)


def _written(node: sympy.Basic) -> str:
    """A block built by the analysis (norm(a*W) gave |a|*norm(W)) in the formula language, near enough."""
    kind = kind_of(type(node))
    name = kind.calls[0].name if kind is not None and kind.calls else type(node).__name__.lower()
    return f"{name}({', '.join(str(arg) for arg in node.tensors)})"
