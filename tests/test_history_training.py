"""Training progress and history in training (SPEC §5.5, §5.6), against independent TensorFlow/Keras: a
schedule over known steps and GradNorm's L/start(L) against hand-written loops, Dynamic Weight Average against
a Keras callback's logs, ema/epoch_start/previous against numpy recurrences in a custom loop, resume with
BackupAndRestore, save -> load_model -> continue, and a first-edition formula saved with a model."""

import json
import warnings
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
from lossdsl.keras import FormulaModel

pytestmark = pytest.mark.slow
RATE, BATCH = 0.05, 8
TASKS = "t1 = mse(y_true[:, 0:1], y_pred[:, 0:1])\nt2 = mse(y_true[:, 1:2], y_pred[:, 1:2])\n"


def data(samples=24):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(samples, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 2)) * [1.0, 3.0]).astype("float32")  # two tasks of different scales
    return x, y


def two_task_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))


def attached(formula: str, inner=None) -> keras.Model:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W403 on L/start(L): a term may be 0 at its first step
        model = lossdsl.attach(inner or two_task_model(), formula)
    model.compile(optimizer=keras.optimizers.SGD(RATE))
    return model


def by_hand(loss_of_step, epochs: int) -> list[np.ndarray]:
    """The model trained by a hand-written loop: ``loss_of_step(i, y, y_pred, model)`` is step i's loss."""
    model = two_task_model()
    optimizer = keras.optimizers.SGD(RATE)
    x, y = data()
    i = 0
    for _ in range(epochs):
        for start in range(0, len(x), BATCH):
            with tf.GradientTape() as tape:
                loss = loss_of_step(i, y[start:start + BATCH], model(x[start:start + BATCH]), model)
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
            i += 1
    return [v.numpy() for v in model.trainable_variables]


def mse(y, p):
    return tf.reduce_mean(tf.square(y - p))


def assert_same_weights(got, want, atol=1e-6):
    for a, b in zip(got, want):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=atol)


def test_beta_annealing_over_known_steps_is_the_hand_written_schedule():
    model = attached("data = mse(y_true, y_pred)\nkl = sum(square(hidden.kernel))\ndata + minimum(1, step/5)*kl")
    model.fit(*data(), batch_size=BATCH, epochs=3, shuffle=False, verbose=0)  # 9 steps: beta reaches 1 at step 5
    expected = by_hand(lambda i, y, p, m: mse(y, p) + min(1.0, i / 5) * tf.reduce_sum(
        tf.square(m.get_layer("hidden").kernel)), 3)
    assert_same_weights(model.inner.trainable_variables, expected)
    assert int(model.term.state.step.numpy()) == 9 == int(model.optimizer.iterations.numpy())
    assert int(model.term.state.epoch.numpy()) == 3


def test_gradnorm_ratio_to_the_first_step_value_is_the_hand_written_one():
    model = attached(TASKS + "t1/start(t1) + t2/start(t2)")
    history = model.fit(*data(), batch_size=BATCH, epochs=2, shuffle=False, verbose=0).history
    first = {}

    def loss(i, y, p, m):
        tasks = [mse(y[:, k:k + 1], p[:, k:k + 1]) for k in range(2)]
        if i == 0:
            first.update({k: tf.stop_gradient(task) for k, task in enumerate(tasks)})
        return tasks[0] / first[0] + tasks[1] / first[1]
    assert_same_weights(model.inner.trainable_variables, by_hand(loss, 2))
    np.testing.assert_allclose(model.term.state.value("start(t1)"), first[0].numpy(), rtol=1e-6)
    assert history["loss"][1] < history["loss"][0]


def test_dynamic_weight_average_follows_the_logged_epoch_losses():
    formula = (TASKS + "w = 2*softmax(stack(previous(t1)/previous(t1, 2), previous(t2)/previous(t2, 2))/2)\n"
               "w1 = w[0]\nw1*t1 + w[1]*t2")
    logs = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, epoch_logs: logs.append(dict(epoch_logs)))
    model = attached(formula)
    model.fit(*data(), batch_size=BATCH, epochs=4, shuffle=False, verbose=0, callbacks=[record])
    assert logs[0]["w1"] == pytest.approx(1.0, abs=1e-6)  # no epoch back yet: previous(L) is L, every ratio 1
    for epoch in (2, 3):  # both epochs back exist: the weights are DWA's, from the logged losses
        r1, r2 = (logs[epoch - 1][t] / logs[epoch - 2][t] for t in ("t1", "t2"))
        assert logs[epoch]["w1"] == pytest.approx(2 * np.exp(r1 / 2) / (np.exp(r1 / 2) + np.exp(r2 / 2)), rel=1e-5)
    # previous(L) is the term's logged epoch value (Keras' Mean over the epoch's steps), the latest first
    np.testing.assert_allclose(model.term.state.previous_values("t1"), [logs[3]["t1"], logs[2]["t1"]], rtol=1e-6)


