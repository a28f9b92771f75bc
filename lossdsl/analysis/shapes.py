"""Static shapes over a formula: broadcasting, @, .T, reductions, indexing; the loss must be a scalar.

A shape is a tuple of dimensions, ``None`` for a dimension not known statically (the batch), or the
whole shape ``None`` when not even the rank is known. Problems are collected, never raised.
"""

from __future__ import annotations

import difflib
import itertools

import sympy

from ..language import functions, nodes
from ..language.calls import INVALID
from ..language.diagnostics import Diagnostic
from ..language.constant_parts import CREATED_HINT, LIMIT_TEXT, MAX_CREATED_ENTRIES
from ..language.formula import IDENTITY, Formula, term_symbol

Shape = tuple | None
SCALAR: tuple = ()


class ShapeError(Exception):
    """Raised inside one rule; turned into a diagnostic at the node's span by the walker."""

    def __init__(self, code: str, message: str, hint: str | None = None, part: str | int | None = None):
        super().__init__(message)
        self.code, self.message, self.hint, self.part = code, message, hint, part  # part: see Formula.span_of


SHAPES_EXAMPLE = '{"L1.kernel": [10, 16], "y_pred": [null, 4]}'


def validate_shapes_table(table) -> dict:
    """The table as ``{reference text: shape}``; TypeError naming the first entry that is not one.

    A shape is a list or tuple of non-negative ints (``None`` for an unknown dimension), or ``None``.
    """
    if not isinstance(table, dict):
        raise TypeError(f"shapes must map reference text to a shape, like {SHAPES_EXAMPLE}; "
                        f"got {type(table).__name__}")
    for name, shape in table.items():
        if not isinstance(name, str) or not _is_shape(shape):
            raise TypeError(f"shapes[{name!r}] = {shape!r} is not a shape: expected reference text mapped to a "
                            f"list of non-negative ints or None, like {SHAPES_EXAMPLE}")
    return table


def _is_shape(shape) -> bool:
    return shape is None or isinstance(shape, (list, tuple)) and all(
        d is None or isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape)


def is_scalar(shape: Shape) -> bool:
    """Not known to hold more than one value: () or all ones, or an unknown shape (nothing to report)."""
    return shape is None or all(d == 1 for d in shape)


def describe(shape: Shape) -> str:
    if shape is None:
        return "unknown"
    return "scalar ()" if shape == () else "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def broadcast(*shapes: Shape) -> Shape:
    """numpy broadcasting. A dimension known only at run time (``None``: the batch) agrees with itself and
    with 1; against a fixed size it would work only for one batch size, so it is an error like a mismatch."""
    if any(s is None for s in shapes):
        return None
    result = []
    for dims in itertools.zip_longest(*(reversed(s) for s in shapes), fillvalue=1):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1 or (known and None in dims):
            raise ShapeError("E301", "shapes " + " and ".join(describe(s) for s in shapes) + " do not broadcast",
                             "elementwise operations need equal dimensions, or 1, aligned from the right"
                             if None not in dims else RUN_TIME_DIMENSION_HINT)
        result.append(known.pop() if known else (None if None in dims else 1))
    return tuple(reversed(result))


RUN_TIME_DIMENSION_HINT = ("None is a size known only at run time (the batch); it cannot meet a fixed size: "
                           "reduce over it first, for example mean(y_pred, axis=0)")


def reduce(shape: Shape, axis_option) -> Shape:
    axes = nodes.axis_of(axis_option)
    if axes is None:
        return SCALAR
    if shape is None:
        return None
    rank = len(shape)
    kept = list(range(rank))
    for axis in axes:
        if not -rank <= axis < rank:
            raise ShapeError("E305", f"axis {axis} is out of range for shape {describe(shape)}",
                             f"valid axes are {-rank}..{rank - 1}" if rank else "a scalar has no axes", "axis")
        kept.remove(axis % rank)
    return tuple(shape[i] for i in kept)


