"""Comparing a lowered formula with a hand-written reference: its value with numpy's (float64), and its
gradient with respect to each input with the hand-written TensorFlow's."""

import numpy as np
import tensorflow as tf

import lossdsl
from lossdsl.lowering.lower import lower


def assert_matches_reference(src: str, inputs: dict, np_value, tf_reference, constants: dict | None = None,
                             rtol: float = 1e-5, gradient_rtol: float = 1e-4, gradient_atol: float = 1e-6) -> None:
    """``src`` on ``inputs`` (reference text -> array, each differentiated) and ``constants`` (not differentiated)
    equals ``np_value``, and its gradients equal those of ``tf_reference(*input variables)``."""
    variables = {name: tf.Variable(value) for name, value in inputs.items()}
    lowered = lower(lossdsl.parse(src))
    with tf.GradientTape(persistent=True) as tape:
        ours = lowered({**variables, **(constants or {})})[""]
        theirs = tf_reference(*variables.values())
    np.testing.assert_allclose(ours.numpy(), np_value, rtol=rtol, atol=rtol)
    for variable in variables.values():
        expected = tape.gradient(theirs, variable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        got = tape.gradient(ours, variable, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        np.testing.assert_allclose(got.numpy(), expected.numpy(), rtol=gradient_rtol, atol=gradient_atol)
