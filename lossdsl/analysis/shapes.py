"""Static shapes over a formula: every node's shape from its kind's shape rule; the loss must be a scalar.

A shape is a tuple of dimensions, ``None`` for a dimension not known statically (the batch), or the
whole shape ``None`` when not even the rank is known (the algebra: :mod:`lossdsl.language.shape_algebra`).
The rules raise what they find; this walker collects it as diagnostics and goes on.
"""

from __future__ import annotations

import difflib

import sympy

from ..language.calls import INVALID
from ..language.catalogue import IDENTITY_NOT_SQUARE, IDENTITY_TOO_LARGE, IDENTITY_WITHOUT_SIZE
from ..language.diagnostics import Diagnostic
from ..language.constant_parts import CREATED_LIMIT, MAX_CREATED_ENTRIES
from ..language.findings import Finding
from ..language.formula import IDENTITY, Formula, term_symbol
from ..language.kinds import kind_of, tensor_args
from ..language.kinds.collections import Comprehension
from ..language.patterns import (POOLING, base_collection, carried_patterns, carried_substitution,
                                 member_substitution)
from ..language.nodes import MatrixProduct
from ..language.shape_algebra import BATCH, SCALAR, Shape, describe, is_scalar, runtime, unmarked

__all__ = ["check_shapes", "describe", "infer_node_shapes", "infer_shapes", "is_scalar", "validate_shapes_table"]

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