def test_a_compiled_term_in_a_custom_loop_follows_numpy_recurrences():
    net = two_task_model()
    term = lossdsl.compile("L = sum(square(hidden.kernel))\ne = ema(L, 0.8)\ns = epoch_start(L)\np = previous(L)\n"
                           "n = step + 0*L\nk = epoch + 0*L\nL + e + s + p", net)
    kernel = net.get_layer("hidden").kernel
    rng = np.random.default_rng(2)
    ema = first = None
    closed, seen = [], []
    for epoch in range(3):
        for i in range(3):
            kernel.assign(rng.normal(size=kernel.shape).astype("float32"))
            value = float(np.sum(np.square(kernel.numpy())))
            ema = value if ema is None else 0.8 * ema + 0.2 * value
            first = value if i == 0 else first
            got = term.evaluate(training=True)
            assert float(got["L"]) == pytest.approx(value, rel=1e-6)
            assert float(got["e"]) == pytest.approx(ema, rel=1e-5)
            assert float(got["s"]) == pytest.approx(first, rel=1e-6)
            assert float(got["p"]) == pytest.approx(closed[-1] if closed else value, rel=1e-5)
            assert (float(got["n"]), float(got["k"])) == (3 * epoch + i, epoch)
            seen.append(value)
        closed.append(np.mean(seen[-3:], dtype=np.float32))
        term.end_epoch()
    # outside training the state is read, never moved
    before = {name: w.numpy().copy() for name, w in term.state.weights.items()}
    kernel.assign(np.zeros(kernel.shape, "float32"))
    assert float(term.evaluate()["e"]) == pytest.approx(0.8 * ema, rel=1e-5)
    term(training=False)
    assert all(np.array_equal(w.numpy(), before[name], equal_nan=True) for name, w in term.state.weights.items())


HISTORY = (TASKS + "w = 2*softmax(stack(previous(t1)/previous(t1, 2), previous(t2)/previous(t2, 2))/2)\n"
           "w[0]*t1*epoch_start(t1)/start(t1) + w[1]*t2 + 0.1*minimum(1, step/7)*ema(t2, 0.7) * sum(square(out.kernel))"
           " + 0.01*epoch*sum(square(hidden.kernel))")


def uninterrupted(epochs=5):
    model = attached(HISTORY)
    history = model.fit(*data(), batch_size=BATCH, epochs=epochs, shuffle=False, verbose=0).history
    return model, history


class Interrupt(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_schedule_history_and_weights(tmp_path):
    expected, expected_history = uninterrupted()
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        attached(HISTORY).fit(*data(), batch_size=BATCH, epochs=5, shuffle=False, verbose=0,
                              callbacks=[keras.callbacks.BackupAndRestore(backup), Interrupt()])
    resumed = attached(HISTORY)  # a new process would build the model again: BackupAndRestore restores it
    history = resumed.fit(*data(), batch_size=BATCH, epochs=5, shuffle=False, verbose=0,
                          callbacks=[keras.callbacks.BackupAndRestore(backup)]).history
    np.testing.assert_allclose(history["loss"], expected_history["loss"][3:], rtol=1e-5)
    assert_same_weights(resumed.weights, expected.weights, atol=1e-5)  # the state weights included
    assert int(resumed.term.state.step.numpy()) == 15 and int(resumed.term.state.epoch.numpy()) == 5


class InterruptAtStep(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) == 8:  # epoch 2, second step: mid-epoch
            raise RuntimeError("interrupted")


def test_after_a_step_level_checkpoint_the_replayed_epoch_counts_its_steps_once(tmp_path):
    backup = str(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        attached(HISTORY).fit(*data(), batch_size=BATCH, epochs=5, shuffle=False, verbose=0,
                              callbacks=[keras.callbacks.BackupAndRestore(backup, save_freq=2), InterruptAtStep()])
    logs = []
    resumed = attached(HISTORY)
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, epoch_logs: logs.append(
        (epoch, epoch_logs["t1"], float(resumed.term.state.previous_values("t1")[0]))))  # after the epoch closed
    resumed.fit(*data(), batch_size=BATCH, epochs=5, shuffle=False, verbose=0,
                callbacks=[keras.callbacks.BackupAndRestore(backup, save_freq=2), record])
    assert logs[0][0] == 2  # Keras replays epoch 2 from its start (its first two steps were checkpointed)
    for epoch, logged, previous in logs:  # previous(t1) is the logged value of every epoch, the replayed one too
        assert previous == pytest.approx(logged, rel=1e-6)


def test_epoch_is_fit_s_epoch_index():
    model = attached("data = mse(y_true, y_pred)\ndata + 0.01*epoch*sum(square(hidden.kernel))")
    seen = []
    record = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(epoch))
    model.fit(*data(), BATCH, 2, 0, [record], initial_epoch=1, shuffle=False)  # callbacks given by position too
    assert seen == [1]
    assert_same_weights(model.inner.trainable_variables, by_hand(
        lambda i, y, p, m: mse(y, p) + 0.01 * tf.reduce_sum(tf.square(m.get_layer("hidden").kernel)), 1))


