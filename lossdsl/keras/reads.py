"""Every read of a model variable or parameter by a formula: ordered before the optimizer's update (SPEC §3.2)."""

from __future__ import annotations

import tensorflow as tf

from ..lowering.gradients import CustomGradient


def _gradient_after_read(value, _read, upstream):
    with tf.control_dependencies([value]):
        return tf.identity(upstream)


_READ_BEFORE_UPDATE = CustomGradient("LossdslReadBeforeUpdate", _gradient_after_read)


def read_before_update(value):
    """Identity whose gradient depends on the read itself.

    Without it, when a variable's own gradient does not depend on its value (``a * norm(W)``), the
    TensorFlow runtime may run the optimizer's update of ``a`` before the forward read of ``a``
    (SPEC §3.2: 2-12 runs in 40). The control dependency orders the read before any update. (One
    gradient registered once: ``tf.custom_gradient`` registered one per read per trace, and kept them.)
    """
    return _READ_BEFORE_UPDATE(tf.identity, value)
