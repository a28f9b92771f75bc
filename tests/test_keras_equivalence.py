"""compile() and attach() against hand-written TensorFlow: the same value, and the same fit() step."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
from lossdsl.lowering.parameters import constrain, unconstrain

softplus = tf.math.softplus


def mlp() -> keras.Model:
    """L0 is the InputLayer, L1 = hidden (4 -> 6), L2 = out (6 -> 3)."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(6, activation="tanh", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="out")(hidden))


def fro(x):
    return tf.sqrt(tf.reduce_sum(tf.square(x)))


# (formula, hand-written value from v = {W1, b1, W2, b2, y, p, and each parameter by name})
CASES = [
    ("a*norm(L1.kernel) + norm(L2.kernel)\nwhere a: positive = 0.5",
     lambda v: v["a"] * fro(v["W1"]) + fro(v["W2"])),
    ("norm(hidden.kernel, 1) + norm(out.kernel, inf)",
     lambda v: tf.reduce_sum(tf.abs(v["W1"])) + tf.reduce_max(tf.abs(v["W2"]))),
    ("mse(y_true, y_pred) + 0.1 * sum(square(out.kernel))",
     lambda v: tf.reduce_mean(tf.square(v["y"] - v["p"])) + 0.1 * tf.reduce_sum(v["W2"] ** 2)),
    ("exp(-s) * mse(y_true, y_pred) + s\nwhere s = 0.3",
     lambda v: tf.exp(-v["s"]) * tf.reduce_mean(tf.square(v["y"] - v["p"])) + v["s"]),
    ("norm(L1.kernel.T @ L1.kernel - I)",
     lambda v: fro(tf.transpose(v["W1"]) @ v["W1"] - tf.eye(6))),
    ("norm(L1.kernel @ L2.kernel)", lambda v: fro(v["W1"] @ v["W2"])),
    ("sum(abs(L1.bias)) + mean(L2.kernel)", lambda v: tf.reduce_sum(tf.abs(v["b1"])) + tf.reduce_mean(v["W2"])),
    ("max(L1.kernel) - min(L1.kernel)", lambda v: tf.reduce_max(v["W1"]) - tf.reduce_min(v["W1"])),
    ("sum(norm(L1.kernel, axis=0))", lambda v: tf.reduce_sum(tf.sqrt(tf.reduce_sum(v["W1"] ** 2, axis=0)))),
    ("trace(L2.kernel.T @ L2.kernel)", lambda v: tf.linalg.trace(tf.transpose(v["W2"]) @ v["W2"])),
    ("dot(L1.bias, L1.bias) + cosine(L2.kernel, L2.kernel)",
     lambda v: tf.reduce_sum(v["b1"] * v["b1"]) + 1.0),
    ("mae(y_true, y_pred) + huber(y_true, y_pred, delta=0.5)",
     lambda v: tf.reduce_mean(tf.abs(v["y"] - v["p"])) + tf.reduce_mean(keras.losses.huber(v["y"], v["p"], 0.5))),
    ("data = mse(y_true, y_pred)\nreg = norm(L1.kernel) + norm(L2.kernel)\ndata + lam * reg\nwhere lam: (0, 1) = 0.25",
     lambda v: tf.reduce_mean(tf.square(v["y"] - v["p"])) + v["lam"] * (fro(v["W1"]) + fro(v["W2"]))),
    ("sum(sigmoid(L1.kernel)) + sum(softplus(L2.kernel)) + sum(relu(L1.bias))",
     lambda v: tf.reduce_sum(tf.sigmoid(v["W1"])) + tf.reduce_sum(softplus(v["W2"])) + tf.reduce_sum(tf.nn.relu(v["b1"]))),
    ("sum(clip(L1.kernel, -0.1, 0.1)) + sum(maximum(L2.kernel, 0)) + sum(minimum(L2.kernel, 0))",
     lambda v: tf.reduce_sum(tf.clip_by_value(v["W1"], -0.1, 0.1)) + tf.reduce_sum(v["W2"])),
    ("sum(L1.kernel[0, :]) + L2.kernel[1, 2] + sum(L2.kernel[:, 0:2])",
     lambda v: tf.reduce_sum(v["W1"][0, :]) + v["W2"][1, 2] + tf.reduce_sum(v["W2"][:, 0:2])),
    ("sqrt(norm(L1.kernel) + 1) + log(norm(L2.kernel) + 1) + log1p(sum(square(L1.bias)))",
     lambda v: tf.sqrt(fro(v["W1"]) + 1) + tf.math.log(fro(v["W2"]) + 1) + tf.math.log1p(tf.reduce_sum(v["b1"] ** 2))),
    ("sum(sin(L1.kernel) * cos(L1.kernel)) + sum(tanh(L2.kernel)) / 2",
     lambda v: tf.reduce_sum(tf.sin(v["W1"]) * tf.cos(v["W1"])) + tf.reduce_sum(tf.tanh(v["W2"])) / 2),
    ("(norm(L1.kernel) - c)**2 + b**2\nwhere c: const = 2, b: nonneg = 0.5",
     lambda v: (fro(v["W1"]) - v["c"]) ** 2 + v["b"] ** 2),
    ("mse(y_true, y_pred) + stop(norm(L1.kernel)) * norm(L2.kernel)",
     lambda v: tf.reduce_mean(tf.square(v["y"] - v["p"])) + tf.stop_gradient(fro(v["W1"])) * fro(v["W2"])),
    ("norm(diag(L2.kernel.T @ L2.kernel) - 1) + sum(eye(3) * (L2.kernel.T @ L2.kernel))",
     lambda v: fro(tf.linalg.diag_part(tf.transpose(v["W2"]) @ v["W2"]) - 1)
     + tf.linalg.trace(tf.transpose(v["W2"]) @ v["W2"])),
]


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")


