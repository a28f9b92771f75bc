"""SPEC §3.2: the optimizer must never update a variable before the formula has read it.

With ``a * norm(W)`` and ``a: real``, the gradient of ``a`` does not depend on ``a``'s value, so
without a guard the runtime may apply ``a``'s update before the forward pass reads ``a``: the
reported loss and W's gradient then use the updated ``a``. Every one of 120 steps must use the
values from before the step.
"""

import keras
import numpy as np
import tensorflow as tf

import lossdsl

STEPS = 120
LEARNING_RATE = 0.05


def test_every_step_uses_the_values_from_before_the_update():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    wrapped = lossdsl.attach(model, "mse(y_true, y_pred) + a * norm(L0.kernel)\nwhere a = 1.0")
    wrapped.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    layer = model.layers[0]

    stale = []
    for step in range(STEPS):
        kernel, bias, a = (tf.constant(layer.kernel.numpy()), tf.constant(layer.bias.numpy()),
                           tf.constant(wrapped.params["a"]))
        with tf.GradientTape() as tape:
            tape.watch([kernel, bias, a])
            expected_loss = tf.reduce_mean(tf.square(y - (x @ kernel + bias))) + a * tf.norm(kernel)
        grad_kernel = tape.gradient(expected_loss, kernel)

        reported = wrapped.train_on_batch(x, y, return_dict=True)["loss"]

        expected_kernel = kernel - LEARNING_RATE * grad_kernel
        if not (np.isclose(reported, float(expected_loss), rtol=1e-5)
                and np.allclose(layer.kernel.numpy(), expected_kernel.numpy(), rtol=1e-5, atol=1e-6)):
            stale.append(step)
    assert stale == [], f"steps that used an already-updated value: {stale}"
