"""TensorFlow computations the lowering needs beyond one TensorFlow call: a norm with a gradient at 0,
cosine similarity, numpy's matmul, an identity sized by its partner, matrix functions, the global batch size."""

from __future__ import annotations

import tensorflow as tf

from .gradients import CustomGradient
from .replicas import all_sum, replica_count


def euclidean_norm(x, axis=None):
    """sqrt(sum(x**2)); its gradient is 0 where the norm is 0 (tf.norm's is NaN there)."""
    kept = _NORM_WITHOUT_NAN(lambda x: _kept_norm(x, axis), x)
    return tf.reshape(kept, []) if axis is None else tf.squeeze(kept, axis)


# Registered once (tf.custom_gradient registered one per call per trace, and kept each trace's graph).
_NORM_WITHOUT_NAN = CustomGradient("LossdslEuclideanNorm", lambda x, kept, upstream: x * tf.math.divide_no_nan(
    upstream, kept))


def _kept_norm(x, axis):
    # TensorFlow's EuclideanNorm kernel reads x once, without writing x**2 out first: twice as fast as
    # sqrt(reduce_sum(square(x))) on a large tensor. XLA has no such kernel, and fuses the latter.
    if _tracing_for_xla():
        return tf.sqrt(tf.reduce_sum(tf.square(x), axis, keepdims=True))
    return tf.math.reduce_euclidean_norm(x, axis, keepdims=True)


def _tracing_for_xla() -> bool:
    """True while a ``jit_compile=True`` function is traced."""
    try:
        from tensorflow.python.ops import control_flow_util  # how tf.function itself tells (no public API)
    except ImportError:  # pragma: no cover - a TensorFlow that moved it: the form that works everywhere
        return True
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def standard_deviation(x, axis=None):
    """sqrt(mean((x - mean(x))**2)), as the norm of the deviations over sqrt(count): its gradient is 0 where
    the entries are all equal (a bias initialized to zeros), where tf.math.reduce_std's is NaN."""
    deviations = x - tf.reduce_mean(x, axis, keepdims=True)
    count = tf.cast(tf.size(x) // tf.maximum(tf.size(tf.reduce_sum(x, axis)), 1), x.dtype)
    return euclidean_norm(deviations, axis) / tf.sqrt(count)


def cosine_similarity(x, y):
    """Cosine of the angle between the flattened (broadcast) tensors; 0 when either is all zeros."""
    if x.shape != y.shape or not x.shape.is_fully_defined():
        shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y))
        x, y = tf.broadcast_to(x, shape), tf.broadcast_to(y, shape)
    # l2_normalize divides by sqrt(max(sum of squares, 1e-12)): finite value and gradient at zero.
    return tf.reduce_sum(tf.math.l2_normalize(tf.reshape(x, [-1])) * tf.math.l2_normalize(tf.reshape(y, [-1])))


def matmul(a, b):
    """numpy's matmul: a rank-1 left (right) operand is a row (column) vector, dropped from the result."""
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.reduce_sum(a * b)
    if a.shape.rank == 1:
        return tf.squeeze(tf.linalg.matmul(a[tf.newaxis, :], b), -2)
    if b.shape.rank == 1:
        return tf.squeeze(tf.linalg.matmul(a, b[:, tf.newaxis]), -1)
    return tf.linalg.matmul(a, b)


def identity_like(x):
    """The identity matrix as wide as ``x``'s last dimension (``I`` sized by its partner)."""
    n = x.shape[-1] if x.shape.rank and x.shape[-1] is not None else tf.shape(x)[-1]
    return tf.eye(n, dtype=x.dtype)


def singular_values(x):
    """The singular values, descending. TensorFlow's gradient of the values alone is U diag(g) V^T from a
    second SVD run only for the gradient: finite when singular values repeat (see kinds/matrices.py)."""
    return tf.linalg.svd(x, compute_uv=False)


def spectral_norm(x):
    """The largest singular value: the SVD without its vectors (they are computed only for a gradient)."""
    return singular_values(x)[..., 0]


def nuclear_norm(x):
    return tf.reduce_sum(singular_values(x), -1)


def _symmetric_part(x):
    return (x + tf.linalg.matrix_transpose(x)) / 2


def symmetric_eigenvalues(x):
    """Eigenvalues of (x + x^T) / 2, ascending: of x itself when symmetric, and a symmetric gradient (TensorFlow's
    eigvalsh reads the lower triangle only, so its gradient reaches only that half)."""
    return tf.linalg.eigvalsh(_symmetric_part(x))


def log_determinant(x):
    """log det of a symmetric positive definite x (its symmetric part), by Cholesky: NaN if it is not positive
    definite, as tf.linalg.logdet."""
    return tf.linalg.logdet(_symmetric_part(x))


def solve(a, b):
    """x with a @ x = b; b a matrix or a vector."""
    if b.shape.rank == 1:
        return tf.linalg.solve(a, b[:, tf.newaxis])[:, 0]
    return tf.linalg.solve(a, b)


def global_batch_size(batch):
    """The number of samples in the global batch: the sum over replicas under a distribution strategy."""
    local = tf.cast(tf.shape(batch)[0], batch.dtype)
    return local if replica_count() == 1 else all_sum(local)


# ---------------------------------------------------------------- pooled reductions over a pattern's members
# Each member is reduced where it lives, then the per-member scalars are combined: no member is copied
# or concatenated (SPEC §5.2), which is also what Keras' per-layer regularizers cost.
def pooled_sum(*xs):
    """The sum of every entry of every tensor."""
    return tf.add_n([tf.reduce_sum(x) for x in xs])


def pooled_mean(*xs):
    """The mean of every entry of every tensor (each entry counts once, whatever its tensor's size)."""
    count = tf.add_n([tf.cast(tf.size(x), xs[0].dtype) for x in xs])
    return pooled_sum(*xs) / count


def pooled_max(*xs):
    return tf.reduce_max(tf.stack([tf.reduce_max(x) for x in xs]))


def pooled_min(*xs):
    return tf.reduce_min(tf.stack([tf.reduce_min(x) for x in xs]))


def pooled_norm(*xs):
    """The 2-norm of every entry of every tensor together (``tf.linalg.global_norm``); gradient 0 at 0."""
    @tf.custom_gradient
    def norm(*tensors):
        if _tracing_for_xla():
            total = tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(x)) for x in tensors]))
        else:  # one read of each member (see _kept_norm)
            total = tf.sqrt(tf.add_n([tf.square(tf.math.reduce_euclidean_norm(x)) for x in tensors]))

        def gradient(upstream):
            scale = tf.math.divide_no_nan(upstream, total)
            return [x * scale for x in tensors]

        return total, gradient

    return norm(*xs)
