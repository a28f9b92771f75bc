"""Snapshots, given tensors and tensor-valued parameters in Keras, against hand-written TensorFlow: L2-SP,
EWC, a center loss; kept as non-trainable weights, untouched by training, saved and restored exactly."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
import lossdsl.keras

RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 4)).astype("float32")
Y = RNG.normal(size=(32, 2)).astype("float32")
LABELS = np.eye(3, dtype="float32")[RNG.integers(0, 3, size=32)]  # one-hot, 3 classes
STEPS, RATE = 3, 0.1


def two_layers(seed=0, outputs=2):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, name="out")(hidden))


def fit(model, source, y=Y, **given):
    """The formula attached and trained STEPS full-batch SGD steps; the attached model."""
    attached = lossdsl.attach(model, source, **given)
    attached.compile(optimizer=keras.optimizers.SGD(RATE))
    history = attached.fit(X, y, epochs=STEPS, batch_size=len(X), shuffle=False, verbose=0)
    return attached, history


def by_hand(model, loss_of, extra=()):
    """The same STEPS SGD steps written with a GradientTape: ``loss_of(prediction)`` is the loss."""
    variables = [*model.trainable_variables, *extra]
    for _ in range(STEPS):
        with tf.GradientTape() as tape:
            loss = loss_of(model(X, training=True))
        for variable, gradient in zip(variables, tape.gradient(loss, variables)):
            variable.assign_sub(RATE * gradient)
    return model


def assert_same_weights(trained, reference, atol=1e-6):
    for ours, theirs in zip(trained.weights, reference.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=atol)


def test_l2_sp_pulls_toward_the_snapshot_taken_when_attached():
    source = "mse(y_true, y_pred) + 0.5*sum(square(hidden.kernel - initial(hidden.kernel))) " \
             "+ 0.1*sum(square(out.kernel - initial(out.kernel)))"
    model, reference = two_layers(), two_layers()
    start = {name: reference.get_layer(name).kernel.numpy() for name in ("hidden", "out")}
    attached, _ = fit(model, source)

    def l2_sp(prediction):
        mse = tf.reduce_mean(tf.square(Y - prediction))
        return mse + sum(weight * tf.reduce_sum(tf.square(reference.get_layer(name).kernel - start[name]))
                         for name, weight in (("hidden", 0.5), ("out", 0.1)))
    assert_same_weights(model, by_hand(reference, l2_sp))
    snapshots = {w.name: w for w in attached.term.non_trainable_weights}
    np.testing.assert_array_equal(snapshots["initial_hidden_kernel"].numpy(), start["hidden"])  # untouched
    np.testing.assert_array_equal(snapshots["initial_out_kernel"].numpy(), start["out"])
    assert not attached.term.trainable_weights


def test_ewc_with_given_fisher_and_anchor():
    source = "mse(y_true, y_pred) + lam/2*sum(F1*square(hidden.kernel - theta1)) " \
             "where F1: tensor, theta1: tensor, lam: const = 100"
    fisher = RNG.uniform(size=(4, 8)).astype("float32")
    anchor = RNG.normal(size=(4, 8)).astype("float32")
    model, reference = two_layers(), two_layers()
    attached, history = fit(model, source, constants={"F1": fisher, "theta1": anchor})

    def ewc(prediction):
        return tf.reduce_mean(tf.square(Y - prediction)) + 50 * tf.reduce_sum(
            fisher * tf.square(reference.get_layer("hidden").kernel - anchor))
    assert_same_weights(model, by_hand(reference, ewc), atol=1e-5)
    weights = {w.name: w.numpy() for w in attached.term.non_trainable_weights}
    np.testing.assert_array_equal(weights["F1"], fisher)
    np.testing.assert_array_equal(weights["theta1"], anchor)
    assert set(history.history) == {"loss", "lam"}


def test_a_center_loss_learns_a_classes_by_features_parameter():
    # Three outputs, one per class (y_true is one-hot), whose first two are the features the centers are in:
    # c is (classes, features), not square, so a transposed use would not pass.
    source = "0.5*mean(sum(square(y_pred[:, 0:2] - y_true @ c), axis=1)) where c: real[3, 2]"
    init = RNG.normal(size=(3, 2)).astype("float32")
    model, reference = two_layers(outputs=3), two_layers(outputs=3)
    attached, history = fit(model, source, y=LABELS, constants={"c": init})
    centers = tf.Variable(init)

    def center_loss(prediction):
        return 0.5 * tf.reduce_mean(tf.reduce_sum(tf.square(prediction[:, :2] - LABELS @ centers), axis=1))
    by_hand(reference, center_loss, extra=[centers])
    assert_same_weights(model, reference)
    np.testing.assert_allclose(attached.params["c"], centers.numpy(), atol=1e-6)
    assert "c" not in history.history  # only scalar parameters are logged


@pytest.mark.parametrize("source, value", [
    ("sum(alpha) where alpha: (0, 2)[4] = 1", 4.0),
    ("sum(c * out.kernel) where c: positive[8, 2] = 0.5", None),
    ("sum(c) where c: const[2, 3] = 5", 30.0),
])
def test_a_scalar_initial_value_fills_a_tensor_parameter(source, value):
    model = two_layers()
    term = lossdsl.compile(source, model)
    if value is None:
        value = 0.5 * float(np.sum(model.get_layer("out").kernel.numpy()))
    np.testing.assert_allclose(float(term()), value, rtol=1e-6)


def test_tensor_parameters_are_read_and_set_in_the_constrained_space():
    term = lossdsl.compile("sum(alpha * out.kernel) where alpha: (0, 2)[8, 2] = 1", two_layers())
    wanted = np.linspace(0.1, 1.9, 16).reshape(8, 2)
    term.set_param("alpha", wanted)
    np.testing.assert_allclose(term.params["alpha"], wanted, rtol=1e-5)
    kernel = term.analysis.resolved["out.kernel"].variable.numpy()
    np.testing.assert_allclose(float(term()), np.sum(wanted * kernel), rtol=1e-5)


@pytest.mark.parametrize("source, constants, code, says", [
    ("sum(F * hidden.kernel) where F: tensor", None, "E221", "tensor 'F' is declared but not given"),
    ("sum(F * hidden.kernel) where F: tensor", {"F": np.ones((3, 3))}, "E301", "'F' has shape (3, 3)"),
    ("sum(F * hidden.kernel) where F: tensor", {"F": np.ones((4, 8)), "G": 1.0}, "E221", "does not declare"),
    ("sum(c * hidden.kernel) where c: real[4, 8]", {"c": np.ones(8)}, "E221", "declared with shape (4, 8)"),
    ("sum(initial(hidden))", None, "E222", "initial(hidden.kernel)"),
])
def test_compile_always_checks_the_given_tensors(source, constants, code, says):
    with pytest.raises(lossdsl.LossError) as raised:
        lossdsl.compile(source, two_layers(), constants=constants)
    first = raised.value.diagnostics[0]
    assert first.code == code and says in first.message + (first.hint or "")


SOURCE = ("mse(y_true, y_pred) + 0.3*sum(square(hidden.kernel - initial(hidden.kernel))) "
          "+ 0.5*sum(F * square(out.kernel - c)) where F: tensor, c: real[8, 2]")
FISHER = np.random.default_rng(1).uniform(size=(8, 2)).astype("float32")

CONTINUE_IN_FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    import lossdsl
    keras.utils.set_random_seed(123)  # a fresh model would start elsewhere: everything must come from the file
    path, data = sys.argv[1], np.load(sys.argv[2])
    model = keras.models.load_model(path)
    loaded = {w.path: w.numpy().tolist() for w in model.weights}
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    model.fit(data["x"], data["y"], epochs=2, batch_size=32, shuffle=False, verbose=0)
    print(json.dumps({"loaded": loaded, "trained": {w.path: w.numpy().tolist() for w in model.weights}}))
""")


