"""grad(f, x) in Keras (SPEC §5.7): fit(), evaluate(), predict(), compiled terms, save/load and two replicas,
each against the same loss written by hand with nested tf.GradientTape."""

import json
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.eager import record

import lossdsl
import lossdsl.keras  # noqa: F401

rng = np.random.default_rng(0)
X = rng.normal(size=(16, 3)).astype("float32")
Y = rng.normal(size=(16, 2)).astype("float32")
BATCH, EPOCHS, RATE = 8, 2, 0.05


def two_layers() -> keras.Model:
    keras.utils.set_random_seed(1)
    inputs = keras.Input((3,))
    hidden = keras.layers.Dense(5, activation="tanh", name="shared")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))


def mse(y, p):
    return tf.reduce_mean(tf.square(y - p))


def by_hand(loss_of, extra=()):
    """Train two_layers() by SGD on ``loss_of(model, x, y, *extra)`` (which opens its own inner tapes):
    the loss of each step, and the weights (then ``extra``) after training."""
    model, optimizer = two_layers(), keras.optimizers.SGD(RATE)
    variables = model.trainable_weights + list(extra)
    losses = []
    for _ in range(EPOCHS):
        for start in range(0, len(X), BATCH):
            x, y = tf.constant(X[start:start + BATCH]), tf.constant(Y[start:start + BATCH])
            with tf.GradientTape() as outer:
                loss = loss_of(model, x, y, *extra)
            optimizer.apply_gradients(zip(outer.gradient(loss, variables), variables))
            losses.append(float(loss))
    return losses, [v.numpy() for v in model.weights] + [v.numpy() for v in extra]


def attached(formula: str) -> tuple[keras.Model, list[float]]:
    model = lossdsl.attach(two_layers(), formula)
    model.compile(optimizer=keras.optimizers.SGD(RATE))
    history = model.fit(X, Y, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0)
    return model, history.history["loss"]


