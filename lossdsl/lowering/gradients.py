"""Custom gradients registered once per kind, where ``tf.custom_gradient`` registers one per call.

In a graph (every ``tf.function`` trace), ``tf.custom_gradient`` registers a new ``CustomGradient-N``
in TensorFlow's gradient registry on every call, and never removes it; the entry holds the traced
graph's tensors, so every trace of every formula stayed in memory (issue 16 item 7: five entries and
~0.3 MB a compiled formula). A :class:`CustomGradient` registers its gradient once, under its own name,
and is otherwise what ``tf.custom_gradient`` does in a graph: the outputs pass through an ``IdentityN``
whose gradient is overridden (for symbolic gradients: ``tf.gradients``, a tape around a ``tf.function``
call), and the operation is recorded on the active tapes (Keras' ``train_step``). The gradient must
then be a function of the op's tensors alone: ``gradient(x, y, dy)`` of the input ``x``, the output
``y`` and the output's gradient ``dy``.
"""

from __future__ import annotations

from typing import Callable

import tensorflow as tf

try:  # how tf.custom_gradient itself records an op on the tapes: TensorFlow has no public API for it
    from tensorflow.python.eager import record
except ImportError:  # pragma: no cover - a TensorFlow that moved it: tf.custom_gradient, which leaks
    record = None


class CustomGradient:
    """``y = forward(x)`` whose gradient is ``gradient(x, y, dy)``, registered once under ``name``.

    >>> double_gradient = CustomGradient("LossdslDoubleGradientExample", lambda x, y, dy: 2 * dy)
    >>> x = tf.constant(3.0)
    >>> with tf.GradientTape() as tape:
    ...     tape.watch(x)
    ...     y = double_gradient(tf.identity, x)
    >>> float(y), float(tape.gradient(y, x))
    (3.0, 2.0)
    """

    def __init__(self, name: str, gradient: Callable):
        self.name = name
        self.gradient = gradient
        try:
            tf.RegisterGradient(name)(self._symbolic)
        except KeyError:  # the module was imported again (importlib.reload): the first registration stands
            pass

    def _symbolic(self, op, dy, _unused):
        y, x = op.inputs
        return [None, self.gradient(x, y, dy)]

    def __call__(self, forward: Callable, x):
        x = tf.convert_to_tensor(x)
        if tf.executing_eagerly() or record is None:  # eagerly, tf.custom_gradient registers nothing
            return self._eager(forward, x)
        # forward's ops stay on the tapes (a tape around the gradient sees how y depends on x: second
        # derivatives), but the outputs come from this op, whose gradient for y is None.
        y = forward(x)
        with record.stop_recording(), tf.compat.v1.get_default_graph().gradient_override_map(
                {"IdentityN": self.name}):
            y_out, x_out = tf.identity_n([y, x])
        record.record_operation(self.name, [y_out, x_out], [y, x],
                                lambda dy, _unused: [None, self.gradient(x, y, dy)])
        return y_out

    def _eager(self, forward, x):
        @tf.custom_gradient
        def apply(x):
            y = forward(x)
            return y, lambda dy: self.gradient(x, y, dy)
        return apply(x)