class ShapeChecker:
    """Infers the shape of every node of a formula given the shapes of its references.

    ``shapes`` maps every node to its shape with the batch marked (``BATCH``: the leading ``None`` of
    ``y_true`` and ``y_pred``), which the rules treat like any run-time dimension; the lowering reads it to
    find the reductions over the batch. What :meth:`run` returns shows the batch as ``None``.
    """

    def __init__(self, formula: Formula, reference_shapes: dict):
        self.formula = formula
        self.reference_shapes = reference_shapes
        self.shapes: dict = {}
        self.diagnostics: list[Diagnostic] = []
        self.reported: set = set()
        self.patterns = {ref.symbol for ref in formula.references.values() if ref.pattern}

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
        return {name: unmarked(shape) for name, shape in result.items()}

    def problem(self, node, code: str, message: str, hint: str | None = None, part: str | int | None = None) -> None:
        if (node, code) not in self.reported:
            self.reported.add((node, code))
            self.diagnostics.append(Diagnostic(code, message, self.formula.span_of(node, part), hint))

    def shape(self, node) -> Shape:
        if node not in self.shapes:
            try:
                self.shapes[node] = self.infer(node)
            except Finding as error:
                self.problem(node, error.code, error.message, error.hint, error.part)
                self.shapes[node] = None  # unknown from here on, so one mistake is reported once
        return self.shapes[node]

    def infer(self, node) -> Shape:
        if node.is_Symbol:
            return self.symbol_shape(node)
        if node.is_Number or node.is_NumberSymbol or not node.args:
            return SCALAR
        kind = kind_of(type(node))
        if kind is None:
            raise Finding("E201", f"'{type(node).__name__}' is no longer a known function",
                          "register it again with lossdsl.register_function")
        if isinstance(node, Comprehension):
            return self.member_wise(node.body, node.variable, node.pattern, f"{node.variable} = {{}}")
        # (the carried patterns walk the whole argument: once, and only where the formula has patterns)
        carried = carried_patterns(node.args[0], self.patterns) if self.patterns and isinstance(node, POOLING) else None
        if carried:
            pattern = base_collection(carried)
            return self.member_wise(node.args[0], pattern, pattern, f"member {{}} of {pattern}", carried_substitution)
        if isinstance(node, (sympy.Add, sympy.Mul)):
            return self.elementwise_with_identity(node, kind)
        if isinstance(node, MatrixProduct):
            operands = [arg for arg in node.args if arg != IDENTITY]  # I @ x is x: I takes the size that fits
            if not operands:
                raise _unsized_identity()
            return kind.shape(node, *(self.shape(arg) for arg in operands))
        if IDENTITY in tensor_args(node):
            raise _unsized_identity()
        return kind.shape(node, *(self.shape(arg) for arg in tensor_args(node)))

    def symbol_shape(self, symbol) -> Shape:
        if symbol == IDENTITY:
            raise _unsized_identity()
        if symbol == INVALID:
            return None
        if symbol.name in self.formula.references or symbol.name in self.reference_shapes:
            return self.reference_shape(symbol)
        param = self.formula.params.get(symbol.name)
        return param.shape if param is not None else SCALAR

    def member_wise(self, expr, stands_for, pattern, label: str, replace=sympy.Basic.xreplace) -> Shape:
        """Check ``expr`` once per member of ``pattern`` (``stands_for`` replaced by the member, by ``replace``:
        a loop variable everywhere, a pattern where it is carried): a scalar.

        A problem is reported at the whole reduction or comprehension, naming the member.
        """
        for member in self.reference_shapes.get(pattern.name, ()):
            checker = ShapeChecker(self.formula, self.reference_shapes)
            checker.shape(replace(expr, member_substitution(stands_for, member)))
            if checker.diagnostics:
                found = checker.diagnostics[0]
                raise Finding(found.code, f"for {label.format(member)}: {found.message}", found.hint)
        return SCALAR

    def reference_shape(self, symbol) -> Shape:
        reference = self.formula.references.get(symbol.name)
        if symbol.name in self.reference_shapes:
            shape = self.reference_shapes[symbol.name]
            if shape and reference is not None and reference.is_target and shape[0] is None:
                return (BATCH, *shape[1:])
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

    def elementwise_with_identity(self, node, kind) -> Shape:
        """The kind's rule on the arguments but ``I`` and expressions of it with scalars (-I, 2*I, a*I,
        1 - I), which take the square shape of the others: in ``M * (1 - I)`` the identity is M's size."""
        identities = [self.is_identity_expression(arg) for arg in node.args]
        others = [self.shape(arg) for arg, identity in zip(node.args, identities) if not identity]
        shape = kind.shape(node, *others) if others else SCALAR
        if any(identities) and shape is not None:
            if shape == SCALAR:
                raise _unsized_identity()
            # (None, 4): square for a batch of 4 only
            if len(shape) != 2 or (shape[0] != shape[1] and not all(map(runtime, shape))):
                raise Finding(*IDENTITY_NOT_SQUARE.parts(shape=describe(shape)))
            if not runtime(shape[0]) and shape[0] ** 2 > MAX_CREATED_ENTRIES:  # lowered as tf.eye(n)
                raise Finding(*IDENTITY_TOO_LARGE.parts(shape=describe(shape), entries=shape[0] ** 2, **CREATED_LIMIT))
        return shape

    def is_identity_expression(self, arg) -> bool:
        """``I``, or a sum or product of ``I`` with scalars only (2*I, a*I, 1 - I): its size comes from what
        it is added to or multiplied with, which may be further out (``(1 - I) * M``)."""
        if arg == IDENTITY:
            return True
        if not (arg.is_Mul or arg.is_Add):
            return False
        identities = [self.is_identity_expression(part) for part in arg.args]
        return any(identities) and all(identity or self.shape(part) == SCALAR
                                       for part, identity in zip(arg.args, identities))


def _unsized_identity() -> Finding:
    return Finding(*IDENTITY_WITHOUT_SIZE.parts())


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


def infer_node_shapes(formula: Formula, reference_shapes: dict) -> tuple[dict[str, Shape], dict, list[Diagnostic]]:
    """What :func:`infer_shapes` gives, and between them every node's shape with the batch marked
    (``ShapeChecker.shapes``: node -> shape), for the lowering.

    >>> import lossdsl
    >>> from lossdsl.language.shape_algebra import has_batch
    >>> formula = lossdsl.parse("sum(mean(y_pred, axis=0)) + sum(mean(y_pred, axis=1))")
    >>> terms, nodes, problems = infer_node_shapes(formula, {"y_pred": [None, 3]})
    >>> [(str(node), nodes[node], has_batch(nodes[node])) for node in formula.expr.args]
    [('ReduceSum(ReduceMean(y_pred, (0,)), ())', (), False), ('ReduceSum(ReduceMean(y_pred, (1,)), ())', (), False)]
    >>> [(str(node), has_batch(nodes[node])) for node in (formula.expr.args[0].args[0], formula.expr.args[1].args[0])]
    [('ReduceMean(y_pred, (0,))', False), ('ReduceMean(y_pred, (1,))', True)]
    """
    checker = ShapeChecker(formula, reference_shapes)
    return checker.run(), checker.shapes, checker.diagnostics
