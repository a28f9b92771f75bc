"""Trainable scalar parameters packed in one vector variable (issue 15): values, saving, old files, logs, clipnorm."""

import json
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
from lossdsl.keras.logs import MAX_LOGGED_PARAMS
from lossdsl.lowering.parameters import constrain, unconstrain

FIXTURES = Path(__file__).parent / "fixtures"
MIXED = ("norm(L0.kernel) * (a + b + d) + sum(C * L0.kernel) + k * sum(L0.bias)\n"
         "where a: positive = 0.5, b: (-1, 3) = 2.5, C: real[4, 3] = 0.25, d: real = -0.75, k: const = 2")


def dense(units_in=4, units_out=3):
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((units_in,)), keras.layers.Dense(units_out)])


def quietly(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        return function(*args, **kwargs)


def test_trainable_scalars_share_one_vector_in_declaration_order():
    term = quietly(lossdsl.compile, MIXED, dense())
    assert [(v.name, tuple(v.shape)) for v in term.trainable_variables] == [("parameters", (3,)), ("C", (4, 3))]
    assert [(v.name, tuple(v.shape)) for v in term.non_trainable_variables] == [("k", ())]
    raw = term.packed_parameters.numpy()
    params = term.formula.params
    # Each entry is constrained exactly as a parameter of its own kind would be.
    for i, name in enumerate(["a", "b", "d"]):
        assert raw[i] == np.float32(unconstrain(params[name], params[name].init))
        assert term.params[name] == float(constrain(params[name], tf.constant(raw[i])))
    assert term.params["a"] == pytest.approx(0.5, rel=1e-6) and term.params["b"] == pytest.approx(2.5, rel=1e-6)
    assert term.params["d"] == -0.75 and term.params["k"] == 2.0
    assert list(term.params) == ["a", "b", "C", "d", "k"]


def test_set_param_changes_one_entry_and_the_value_follows():
    model = dense()
    term = quietly(lossdsl.compile, MIXED, model)
    term.set_param("b", -0.5)
    values = term.params
    assert values["b"] == pytest.approx(-0.5, abs=1e-6)
    assert values["a"] == pytest.approx(0.5, rel=1e-6) and values["d"] == -0.75
    kernel, bias = model.layers[0].kernel.numpy(), model.layers[0].bias.numpy()
    expected = np.linalg.norm(kernel) * (values["a"] + values["b"] + values["d"]) + 0.25 * kernel.sum() + 2 * bias.sum()
    assert float(term()) == pytest.approx(expected, rel=1e-5)


def test_the_gradient_of_each_scalar_reaches_its_entry():
    model = dense()
    term = quietly(lossdsl.compile, MIXED, model)
    with tf.GradientTape() as tape:
        value = term()
    gradient = tape.gradient(value, term.packed_parameters).numpy()
    raw = term.packed_parameters.numpy()
    norm = np.linalg.norm(model.layers[0].kernel.numpy())
    # d/draw of norm * constrained: softplus' = sigmoid; (lo + w*sigmoid)' = w*s*(1-s); real: 1
    sigmoid = 1 / (1 + np.exp(-raw))
    expected = norm * np.array([sigmoid[0], 4 * sigmoid[1] * (1 - sigmoid[1]), 1.0])
    np.testing.assert_allclose(gradient, expected, rtol=1e-5)


def test_a_file_saved_with_one_weight_per_parameter_loads_and_trains():
    expected = json.loads((FIXTURES / "one_weight_per_parameter.json").read_text())
    data = np.load(FIXTURES / "one_weight_per_parameter.npz")
    with warnings.catch_warnings():
        # Keras says the optimizer's saved state (per variable) does not fit the packed variables.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        model = keras.models.load_model(FIXTURES / "one_weight_per_parameter.keras")
    assert model.term.source == expected["formula"]
    assert tuple(model.term.packed_parameters.shape) == (3,)
    loaded = model.params
    assert {name: loaded[name] for name in "abr"} == {name: expected["params"][name] for name in "abr"}
    np.testing.assert_array_equal(loaded["C"], np.float32(expected["params"]["C"]))
    loss = model.evaluate(data["x"], data["y"], batch_size=32, verbose=0, return_dict=True)["loss"]
    assert loss == pytest.approx(expected["loss"], rel=1e-6)
    history = model.fit(data["x"], data["y"], epochs=3, batch_size=16, verbose=0).history
    assert history["loss"][-1] < expected["loss"]
    assert all(model.params[name] != loaded[name] for name in "abr")


@pytest.mark.parametrize("formula", ["a * norm(L0.kernel)\nwhere a: positive = 0.5",
                                     "a * norm(L0.kernel) + sum(C * L0.kernel) + b * sum(L0.bias) + k\n"
                                     "where a: positive = 0.5, C: real[4, 3] = 0.1, k: const = 1, b: (0, 1) = 0.2"])
def test_weights_in_the_old_layout_load_into_the_packed_one(formula):
    # The old layout: every trainable parameter one weight, in declaration order, then the non-trainable ones.
    term = quietly(lossdsl.compile, formula, dense())
    params = term.formula.params
    wanted = {name: (np.full(p.shape, 0.3, "float32") if p.shape else 0.7) for name, p in params.items()}
    raw = {name: np.float32(unconstrain(p, wanted[name])) if not p.shape else wanted[name]
           for name, p in params.items()}
    old = [raw[name] for name, p in params.items() if p.trainable] + [raw[name] for name, p in params.items()
                                                                      if not p.trainable]
    term.load_own_variables({str(i): np.asarray(value) for i, value in enumerate(old)})
    for name, value in term.params.items():
        np.testing.assert_allclose(value, wanted[name], rtol=1e-6)
    # The packed layout still loads as itself, and a store of neither layout is Keras' own error.
    store = {str(i): variable.numpy() for i, variable in enumerate(term.trainable_variables
                                                                    + term.non_trainable_variables)}
    term.set_param("a", 0.1)
    term.load_own_variables(store)
    assert term.params["a"] == pytest.approx(0.7, rel=1e-6)
    with pytest.raises(ValueError, match="expected .* variables"):
        term.load_own_variables({str(i): np.zeros(7, "float32") for i in range(9)})


def many(n: int) -> str:
    return ("mse(y_true, y_pred) + " + " + ".join(f"c{j}*norm(L0.kernel)/{n}" for j in range(n))
            + "\nwhere " + ", ".join(f"c{j}: (0, 1) = {0.05 + 0.9 * j / n:.3f}" for j in range(n)))


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(16, 4)).astype("float32"), rng.normal(size=(16, 3)).astype("float32")