def tensors(model, x, y, params, training=False):
    hidden, out = model.get_layer("hidden"), model.get_layer("out")
    return {"W1": hidden.kernel, "b1": hidden.bias, "W2": out.kernel, "b2": out.bias,
            "y": tf.constant(y), "p": model(x, training=training), **params}


def initial_values(formula):
    return {p.name: tf.constant(p.init, tf.float32) for p in lossdsl.parse(formula).params.values()}


@pytest.mark.parametrize("formula, expected", CASES, ids=[c[0].split("\n")[-1][:40] for c in CASES])
def test_compiled_term_equals_hand_written_tensorflow(formula, expected, batch):
    x, y = batch
    model = mlp()
    term = lossdsl.compile(formula, model)
    v = tensors(model, x, y, initial_values(formula))
    got = term(v["y"], v["p"])
    np.testing.assert_allclose(got.numpy(), expected(v).numpy(), rtol=1e-5, atol=1e-6)


def test_the_term_sees_later_assignments_to_a_kernel(batch):
    model = mlp()
    term = lossdsl.compile("norm(L1.kernel)", model)
    before = float(term())
    model.get_layer("hidden").kernel.assign(2 * model.get_layer("hidden").kernel)
    assert float(term()) == pytest.approx(2 * before, rel=1e-6)


@pytest.mark.parametrize("formula, expected", CASES, ids=[c[0].split("\n")[-1][:40] for c in CASES])
def test_one_fit_step_equals_a_hand_written_gradient_tape_step(formula, expected, batch):
    x, y = batch
    wrapped = lossdsl.attach(mlp(), formula)
    wrapped.compile(optimizer=keras.optimizers.SGD(0.1))
    reported = wrapped.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0).history["loss"][0]

    reference = mlp()  # same seed: the same initial weights
    formula_params = lossdsl.parse(formula).params.values()
    raw = {p.name: tf.Variable(unconstrain(p, p.init)) for p in formula_params if p.trainable}
    optimizer = keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        params = {p.name: constrain(p, raw[p.name]) if p.trainable else tf.constant(p.init)
                  for p in formula_params}
        loss = expected(tensors(reference, x, y, params, training=True))
    variables = reference.trainable_variables + list(raw.values())
    gradients = tape.gradient(loss, variables)
    optimizer.apply_gradients([(g, v) for g, v in zip(gradients, variables) if g is not None])

    assert reported == pytest.approx(float(loss), rel=1e-5, abs=1e-6)
    for ours, theirs in zip(wrapped.inner.weights, reference.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-5, atol=1e-6)
    for name, variable in raw.items():
        param = next(p for p in formula_params if p.name == name)
        assert wrapped.params[name] == pytest.approx(float(constrain(param, variable)), rel=1e-5, abs=1e-6)
