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


MANY = 5  # scalars packed in one variable: its gradient (norm(W)/(j+1) each) does not depend on its value


def stale_steps(formula: str, names: list[str], weights: list[float]) -> list[int]:
    """The steps of ``mse + sum_j weights[j] * names[j] * norm(L0.kernel)`` whose reported loss or kernel
    update used a parameter value already updated in that step."""
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.normal(size=(32, 2)).astype("float32")
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    wrapped = lossdsl.attach(model, formula)
    wrapped.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE))
    layer = model.layers[0]

    stale = []
    for step in range(STEPS):
        params = wrapped.params
        kernel, bias = tf.constant(layer.kernel.numpy()), tf.constant(layer.bias.numpy())
        values = [tf.constant(params[name]) for name in names]
        with tf.GradientTape() as tape:
            tape.watch([kernel, bias])
            penalty = tf.add_n([weight * value for weight, value in zip(weights, values)]) * tf.norm(kernel)
            expected_loss = tf.reduce_mean(tf.square(y - (x @ kernel + bias))) + penalty
        grad_kernel = tape.gradient(expected_loss, kernel)

        reported = wrapped.train_on_batch(x, y, return_dict=True)["loss"]

        expected_kernel = kernel - LEARNING_RATE * grad_kernel
        if not (np.isclose(reported, float(expected_loss), rtol=1e-5)
                and np.allclose(layer.kernel.numpy(), expected_kernel.numpy(), rtol=1e-5, atol=1e-6)):
            stale.append(step)
    return stale


def test_every_step_uses_the_values_from_before_the_update():
    stale = stale_steps("mse(y_true, y_pred) + a * norm(L0.kernel)\nwhere a = 1.0", ["a"], [1.0])
    assert stale == [], f"steps that used an already-updated value: {stale}"


def test_packed_parameters_are_read_before_their_one_update():
    # The packed vector is read once, through one guarded read, for every parameter in it.
    names = [f"a{j}" for j in range(MANY)]
    formula = ("mse(y_true, y_pred) + " + " + ".join(f"{name} * norm(L0.kernel) / {j + 1}"
                                                     for j, name in enumerate(names))
               + "\nwhere " + ", ".join(f"{name} = 1.0" for name in names))
    stale = stale_steps(formula, names, [1.0 / (j + 1) for j in range(MANY)])
    assert stale == [], f"steps that used an already-updated value: {stale}"
