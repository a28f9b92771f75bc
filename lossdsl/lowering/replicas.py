"""Reductions over the global batch under a distribution strategy (SPEC §3.2).

Under ``tf.distribute.MirroredStrategy`` each replica holds its own part of the batch. A reduction
over the batch is computed here over all parts: sums by the replica context's ``all_reduce`` (whose
gradient is itself an all-reduce sum), maxima and minima by ``all_gather`` and a local max or min
(TensorFlow has no MAX all-reduce), means as the global sum over the global count (exact on an uneven
batch too). Every replica then holds the same value.

Scaling rule: the formula's value is the same on every replica, and the term is divided by the
replica count once, like Keras' own losses (keras/model.py; in a custom loop
:meth:`FormulaTerm.per_replica`). Each replica's gradient of ``value / R``
reaches its own part of the batch through the all-reduce, whose gradient sums the R shares of
``1/R``: one full share. The optimizer then sums the replicas' gradients, which adds the parts up
to the one-device gradient. So nothing is divided twice, and a variable outside the batch (a kernel,
a parameter) gets R shares of ``1/R`` as before.

Outside a strategy (one replica) :func:`across_replicas` traces the plain local op: the same graph,
as fast as before.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

from .gradients import CustomGradient

SUM = tf.distribute.ReduceOp.SUM


def replica_count() -> int:
    """How many replicas compute this step together: 1 outside a strategy or in a cross-replica context."""
    context = tf.distribute.get_replica_context()
    return 1 if context is None else context.num_replicas_in_sync


def scale_for_replicas(value):
    """``value`` divided by the replica count, like ``tf.nn.scale_regularization_loss``: one replica's share.

    Each replica's gradients are summed by the optimizer, so a term every replica computes in full counts
    once when each takes ``1/R`` of it (the scaling rule above). Unchanged outside a strategy."""
    replicas = replica_count()
    return value if replicas == 1 else value * (1.0 / replicas)


def across_replicas(local: Callable, global_: Callable) -> Callable:
    """``global_`` while traced by more than one replica, else ``local`` (chosen when traced, not per step)."""
    def choose(*values):
        return global_(*values) if replica_count() > 1 else local(*values)
    return choose


def all_sum(*values):
    """The sum over replicas of each value (one batched all-reduce); differentiable."""
    summed = tf.distribute.get_replica_context().all_reduce(SUM, values)
    return summed[0] if len(values) == 1 else summed


def _all_extreme(reduce, x, axis, keepdims=False):
    # all_gather needs a rank of 1 or more: each replica's partial result gets a leading axis of 1
    local = reduce(x, axis, keepdims=keepdims)
    gathered = tf.distribute.get_replica_context().all_gather(local[tf.newaxis], axis=0)
    return reduce(gathered, 0)


def global_max(x, axis=None, keepdims=False):
    return _all_extreme(tf.reduce_max, x, axis, keepdims)


def global_min(x, axis=None, keepdims=False):
    return _all_extreme(tf.reduce_min, x, axis, keepdims)


def global_sum(x, axis=None):
    return all_sum(tf.reduce_sum(x, axis))


def _count(x, axis) -> tf.Tensor:
    """How many entries of ``x`` each value of the reduction over ``axis`` takes, as ``x``'s dtype."""
    shape = tf.shape(x)
    taken = shape if axis is None else tf.gather(shape, [a % x.shape.rank for a in axis])
    return tf.cast(tf.reduce_prod(taken), x.dtype)


def global_mean(x, axis=None, keepdims=False):
    total, count = all_sum(tf.reduce_sum(x, axis, keepdims=keepdims), _count(x, axis))
    return total / count


# d sqrt(s) = ds / (2 sqrt(s)), taken as 0 at s = 0, like euclidean_norm's gradient at a zero norm. Registered
# once (tf.custom_gradient registered one per call per trace, and kept each trace's graph: gradients.py).
_ZERO_SAFE_SQRT = CustomGradient("LossdslZeroSafeSqrt",
                                 lambda s, root, upstream: tf.math.divide_no_nan(upstream, 2 * root))


def _zero_safe_sqrt(s):
    return _ZERO_SAFE_SQRT(tf.sqrt, s)


def global_euclidean_norm(x, axis=None):
    return _zero_safe_sqrt(global_sum(tf.square(x), axis))


def global_var(x, axis=None):
    """Two passes, like one device's: the global mean, then the global mean of squared deviations from it."""
    return global_mean(tf.square(x - global_mean(x, axis, keepdims=True)), axis)


def global_std(x, axis=None):
    return _zero_safe_sqrt(global_var(x, axis))


def global_logsumexp(x, axis=None):
    largest = tf.stop_gradient(global_max(x, axis, keepdims=True))
    largest = tf.where(tf.math.is_finite(largest), largest, tf.zeros_like(largest))  # all -inf: log(0) = -inf
    total = tf.math.log(global_sum(tf.exp(x - largest), axis))
    return total + (tf.reshape(largest, []) if axis is None else tf.squeeze(largest, axis))


def global_cosine(x, y):
    """Cosine similarity of the whole (broadcast) batch tensors; l2_normalize's 1e-12 floor at zero."""
    shape = tf.broadcast_dynamic_shape(tf.shape(x), tf.shape(y))
    x, y = tf.broadcast_to(x, shape), tf.broadcast_to(y, shape)
    dot, xx, yy = all_sum(tf.reduce_sum(x * y), tf.reduce_sum(tf.square(x)), tf.reduce_sum(tf.square(y)))
    return dot * tf.math.rsqrt(tf.maximum(xx, 1e-12)) * tf.math.rsqrt(tf.maximum(yy, 1e-12))
