"""Linear algebra: @, .T, trace, diag, eye(n), dot and cosine."""

from __future__ import annotations

from functools import reduce

from sympy.printing.precedence import PRECEDENCE

from .. import intervals as iv
from .. import shape_algebra as shapes
from .base import (LINEAR, NONNEGATIVE, UNDECIDED, FunctionSpec, NodeKind, Option, TensorFunction, build, declare,
                   node_class, on_ranges, tf_op)


class MatrixProduct(TensorFunction):
    """a @ b @ ...: n-ary, since the product is associative."""

    tensor_arity = None  # every argument is a tensor


def _latex_product(node, printer) -> str:
    return r" \, ".join(printer.parenthesize(arg, PRECEDENCE["Mul"]) for arg in node.args)


declare(NodeKind(
    MatrixProduct, "a @ b: numpy's matmul; I takes the size that fits",
    shape=lambda node, *operands: reduce(shapes.matmul, operands),
    sign=None, range=on_ranges(lambda *ranges: reduce(lambda a, b: iv.total(iv.multiply(a, b)), ranges)),
    asymptotic=LINEAR, plain=UNDECIDED, lower=lambda node, lib: lib.lower_matrix_product(node),
    latex=_latex_product))


Transposed = node_class("Transposed", __name__, 1, doc="x.T: a matrix transposed")


declare(NodeKind(
    Transposed, "x.T: a matrix transposed", shape=lambda node, x: shapes.transpose(x), sign=None,
    range=lambda node, of: of(node.args[0]), asymptotic=LINEAR, plain=UNDECIDED, lower=tf_op("tf.transpose"),
    latex=lambda node, printer: printer.parenthesize(node.args[0], PRECEDENCE["Pow"]) + "^{T}"))


def _function(name: str, call: str, summary: str, latex: str, shape, value_range, asymptotic, lower,
              tensors=("x",)) -> type:
    cls = node_class(name, __name__, len(tensors), len(tensors), doc=f"{call}({', '.join(tensors)}): {summary}")
    return declare(NodeKind(cls, summary, shape, None, on_ranges(value_range), asymptotic, UNDECIDED, lower, latex,
                            calls=(FunctionSpec(call, build(cls), tensors, summary=summary),)))


def _trace_shape(node, x):
    shapes.needs_rank(x, (2,), "trace")
    return shapes.SCALAR


def _summed_across(lower):
    """A lowering facet whose op is a sum over its arguments' entries: over the batch, the replicas' sums added."""
    def facet(node, lib):
        op = lower(node, lib)
        return lib.Op(op.fn, op.inputs, op.text, lambda *values: lib.replicas.all_sum(op.fn(*values)))
    return facet


MatrixTrace = _function("MatrixTrace", "trace", "sum of a matrix's diagonal", r"\operatorname{tr}", _trace_shape,
                        iv.total, LINEAR, tf_op("tf.linalg.trace"))
Diagonal = _function("Diagonal", "diag", "diagonal of a matrix, or the matrix with a vector on its diagonal",
                     r"\operatorname{diag}", lambda node, x: shapes.diagonal(x), iv.with_zero, LINEAR,
                     lambda node, lib: lib.Op(lambda x: lib.tf.linalg.diag(x) if x.shape.rank == 1 else
                                              lib.tf.linalg.diag_part(x), node.tensors, "diag({0})"))
DotProduct = _function("DotProduct", "dot", "sum of x * y", r"\operatorname{dot}",
                       lambda node, x, y: shapes.pair_to_scalar(x, y), lambda x, y: iv.total(iv.multiply(x, y)),
                       LINEAR, _summed_across(lambda node, lib: lib.Op(lambda x, y: lib.tf.reduce_sum(x * y),
                                                                       node.tensors, "tf.reduce_sum({0} * {1})")),
                       tensors=("x", "y"))


def _lower_cosine(node, lib):
    op = tf_op("cosine_similarity")(node, lib)
    return lib.Op(op.fn, op.inputs, op.text, lib.resolve("replicas.global_cosine"))


Cosine = _function("Cosine", "cosine", "cosine similarity of x and y, flattened", r"\cos\angle",
                   lambda node, x, y: shapes.pair_to_scalar(x, y), lambda x, y: iv.UNIT, UNDECIDED,
                   _lower_cosine, tensors=("x", "y"))


EyeMatrix = node_class("EyeMatrix", __name__, 1, 0, doc="eye(n): the n-by-n identity (its one argument is an option)")


declare(NodeKind(
    EyeMatrix, "the n-by-n identity", shape=lambda node: (int(node.args[0]),) * 2, sign=NONNEGATIVE,
    range=lambda node, of: iv.Range(0.0, 1.0),
    asymptotic=UNDECIDED,  # a constant: no parameter is ever inside it
    plain=UNDECIDED, lower=lambda node, lib: lib.lower_eye(node),
    latex=lambda node, printer: rf"I_{{{printer._print(node.args[0])}}}",
    calls=(FunctionSpec("eye", build(EyeMatrix), (), (Option("n", "size"),), summary="the n-by-n identity"),)))