def assert_same_training(model, logged, losses, weights, extra=()):
    steps = len(X) // BATCH
    np.testing.assert_allclose(logged, np.mean(np.reshape(losses, (EPOCHS, steps)), axis=1), rtol=1e-5)
    mine = [w.numpy() for w in model.inner.weights] + [model.params[name] for name in extra]
    for got, expected in zip(mine, weights, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ fit() against nested tapes
PENALTY = "mse(y_true, y_pred) + 10*mean(square(norm(grad(y_pred, inputs), axis=1) - 1))"


def gradient_penalty(model, x, y):
    with tf.GradientTape() as inner:
        inner.watch(x)
        p = model(x, training=True)
    g = inner.gradient(p, x)
    return mse(y, p) + 10 * tf.reduce_mean(tf.square(tf.norm(g, axis=1) - 1))


def test_a_gradient_penalty_on_inputs_trains_like_nested_tapes():
    model, logged = attached(PENALTY)
    losses, weights = by_hand(gradient_penalty)
    assert_same_training(model, logged, losses, weights)


def test_evaluate_includes_the_gradient_term():
    model = lossdsl.attach(two_layers(), PENALTY)
    model.compile(optimizer=keras.optimizers.SGD(RATE))
    reference = gradient_penalty(two_layers(), tf.constant(X), tf.constant(Y))
    np.testing.assert_allclose(model.evaluate(X, Y, batch_size=16, verbose=0), float(reference), rtol=1e-6)


GRADNORM = """task1 = mean(square(y_true[:, 0] - y_pred[:, 0]))
task2 = mean(square(y_true[:, 1] - y_pred[:, 1]))
G1 = w1*stop(norm(grad(task1, shared.kernel)))
G2 = w2*stop(norm(grad(task2, shared.kernel)))
task1 + task2 + abs(G1 - G2) + square(w1 + w2 - 2)
where w1: real = 1, w2: real = 1"""


def gradnorm(model, x, y, w1, w2):
    with tf.GradientTape(persistent=True) as inner:
        p = model(x, training=True)
        task1, task2 = mse(y[:, 0], p[:, 0]), mse(y[:, 1], p[:, 1])
    kernel = model.get_layer("shared").kernel
    g1 = w1 * tf.stop_gradient(tf.norm(inner.gradient(task1, kernel)))
    g2 = w2 * tf.stop_gradient(tf.norm(inner.gradient(task2, kernel)))
    return task1 + task2 + tf.abs(g1 - g2) + tf.square(w1 + w2 - 2)


def test_gradnorm_s_gradient_norms_train_the_task_weights_like_a_hand_written_loop():
    model, logged = attached(GRADNORM)
    losses, weights = by_hand(gradnorm, (tf.Variable(1.0), tf.Variable(1.0)))
    assert_same_training(model, logged, losses, weights, ("w1", "w2"))
    assert model.params["w1"] != 1.0  # the task weights moved


def kernel_penalty(model, x, y):
    with tf.GradientTape() as inner:
        p = model(x, training=True)
        data = mse(y, p)
    kernels = [model.get_layer("shared").kernel, model.get_layer("out").kernel]
    return data + 0.5 * sum(tf.reduce_sum(tf.square(g)) for g in inner.gradient(data, kernels))


def test_a_pattern_gives_each_member_its_gradient():
    model, logged = attached("data = mse(y_true, y_pred)\ndata + 0.5*sum(square(grad(data, **.kernel)))")
    losses, weights = by_hand(kernel_penalty)
    assert_same_training(model, logged, losses, weights)


def test_a_comprehension_takes_each_member_s_gradient_too():
    net = two_layers()
    with tf.GradientTape() as inner:
        data = mse(Y, net(X))
    kernels = [net.get_layer("shared").kernel, net.get_layer("out").kernel]
    expected = sum(float(tf.reduce_sum(tf.square(g))) for g in inner.gradient(data, kernels))
    for source in ("data = mse(y_true, y_pred)\nsum(norm(grad(data, W))**2 for W in **.kernel)",
                   "data = mse(y_true, y_pred)\nsum(square(grad(data, **.kernel)))"):
        np.testing.assert_allclose(float(lossdsl.compile(source, net)(Y, inputs=X)), expected, rtol=1e-5)


def activation_penalty(model, x, y):
    with tf.GradientTape() as inner:
        hidden = model.get_layer("shared")(x)
        inner.watch(hidden)
        p = model.get_layer("out")(hidden)
        data = mse(y, p)
    return data + 5 * tf.reduce_mean(tf.square(inner.gradient(data, hidden)))


def test_a_gradient_with_respect_to_an_activation_goes_through_the_layers_above_it():
    model, logged = attached("data = mse(y_true, y_pred)\ndata + 5*mean(square(grad(data, shared.output)))")
    losses, weights = by_hand(activation_penalty)
    assert_same_training(model, logged, losses, weights)


def test_integer_inputs_have_no_gradient_and_the_embedding_s_output_has_one():
    from models import embedding_lstm
    model = embedding_lstm()
    source = "mse(y_true, y_pred) + mean(square(grad(y_pred, inputs)))"
    found = [d for d in lossdsl.check(source, model=model) if d.is_error]
    assert [(d.code, d.span.start) for d in found] == [("E252", source.index("inputs"))] and found[0].hint
    assert [d for d in lossdsl.check("mean(square(grad(y_pred, embed.output)))", model=model) if d.is_error] == []


# ------------------------------------------------------------------ compiled terms
def test_a_compiled_term_differentiates_its_tensor_parameter_with_or_without_inputs():
    net = two_layers()
    term = lossdsl.compile("sum(square(grad(mse(y_true, y_pred @ c), c))) + mse(y_true, y_pred @ c)"
                           " where c: real[2, 2] = 0.5", net)
    c = tf.Variable(tf.fill((2, 2), 0.5))
    with tf.GradientTape() as inner:
        data = mse(Y, net(X) @ c)
    expected = tf.reduce_sum(tf.square(inner.gradient(data, c))) + data
    np.testing.assert_allclose(float(term(Y, inputs=X)), float(expected), rtol=1e-6)
    # the model never reads a parameter: its gradient needs no forward pass of lossdsl's own
    np.testing.assert_allclose(float(term(Y, net(X))), float(expected), rtol=1e-6)


def test_a_term_with_a_gradient_through_the_model_says_to_pass_the_inputs():
    net = two_layers()
    for source in (PENALTY, "sum(square(grad(mse(y_true, y_pred), out.kernel)))"):
        with pytest.raises(lossdsl.LossError, match="inputs=x"):
            lossdsl.compile(source, net)(Y, net(X))


def test_a_term_that_differentiates_only_its_own_reads_needs_no_batch():
    net = two_layers()
    term = lossdsl.compile("sum(square(grad(norm(out.kernel)**2, out.kernel)))", net)
    kernel = net.get_layer("out").kernel.numpy()
    np.testing.assert_allclose(float(term()), np.sum(np.square(2 * kernel)), rtol=1e-6)


def test_a_custom_loop_trains_with_the_term_called_on_inputs():
    net, optimizer = two_layers(), keras.optimizers.SGD(RATE)
    term = lossdsl.compile(PENALTY, net)
    losses = []
    for _ in range(EPOCHS):
        for start in range(0, len(X), BATCH):
            x, y = X[start:start + BATCH], Y[start:start + BATCH]
            with tf.GradientTape() as tape:
                loss = term(y, inputs=x, training=True)
            grads = tape.gradient(loss, net.trainable_weights)
            optimizer.apply_gradients(zip(grads, net.trainable_weights))
            losses.append(float(loss))
    expected, weights = by_hand(gradient_penalty)
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    for got, want in zip(net.weights, weights):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ no tape left behind
def test_predict_records_nothing_and_fit_keeps_no_tape():
    model, _ = attached(PENALTY)
    kept = [entry[2] for entry in model._passes.values()]
    assert kept and all(tape is None for tape in kept)  # compute_loss let go of each pass's tape
    model.compile(optimizer=keras.optimizers.SGD(RATE), run_eagerly=True)
    model._passes.clear()
    predicted = model.predict(X, batch_size=16, verbose=0)
    assert not record.could_possibly_record()  # no tape is open
    assert [entry[2] for entry in model._passes.values()] == [None]  # predict() made none
    np.testing.assert_allclose(predicted, model.inner(X), rtol=1e-6)


# ------------------------------------------------------------------ save and load
def test_a_saved_model_with_grad_loads_and_evaluates_the_same(tmp_path):
    model, _ = attached(PENALTY)
    path = tmp_path / "penalty.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    loaded.compile(optimizer=keras.optimizers.SGD(RATE))
    np.testing.assert_allclose(loaded.evaluate(X, Y, batch_size=16, verbose=0),
                               model.evaluate(X, Y, batch_size=16, verbose=0), rtol=1e-6)


# ------------------------------------------------------------------ two replicas
RUNNER = pathlib.Path(__file__).with_name("mirrored_runner.py")
MIRRORED = [
    "mse(y_true, y_pred) + mean(square(norm(grad(y_pred, inputs), axis=1) - 1))",
    "mse(y_true, y_pred) + 0.1*sum(square(grad(mse(y_true, y_pred), hidden.kernel)))",
    "mse(y_true, y_pred) + 10*mean(square(grad(mse(y_true, y_pred), hidden.output)))",
    "data = mse(y_true, y_pred)\ndata + w*stop(norm(grad(data, **.kernel))) + square(w - 1)",
]


@pytest.mark.slow
def test_gradients_on_two_replicas_equal_one_device():
    run = subprocess.run([sys.executable, str(RUNNER), *MIRRORED], capture_output=True, text=True, timeout=900,
                         cwd=RUNNER.parent)
    assert run.returncode == 0, run.stderr[-4000:]
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [r["formula"] for r in results] == MIRRORED
    for result in results:
        assert result["loss"] <= 1e-5 and result["weights"] <= 1e-5, result