@pytest.mark.parametrize("log_params, logged", [
    (None, [f"c{j}" for j in range(MAX_LOGGED_PARAMS)]),
    ("all", [f"c{j}" for j in range(12)]),
    (["c11", "c3"], ["c11", "c3"]),
    ([], []),
])
def test_fit_logs_the_parameters_asked_for_with_the_values_the_step_read(log_params, logged):
    model = quietly(lossdsl.attach, dense(), many(12), log_params=log_params)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    x, y = data()
    before = model.params
    logs = model.train_on_batch(x, y, return_dict=True)
    assert set(logs) == {"loss", *logged}
    for name in logged:
        assert logs[name] == pytest.approx(before[name], rel=1e-6)
    assert all(model.params[name] != before[name] for name in before)  # every one trained all the same


def test_the_logged_value_is_the_mean_over_the_epoch():
    model = quietly(lossdsl.attach, dense(), "mse(y_true, y_pred) + a * norm(L0.kernel)\nwhere a: real = 1")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y = data()
    read = []
    class Before(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            read.append(model.params["a"])
    history = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0, callbacks=[Before()]).history
    assert len(set(read)) == 4
    assert history["a"][0] == pytest.approx(np.mean(read), rel=1e-6)


@pytest.mark.parametrize("log_params, message", [
    ("some", "log_params must be None"),
    (["c1", "nope"], "'nope' is not a parameter"),
    (["C"], "'C' is tensor-valued"),
])
def test_a_wrong_log_params_is_a_loss_error(log_params, message):
    formula = "c1 * norm(L0.kernel) + sum(C * L0.kernel)\nwhere c1: real = 1, C: real[4, 3] = 0"
    with pytest.raises(lossdsl.LossError, match=message):
        quietly(lossdsl.attach, dense(), formula, log_params=log_params)


def test_log_params_is_saved_with_the_model(tmp_path):
    model = quietly(lossdsl.attach, dense(), many(12), log_params=["c11"])
    model.save(tmp_path / "m.keras")
    loaded = quietly(keras.models.load_model, tmp_path / "m.keras")
    assert loaded.log_params == ["c11"] and list(loaded.logged_names) == ["c11"]
    assert loaded.params == model.params


def test_clipnorm_clips_the_packed_scalars_together():
    # Keras clips each variable's gradient by its own norm: packed, the scalars' gradients are one vector.
    formula = "10 * a * norm(L0.kernel) + 10 * b * norm(L0.kernel)\nwhere a: real = 1, b: real = 1"
    model = quietly(lossdsl.attach, dense(), formula)
    model.compile(optimizer=keras.optimizers.SGD(1.0, clipnorm=1.0), loss="mse")
    x, y = data()
    assert 10 * float(tf.norm(model.inner.layers[0].kernel)) > 1  # each scalar's own gradient (the norm) would be clipped to 1 alone
    before = model.term.packed_parameters.numpy()
    model.train_on_batch(x, y)
    step = before - model.term.packed_parameters.numpy()
    np.testing.assert_allclose(step, [1 / np.sqrt(2)] * 2, rtol=1e-5)  # (g, g) clipped to norm 1, not (1, 1)


def test_a_checkpoint_with_one_variable_per_scalar_restores_into_the_packed_vector(tmp_path):
    # The object graph tf.train.Checkpoint wrote before packing: model -> term -> parameter_<name>.
    formula = "a * norm(L0.kernel) + b * sum(L0.bias)\nwhere a: positive = 0.5, b: real = 1"
    model = quietly(lossdsl.attach, dense(), formula)
    params = model.term.formula.params
    old = tf.Module()
    old.term = tf.Module()
    old.term.parameter_a = tf.Variable(np.float32(unconstrain(params["a"], 2.0)))
    old.term.parameter_b = tf.Variable(-3.0)
    path = tf.train.Checkpoint(model=old).write(str(tmp_path / "old"))
    tf.train.Checkpoint(model=model).read(path).expect_partial()
    assert model.params["a"] == pytest.approx(2.0, rel=1e-6) and model.params["b"] == -3.0
    # And what is written now has the same keys: the code from before packing reads it.
    model.term.set_param("b", 4.0)
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "new"))
    names = [name for name, _ in tf.train.list_variables(path)]
    assert "model/term/parameter_a/.ATTRIBUTES/VARIABLE_VALUE" in names
    tf.train.Checkpoint(model=old).read(path).expect_partial()
    assert float(old.term.parameter_b) == 4.0