def matmul(left: Shape, right: Shape) -> Shape:
    if left is None or right is None:
        return None
    if not left or not right:
        raise ShapeError("E302", "@ needs tensors of rank 1 or more, got a scalar", "use * to scale by a scalar")
    a, b = (left if len(left) > 1 else (1,) + left), (right if len(right) > 1 else right + (1,))
    if a[-1] != b[-2]:  # None against a size is a mismatch too: it would hold for one batch size only
        raise ShapeError("E302", f"{describe(left)} @ {describe(right)}: inner dimensions {a[-1]} and {b[-2]} differ",
                         "transpose one side (.T) or check which variables you multiply" if None not in (a[-1], b[-2])
                         else RUN_TIME_DIMENSION_HINT)
    batch = broadcast(a[:-2], b[:-2])
    return batch + (a[-2],) * (len(left) > 1) + (b[-1],) * (len(right) > 1)


def index(shape: Shape, subscripts) -> Shape:
    if shape is None:
        return None
    if len(subscripts) > len(shape):
        raise ShapeError("E306", f"{len(subscripts)} indices for shape {describe(shape)}",
                         f"this tensor has rank {len(shape)}", len(shape))
    result = []
    for position, (dim, item) in enumerate(zip(shape, subscripts)):
        if isinstance(item, sympy.Tuple):
            bounds = [None if part == nodes.OMITTED else int(part) for part in item]
            if bounds[2] == 0:
                raise ShapeError("E306", "a slice step cannot be zero", "use a step of 1 or more", position)
            result.append(None if dim is None else len(range(dim)[slice(*bounds)]))
        elif dim is not None and not -dim <= int(item) < dim:
            raise ShapeError("E306", f"index {item} is out of range for a dimension of size {dim}",
                             f"valid indices are {-dim}..{dim - 1}", position)
    return tuple(result) + shape[len(subscripts):]


def _transpose(x: Shape) -> Shape:
    if x is not None and len(x) != 2:
        raise ShapeError("E304", f".T needs a matrix, got shape {describe(x)}", "index or reshape to rank 2 first")
    return None if x is None else x[::-1]


def _trace(x: Shape) -> Shape:
    _rank(x, (2,), "trace")
    return SCALAR


def _diag(x: Shape) -> Shape:
    _rank(x, (1, 2), "diag")
    return None if x is None else (x[0], x[0]) if len(x) == 1 else (_min_dim(*x),)


def _min_dim(a, b):
    return None if a is None or b is None else min(a, b)


def _rank(x: Shape, ranks: tuple, name: str) -> None:
    if x is not None and len(x) not in ranks:
        raise ShapeError("E308", f"{name}() needs rank {' or '.join(map(str, ranks))}, got shape {describe(x)}",
                         "check which variable is passed; index it (x[0]) to lower its rank")


def _sparse_labels(labels: Shape, predictions: Shape) -> Shape:
    """sparse_cce: one class index per prediction row, shape (..., ) or (..., 1) for predictions (..., k)."""
    if labels is None or predictions is None:
        return SCALAR
    if len(labels) == len(predictions) and labels and labels[-1] == 1:
        labels = labels[:-1]
    if not predictions:
        raise ShapeError("E308", "sparse_cce() needs predictions with a class axis, got a scalar",
                         "pass the model's probabilities or logits: sparse_cce(y_true, y_pred)")
    if len(labels) != len(predictions) - 1:
        raise ShapeError("E308", f"sparse_cce() needs class indices of shape {describe(predictions[:-1])} for "
                                 f"predictions {describe(predictions)}, got {describe(labels)}",
                         "with one-hot targets of the predictions' shape use cce(y_true, y_pred)")
    broadcast(labels, predictions[:-1])
    return SCALAR


def _pair_to_scalar(x: Shape, y: Shape) -> Shape:
    broadcast(x, y)
    return SCALAR


