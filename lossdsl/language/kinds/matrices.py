"""Matrix functions: singular values (svd, spectral_norm, nuclear_norm), eigenvalues of a symmetric matrix
(eigvalsh), det, logdet, inv and solve.

Only values are exposed, never singular or eigen vectors: the vectors are not unique where values repeat,
and a gradient through them (``1 / (s_i**2 - s_j**2)``, which TensorFlow silently sets to 0) is undefined
there. The gradient of a function of the singular values is ``U diag(g) V^T`` (TensorFlow's own for
``compute_uv=False``, from a second SVD run only when a gradient is asked for): exact for symmetric
functions such as the nuclear norm even at repeated values. With a repeated largest value,
``spectral_norm``'s gradient is ``u_1 v_1^T`` for the pair the SVD returns: a subgradient of unit norm.
"""

from __future__ import annotations

from .. import intervals as iv
from .. import shape_algebra as shapes
from .base import ABSOLUTELY_LINEAR, NONNEGATIVE, UNDECIDED, FunctionSpec, NodeKind, build, declare, node_class


def _matrix_function(name: str, call: str, summary: str, shape, lower, *, sign=None, value_range=iv.REAL,
                     asymptotic=UNDECIDED, tensors=("x",)) -> type:
    cls = node_class(name, __name__, len(tensors), len(tensors), doc=f"{call}({', '.join(tensors)}): {summary}")
    return declare(NodeKind(cls, summary, shape, sign, lambda node, of: value_range, asymptotic, UNDECIDED, lower,
                            rf"\operatorname{{{call}}}".replace("_", r"\_"),
                            calls=(FunctionSpec(call, build(cls), tensors, summary=summary),)))


def _kept_square(name: str):
    """A shape facet once x is checked to be square: x's own (inv), or one value per row (eigvalsh)."""
    def shape(node, x):
        shapes.square_matrix(x, name)
        return None if x is None else x[:-1] if name == "eigvalsh" else x
    return shape


def _tf(path: str, text: str):
    """A lowering facet: ``lib.<path>`` (a TensorFlow function or a helper of the lowering) of the tensors."""
    return lambda node, lib: lib.Op(lib.resolve(path), node.tensors, text)


# svd(a*W) = |a|*svd(W), and so for its largest value and its sum
SingularValues = _matrix_function(
    "SingularValues", "svd", "singular values of a matrix, in descending order",
    lambda node, x: shapes.singular_values(x, "svd"), _tf("singular_values", "tf.linalg.svd({0}, compute_uv=False)"),
    sign=NONNEGATIVE, value_range=iv.NONNEG, asymptotic=ABSOLUTELY_LINEAR)
SpectralNorm = _matrix_function(
    "SpectralNorm", "spectral_norm", "the largest singular value of a matrix",
    lambda node, x: shapes.largest_singular_value(x, "spectral_norm"),
    _tf("spectral_norm", "tf.linalg.svd({0}, compute_uv=False)[..., 0]"),
    sign=NONNEGATIVE, value_range=iv.NONNEG, asymptotic=ABSOLUTELY_LINEAR)
NuclearNorm = _matrix_function(
    "NuclearNorm", "nuclear_norm", "the sum of the singular values of a matrix",
    lambda node, x: shapes.largest_singular_value(x, "nuclear_norm"),
    _tf("nuclear_norm", "tf.reduce_sum(tf.linalg.svd({0}, compute_uv=False), -1)"),
    sign=NONNEGATIVE, value_range=iv.NONNEG, asymptotic=ABSOLUTELY_LINEAR)
EigenvaluesSymmetric = _matrix_function(
    "EigenvaluesSymmetric", "eigvalsh", "eigenvalues of a symmetric matrix ((x + x.T) / 2), ascending",
    _kept_square("eigvalsh"),
    _tf("symmetric_eigenvalues", "tf.linalg.eigvalsh(({0} + {0}.T) / 2)"))
LogDeterminant = _matrix_function(
    "LogDeterminant", "logdet", "log of the determinant of a symmetric positive definite matrix",
    lambda node, x: shapes.square_matrix(x, "logdet"), _tf("log_determinant", "tf.linalg.logdet(({0} + {0}.T) / 2)"))
MatrixDeterminant = _matrix_function(
    "MatrixDeterminant", "det", "determinant of a square matrix", lambda node, x: shapes.square_matrix(x, "det"),
    _tf("tf.linalg.det", "tf.linalg.det({0})"))
MatrixInverse = _matrix_function(
    "MatrixInverse", "inv", "inverse of a square matrix", _kept_square("inv"),
    _tf("tf.linalg.inv", "tf.linalg.inv({0})"))
Solution = _matrix_function(
    "Solution", "solve", "x with a @ x = b, for a square matrix a and a vector or matrix b",
    lambda node, a, b: shapes.solved(a, b), _tf("solve", "tf.linalg.solve({0}, {1})"), tensors=("a", "b"))