def assert_resumes_exactly(tmp_path, source, **given) -> tuple:
    """Trained 2 epochs, saved, loaded in a fresh process and trained 2 more: every weight restored exactly
    (snapshots, given tensors, parameters), and the end equal to 4 uninterrupted epochs. (interrupted, saved
    weights by path, what the fresh process loaded and trained)."""
    def attached():
        model = lossdsl.attach(two_layers(), source, **given)
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        return model
    uninterrupted, interrupted = attached(), attached()
    uninterrupted.fit(X, Y, epochs=4, batch_size=32, shuffle=False, verbose=0)
    interrupted.fit(X, Y, epochs=2, batch_size=32, shuffle=False, verbose=0)
    saved = {w.path: w.numpy() for w in interrupted.weights}
    interrupted.save(tmp_path / "m.keras")
    np.savez(tmp_path / "data.npz", x=X, y=Y)
    run = subprocess.run([sys.executable, "-c", CONTINUE_IN_FRESH_PROCESS, str(tmp_path / "m.keras"),
                          str(tmp_path / "data.npz")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert set(result["loaded"]) == set(saved)
    for path, value in saved.items():
        np.testing.assert_array_equal(np.asarray(result["loaded"][path], "float32"), value, err_msg=path)
    for weight in uninterrupted.weights:
        np.testing.assert_allclose(np.asarray(result["trained"][weight.path]), weight.numpy(), atol=1e-6,
                                   err_msg=weight.path)
    return interrupted, saved, result


def test_save_load_in_a_fresh_process_and_continue_equals_uninterrupted_training(tmp_path):
    interrupted, saved, result = assert_resumes_exactly(tmp_path, SOURCE, constants={"F": FISHER})
    untouched = [w.path for w in interrupted.term.non_trainable_weights]
    assert sorted(p.split("/")[-1] for p in untouched) == ["F", "initial_hidden_kernel"]
    for path in untouched:
        np.testing.assert_array_equal(np.asarray(result["trained"][path], "float32"), saved[path])


MIRRORED = textwrap.dedent("""
    import sys
    import tensorflow as tf
    tf.config.set_logical_device_configuration(
        tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras, numpy as np, lossdsl
    source, data = sys.argv[1], np.load(sys.argv[2])

    def train(strategy):
        keras.utils.set_random_seed(0)
        with strategy.scope():
            inputs = keras.Input(shape=(4,))
            hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
            model = lossdsl.attach(keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden)), source,
                                   constants={"F": data["fisher"]})
            model.compile(optimizer=keras.optimizers.SGD(0.1))
        model.fit(data["x"], data["y"], epochs=2, batch_size=16, shuffle=False, verbose=0)
        return [w.numpy() for w in model.weights]

    one = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    print(max(float(np.max(np.abs(a - b))) for a, b in zip(one, two)))
""")


def test_under_mirrored_strategy_two_replicas_equal_one_device(tmp_path):
    np.savez(tmp_path / "data.npz", x=X, y=Y, fisher=FISHER)
    run = subprocess.run([sys.executable, "-c", MIRRORED, SOURCE, str(tmp_path / "data.npz")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert float(run.stdout.strip().splitlines()[-1]) < 1e-5


def test_a_center_loss_on_a_layers_activations():
    # SPEC §5.4's center loss on the penultimate layer's activations, with a (classes, features) parameter:
    # against a hand-written model that exposes the layer as a second output.
    source = "mse(y_true, y_pred) + 0.5*mean(sum(square(hidden.output - y_true @ c), axis=1)) where c: real[3, 8]"
    init = RNG.normal(size=(3, 8)).astype("float32")
    model, reference = two_layers(outputs=3), two_layers(outputs=3)
    attached, _ = fit(model, source, y=LABELS, constants={"c": init})
    centers = tf.Variable(init)
    exposed = keras.Model(reference.inputs, [reference.output, reference.get_layer("hidden").output])

    def center_loss(outputs):
        prediction, features = outputs
        return tf.reduce_mean(tf.reduce_mean(tf.square(LABELS - prediction), axis=-1)) + 0.5 * tf.reduce_mean(
            tf.reduce_sum(tf.square(features - LABELS @ centers), axis=1))
    by_hand(exposed, center_loss, extra=[centers])  # the same layers as reference, the activation as an output
    assert_same_weights(model, reference)
    np.testing.assert_allclose(attached.params["c"], centers.numpy(), atol=1e-6)