#: Node class -> rule from the argument shapes (and the node) to the result shape.
RULES = {
    nodes.Norm: lambda node, x: reduce(x, node.args[2]),
    nodes.Transposed: lambda node, x: _transpose(x),
    nodes.MatrixTrace: lambda node, x: _trace(x),
    nodes.Diagonal: lambda node, x: _diag(x),
    nodes.EyeMatrix: lambda node: (int(node.args[0]),) * 2,
    nodes.DotProduct: lambda node, x, y: _pair_to_scalar(x, y),
    nodes.Cosine: lambda node, x, y: _pair_to_scalar(x, y),
    nodes.Index: lambda node, x: index(x, node.args[1]),
}
for _reduction in (nodes.ReduceSum, nodes.ReduceMean, nodes.ReduceMax, nodes.ReduceMin):
    RULES[_reduction] = lambda node, x: reduce(x, node.args[1])


def _fold(rule, shapes):
    result = shapes[0]
    for shape in shapes[1:]:
        result = rule(result, shape)
    return result


class ShapeChecker:
    """Infers the shape of every node of a formula given the shapes of its references."""

    def __init__(self, formula: Formula, reference_shapes: dict):
        self.formula = formula
        self.reference_shapes = reference_shapes
        self.shapes: dict = {}
        self.diagnostics: list[Diagnostic] = []
        self.reported: set = set()

    def run(self) -> dict[str, Shape]:
        """The shapes of every named term and of the loss (key ``""``); problems go to ``diagnostics``."""
        result = {}
        for name, definition in self.formula.terms.items():
            result[name] = self.shape(definition)
            self.shapes[term_symbol(name, definition)] = result[name]
        loss = result[""] = self.shape(self.formula.expr)
        if not is_scalar(loss):
            self.problem(self.formula.expr, "E303", f"the loss has shape {describe(loss)}; it must be a scalar",
                         "reduce it, for example with sum(...), mean(...) or norm(...)")
        return result

    def problem(self, node, code: str, message: str, hint: str | None = None, part: str | int | None = None) -> None:
        if (node, code) not in self.reported:
            self.reported.add((node, code))
            self.diagnostics.append(Diagnostic(code, message, self.formula.span_of(node, part), hint))

    def shape(self, node) -> Shape:
        if node not in self.shapes:
            try:
                self.shapes[node] = self.infer(node)
            except ShapeError as error:
                self.problem(node, error.code, error.message, error.hint, error.part)
                self.shapes[node] = None  # unknown from here on, so one mistake is reported once
        return self.shapes[node]

    def infer(self, node) -> Shape:
        if node.is_Symbol:
            return self.symbol_shape(node)
        if node.is_Number or node.is_NumberSymbol or not node.args:
            return SCALAR
        if isinstance(node, (sympy.Add, sympy.Mul)):
            return self.elementwise_with_identity(node)
        if isinstance(node, nodes.MatrixProduct):
            operands = [arg for arg in node.args if arg != IDENTITY]  # I @ x is x: I takes the size that fits
            if not operands:
                raise _unsized_identity()
            return _fold(matmul, [self.shape(arg) for arg in operands])
        if IDENTITY in self.tensor_args(node):
            raise _unsized_identity()
        arg_shapes = [self.shape(arg) for arg in self.tensor_args(node)]
        rule = RULES.get(type(node))
        if rule is not None:
            return rule(node, *arg_shapes)
        spec = functions.lookup(type(node).__name__)
        if spec is not None and callable(spec.shape_rule):
            return _user_rule(spec, arg_shapes)
        if spec is not None and spec.shape_rule in ("reduce", "pair_to_scalar"):
            return SCALAR if spec.shape_rule == "reduce" else _pair_to_scalar(*arg_shapes)
        if isinstance(node, nodes.SparseCCE):
            return _sparse_labels(*arg_shapes)
        if isinstance(node, nodes.DataLoss):
            return _pair_to_scalar(*arg_shapes)
        return broadcast(*arg_shapes)  # elementwise: sympy's own functions, Pow, and the rest

    @staticmethod
    def tensor_args(node) -> tuple:
        if isinstance(node, nodes.TensorFunction):
            return node.tensors
        return node.args

    def symbol_shape(self, symbol) -> Shape:
        if symbol == IDENTITY:
            raise _unsized_identity()
        if symbol == INVALID:
            return None
        if symbol.name in self.formula.references:
            return self.reference_shape(symbol)
        return SCALAR  # a parameter

    def reference_shape(self, symbol) -> Shape:
        reference = self.formula.references[symbol.name]
        if symbol.name in self.reference_shapes:
            shape = self.reference_shapes[symbol.name]
            return None if shape is None else tuple(shape)
        if reference.is_target:
            return None
        known = [name for name in self.reference_shapes if name not in ("y_true", "y_pred")]
        close = difflib.get_close_matches(symbol.name, known, n=1)
        self.diagnostics.append(Diagnostic(
            "E215", f"no shape is known for '{symbol.name}'", reference.span,
            f"did you mean '{close[0]}'?" if close else
            f"the shapes table names: {', '.join(known[:8]) or 'nothing'}"))
        return None

    def elementwise_with_identity(self, node) -> Shape:
        """Broadcast the arguments; ``I`` (or a scalar multiple: -I, 2*I, a*I) takes the square shape of the others."""
        identities = [self.is_scaled_identity(arg) for arg in node.args]
        others = [self.shape(arg) for arg, identity in zip(node.args, identities) if not identity]
        shape = broadcast(*others) if others else SCALAR
        if any(identities) and shape is not None:
            if shape == SCALAR:
                raise _unsized_identity()
            if len(shape) != 2 or shape[0] != shape[1]:  # (None, 4): square for a batch of 4 only
                raise ShapeError("E307", f"I cannot be sized from {describe(shape)}: it needs a square matrix",
                                 "use eye(n) for an identity of a chosen size")
            if shape[0] is not None and shape[0] ** 2 > MAX_CREATED_ENTRIES:  # lowered as tf.eye(n)
                raise ShapeError("E307", f"I sized from {describe(shape)} would hold {shape[0] ** 2:,} entries; "
                                         f"{LIMIT_TEXT}", CREATED_HINT)
        return shape

    def is_scaled_identity(self, arg) -> bool:
        """``I``, or a product of ``I`` with scalars only: its size comes from what it is added to."""
        if arg == IDENTITY:
            return True
        if not arg.is_Mul:
            return False
        identities = [self.is_scaled_identity(factor) for factor in arg.args]
        return any(identities) and all(identity or self.shape(factor) == SCALAR
                                       for factor, identity in zip(arg.args, identities))