def test_save_load_and_continue_equals_an_uninterrupted_run(tmp_path):
    expected, expected_history = uninterrupted()
    first = attached(HISTORY)
    first.fit(*data(), batch_size=BATCH, epochs=2, shuffle=False, verbose=0)
    first.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    names = {w.path: w.numpy() for w in loaded.term.state.weights.values()}
    assert any(np.isfinite(value).all() and "previous" in path for path, value in names.items())
    history = loaded.fit(*data(), batch_size=BATCH, epochs=5, initial_epoch=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(history["loss"], expected_history["loss"][2:], rtol=1e-5)
    assert_same_weights(loaded.weights, expected.weights, atol=1e-5)


def test_evaluate_reads_history_and_never_moves_it():
    model, _ = uninterrupted(epochs=2)
    before = [w.numpy().copy() for w in model.term.state.weights.values()]
    model.evaluate(*data(), batch_size=BATCH, verbose=0)
    assert all(np.array_equal(w.numpy(), b, equal_nan=True) for w, b in zip(model.term.state.weights.values(), before))


def test_a_first_edition_formula_saved_with_a_model_loads_and_trains_the_same(tmp_path):
    first_edition = "mse(y_true, y_pred) + step*square(var) where step: positive = 2"
    model = FormulaModel(two_task_model(), first_edition, edition=1)
    model.build((None, 4))
    model.save(tmp_path / "saved.keras")
    with zipfile.ZipFile(tmp_path / "saved.keras") as archive:
        config = json.loads(archive.read("config.json"))
    assert config["config"].pop("edition") == 1  # a file saved before editions were recorded has none
    from conftest import with_config
    old = with_config(tmp_path / "saved.keras", json.dumps(config), tmp_path / "old.keras")
    loaded = keras.models.load_model(old, safe_mode=True)
    assert loaded.term.edition == 1 and list(loaded.params) == ["step", "var"]
    loaded.compile(optimizer=keras.optimizers.SGD(RATE))
    renamed = attached("mse(y_true, y_pred) + s*square(v) where s: positive = 2")  # the same in the second edition
    got = loaded.fit(*data(), batch_size=BATCH, epochs=2, shuffle=False, verbose=0).history["loss"]
    want = renamed.fit(*data(), batch_size=BATCH, epochs=2, shuffle=False, verbose=0).history["loss"]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert loaded.params["step"] == pytest.approx(renamed.params["s"], rel=1e-6)
    assert loaded.get_config()["edition"] == 1  # saved again, it stays a first-edition formula


def test_two_replicas_give_one_device_s_history_and_schedule():
    """MirroredStrategy on two logical CPUs (a fresh process: tests/mirrored_runner.py), fit() and a custom loop."""
    import pathlib
    import subprocess
    import sys
    runner = pathlib.Path(__file__).with_name("mirrored_runner.py")
    run = subprocess.run([sys.executable, str(runner), HISTORY, "--custom-loop", HISTORY], capture_output=True,
                         text=True, timeout=900, cwd=runner.parent)
    assert run.returncode == 0, run.stderr[-4000:]
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    assert [r["loop"] for r in results] == ["fit", "custom_loop"]
    for result in results:  # fit() compares every weight of the model, the state weights included
        assert result["loss"] <= 1e-5 * result["loss_scale"] and result["weights"] <= 1e-5, result


def test_a_tf_checkpoint_keeps_the_state(tmp_path):
    model, _ = uninterrupted(epochs=2)
    saved = {name: w.numpy().copy() for name, w in model.term.state.weights.items()}
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    model.fit(*data(), batch_size=BATCH, epochs=3, initial_epoch=2, shuffle=False, verbose=0)
    assert not np.array_equal(model.term.state.weights["state_history"].numpy(), saved["state_history"],
                              equal_nan=True)
    tf.train.Checkpoint(model=model).read(path).assert_existing_objects_matched()
    for name, weight in model.term.state.weights.items():
        np.testing.assert_array_equal(weight.numpy(), saved[name])


def test_a_model_resolves_a_formula_with_state_and_checks_its_shapes():
    model = two_task_model()
    assert [d.code for d in lossdsl.check(HISTORY, model=model) if d.is_error] == []
    found = lossdsl.check("g = hidden.kernel @ out.kernel\nsum(square(g)) + start(g)", model=model)
    assert [d.code for d in found] == ["E241"]


@pytest.mark.parametrize("edition", [3, "2", True, None])
def test_a_saved_edition_must_be_one_the_language_has(edition):
    config = attached("mse(y_true, y_pred)").get_config()
    with pytest.raises(lossdsl.LossError, match="'edition' must be 1 or 2"):
        FormulaModel.from_config({**config, "edition": edition})