def _unsized_identity() -> ShapeError:
    return ShapeError("E307", "I has no size here",
                      "I takes its size from a square matrix it is added to, subtracted from or multiplied with "
                      "(* or @), as in norm(W.T @ W - I); elsewhere write eye(n)")


def _user_rule(spec, arg_shapes) -> Shape:
    try:
        result = spec.shape_rule(*arg_shapes)
    except Exception as error:  # a user's rule: report it, whatever it raised
        raise ShapeError("E308", f"{spec.name}(): {error}",
                         f"the shape rule registered for {spec.name}() rejected these arguments") from None
    return None if result is None else tuple(result)


def check_shapes(formula: Formula, reference_shapes: dict) -> list[Diagnostic]:
    """Shape diagnostics (E3xx, and E215 for a reference with no known shape).

    >>> import lossdsl
    >>> formula = lossdsl.parse("norm(L1.kernel @ L2.kernel)")
    >>> [(d.code, d.message) for d in check_shapes(formula, {"L1.kernel": [10, 16], "L2.kernel": [10, 4]})]
    [('E302', '(10, 16) @ (10, 4): inner dimensions 16 and 10 differ')]
    """
    checker = ShapeChecker(formula, reference_shapes)
    checker.run()
    return checker.diagnostics


def infer_shapes(formula: Formula, reference_shapes: dict) -> tuple[dict[str, Shape], list[Diagnostic]]:
    """The shape of each named term and of the loss (key ``""``), with the diagnostics found.

    >>> import lossdsl
    >>> formula = lossdsl.parse("g = L1.kernel.T @ L1.kernel\\nnorm(g - I)")
    >>> infer_shapes(formula, {"L1.kernel": [10, 16]})
    ({'g': (16, 16), '': ()}, [])
    """
    checker = ShapeChecker(formula, reference_shapes)
    return checker.run(), checker.diagnostics
