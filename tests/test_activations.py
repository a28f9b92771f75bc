"""Activations and inputs (SPEC §5.1): names and shapes against models of every kind, then fit() against
hand-written models that expose the layer as an extra output: same values, same gradients, one pass."""

import numpy as np
import pytest
import tensorflow as tf

import keras
import lossdsl
from lossdsl.analysis.checks import analyze
from lossdsl.cli.main import reference_rows
from models import SubModel, functional, hidden_out, nested, sequential, shared_layer, subclassed


def two_inputs() -> keras.Model:
    """A Functional model with two named inputs, 'image' (3) and 'meta' (2)."""
    image, meta = keras.Input((3,), name="image"), keras.Input((2,), name="meta")
    joined = keras.layers.Concatenate(name="joined")([image, meta])
    return keras.Model([image, meta], keras.layers.Dense(1, name="out")(joined), name="two_inputs")


class Skipping(keras.Model):
    """A subclassed model owning a layer its call() never runs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.used = keras.layers.Dense(2, name="used")
        self.unused = keras.layers.Dense(2, name="unused")

    def call(self, x):
        return self.used(x)


def skipping() -> keras.Model:
    model = Skipping(name="skipping")
    model(keras.ops.ones((1, 4)))
    model.unused(keras.ops.ones((1, 4)))
    return model


def plain_sequential() -> keras.Model:
    """Sequential without dropout (a hand-written reference cannot draw Keras' dropout masks)."""
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense_1"),
                             keras.layers.Dense(2, name="dense_2")], name="seq")


MODELS = {"hidden_out": hidden_out, "functional": functional, "sequential": sequential, "plain": plain_sequential, "nested": nested,
          "subclassed": subclassed, "shared": shared_layer, "two_inputs": two_inputs, "skipping": skipping}

# model, formula, {reference: shape}
SHAPES = [
    ("hidden_out", "mean(square(hidden.output))", {"hidden.output": (None, 8)}),
    ("hidden_out", "mean(L1.input) + mean(L2.output)", {"L1.input": (None, 4), "L2.output": (None, 2)}),
    ("hidden_out", "mean(inputs) + inputs.in0[0, 1]", {"inputs": (None, 4), "inputs.in0": (None, 4)}),
    ("sequential", "mean(dense_1.output) + mean(L2.input)", {"dense_1.output": (None, 3), "L2.input": (None, 3)}),
    ("functional", "mean(`dense-1`.output)", {"`dense-1`.output": (None, 4)}),
    ("nested", "mean(sub_model.dense1.output) + mean(inputs.features)",
     {"sub_model.dense1.output": (None, 3), "inputs.features": (None, 8)}),
    ("nested", "mean(sub_model.output)", {"sub_model.output": (None, 1)}),
    ("subclassed", "mean(dense2.output) + mean(inputs)", {"dense2.output": (None, 3), "inputs": (None, 4)}),
    ("two_inputs", "mean(inputs.image) + mean(inputs.in1) + mean(joined.output)",
     {"inputs.image": (None, 3), "inputs.in1": (None, 2), "joined.output": (None, 5)}),
]

# model, formula, the errors [(code, line, column)]
DIAGNOSTICS = [
    ("hidden_out", "mean(hidden.output.kernel)", [("E216", 1, 6)]),
    ("hidden_out", "mean(hiden.output)", [("E210", 1, 6)]),
    ("hidden_out", "mean(inputs.image)", [("E225", 1, 6)]),
    ("hidden_out", "mean(inputs.in1)", [("E225", 1, 6)]),
    ("hidden_out", "mean(inputs.in0.x)", [("E216", 1, 6)]),
    ("two_inputs", "mean(inputs)", [("E225", 1, 6)]),
    ("shared", "mean(square(shared.output))", [("E224", 1, 13)]),
    ("skipping", "mean(used.output) + mean(unused.output)", [("E224", 1, 26)]),
    ("hidden_out", "inputs = mean(hidden.output); inputs", [("E208", 1, 1)]),
]


@pytest.mark.parametrize("name, formula, shapes", SHAPES)
def test_activation_and_input_shapes(name, formula, shapes):
    analysis = analyze(formula, model=MODELS[name]())
    assert [d.code for d in analysis.diagnostics if d.is_error] == []  # mean() of a signed block may warn
    assert {text: analysis.resolved[text].shape for text in shapes} == shapes


@pytest.mark.parametrize("name, formula, expected", DIAGNOSTICS)
def test_misuse_is_a_diagnostic_at_its_position(name, formula, expected):
    found = [(d.code, d.position.line, d.position.column) for d in lossdsl.check(formula, model=MODELS[name]())
             if d.is_error]
    assert found == expected


def test_a_shapes_table_states_activations_and_inputs_by_their_text():
    shapes = {"hidden.output": [None, 8], "inputs": [None, 4], "y_pred": [None, 2], "y_true": [None, 2]}
    assert lossdsl.check("mean(square(hidden.output)) + mean(inputs) + mse(y_true, y_pred)", shapes=shapes) == []
    assert [d.code for d in lossdsl.check("norm(hidden.output @ inputs)", shapes=shapes)] == ["E302"]


# An activation is a block training moves, like a variable; inputs are data, like y_true.
STABILITY = [
    ("mean(square(hidden.output))", []),
    ("-mean(square(hidden.output))", ["W401"]),
    ("-mean(square(L1.output - inputs))", ["W401"]),
    ("-mean(square(inputs))", []),
    ("-mean(square(y_true - inputs))", []),
]


@pytest.mark.parametrize("formula, codes", STABILITY)
def test_activations_are_moved_by_training_and_inputs_are_not(formula, codes):
    assert [d.code for d in lossdsl.check(formula)] == codes


def test_explain_lists_activations_and_inputs_by_kind():
    formula = lossdsl.parse("mean(square(hidden.output)) + mean(inputs.in0) + norm(hidden.kernel) + mse(y_true, y_pred)")
    kinds = {row["name"]: row["kind"] for row in reference_rows(formula)}
    assert kinds == {"hidden.output": "activation", "inputs.in0": "inputs", "hidden.kernel": "variable",
                     "y_true": "target", "y_pred": "target"}


# ------------------------------------------------------------------ fit() against hand-written Keras
ACTIVITY = "mse(y_true, y_pred) + a*mean(square({layer}.output)) + 0.1*mean(inputs) where a: const = 0.01"


def exposed(model, layer_name):
    """(predictions, the layer's output) by a hand-written forward pass (no lossdsl): SubModel's dense1
    written out, or a Functional model with the layer as an extra output."""
    if isinstance(model, SubModel) or model.name == "nested":
        sub = model if isinstance(model, SubModel) else model.get_layer("sub_model")

        def forward(x):
            first = sub.dense1(x)
            return sub.dense3(sub.dense2(first)), first
        return forward
    return keras.Model(model.inputs, [model.outputs[0], model.get_layer(layer_name).output])


CASES = [("hidden_out", "hidden", 4, 2), ("plain", "dense_1", 4, 2), ("nested", "sub_model.dense1", 8, 1),
         ("subclassed", "dense1", 4, 1)]


@pytest.mark.parametrize("name, layer, features, outputs", CASES)
def test_fit_equals_a_model_exposing_the_layer(name, layer, features, outputs):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, features)).astype("float32"), rng.normal(size=(32, outputs)).astype("float32")
    keras.utils.set_random_seed(0)
    model, reference = MODELS[name](), MODELS[name]()
    for mine, theirs in zip(reference.weights, model.weights):
        mine.assign(theirs)
    attached = lossdsl.attach(model, ACTIVITY.format(layer=layer))
    attached.compile(optimizer=keras.optimizers.SGD(0.05))
    losses = attached.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history["loss"]

    forward, optimizer, expected = exposed(reference, layer.split(".")[-1]), keras.optimizers.SGD(0.05), []
    for _ in range(2):
        epoch = []
        for start in (0, 16):
            xb, yb = x[start:start + 16], y[start:start + 16]
            with tf.GradientTape() as tape:
                prediction, activation = forward(xb)
                loss = (tf.reduce_mean(tf.square(yb - prediction)) + 0.01 * tf.reduce_mean(tf.square(activation))
                        + 0.1 * tf.reduce_mean(xb))
            optimizer.apply_gradients(zip(tape.gradient(loss, reference.trainable_weights), reference.trainable_weights))
            epoch.append(float(loss))
        expected.append(np.mean(epoch))
    np.testing.assert_allclose(losses, expected, rtol=1e-5)
    for mine, theirs in zip(model.weights, reference.weights):
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), atol=1e-6)
    assert all("call" not in sub.__dict__ for sub in model._flatten_layers())  # the wrapping is gone


class CountingDense(keras.layers.Dense):
    """Counts its calls (while tracing: one per forward pass in a traced step)."""

    calls = 0

    def call(self, x, *args, **kwargs):
        CountingDense.calls += 1
        return super().call(x, *args, **kwargs)


def test_fit_and_evaluate_take_the_activation_from_the_same_forward_pass():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(CountingDense(3, name="counted")(inputs)))
    attached = lossdsl.attach(model, "mse(y_true, y_pred) + 0.1*mean(square(counted.output))")
    attached.compile(optimizer="sgd")
    x, y = np.ones((8, 4), "float32"), np.ones((8, 1), "float32")
    CountingDense.calls = 0
    attached.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert CountingDense.calls == 1  # one traced train step, one call of the layer in it
    CountingDense.calls = 0
    attached.evaluate(x, y, batch_size=8, verbose=0)
    assert CountingDense.calls == 1


def test_a_compiled_term_runs_one_forward_pass_on_its_inputs():
    model = hidden_out()
    x, y = np.random.default_rng(1).normal(size=(6, 4)).astype("float32"), np.zeros((6, 2), "float32")
    term = lossdsl.compile("mse(y_true, y_pred) + mean(square(hidden.output)) + mean(inputs.in0)", model)
    hidden = model.get_layer("hidden")(x)
    expected = np.mean(np.square(y - model(x))) + np.mean(np.square(hidden)) + np.mean(x)
    np.testing.assert_allclose(float(term(y, inputs=x, training=False)), expected, rtol=1e-6)
    with pytest.raises(lossdsl.LossError, match="inputs=x"):
        term(y, model(x))


def test_a_layer_a_subclassed_model_calls_twice_is_found_before_training():
    class Twice(keras.Model):
        def __init__(self):
            super().__init__(name="twice")
            self.shared = keras.layers.Dense(4, name="shared")

        def call(self, x):
            return self.shared(self.shared(x))

    model = Twice()
    model(np.ones((1, 4), "float32"))
    assert [(d.code, d.position.column) for d in lossdsl.check("norm(shared.output)", model=model)] == [("E224", 6)]


def test_save_and_load_keep_nothing_of_the_wrapping(tmp_path):
    model = hidden_out()
    attached = lossdsl.attach(model, "mse(y_true, y_pred) + a*mean(square(hidden.output)) where a: positive = 0.1")
    attached.compile(optimizer="sgd")
    x, y = np.ones((8, 4), "float32"), np.ones((8, 2), "float32")
    attached.fit(x, y, verbose=0)
    attached.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
    loaded.compile(optimizer="sgd")
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(attached.evaluate(x, y, verbose=0), rel=1e-6)
    assert all("call" not in layer.__dict__ for layer in loaded._flatten_layers())


def test_a_custom_loop_reuses_the_pass_that_gave_y_pred_and_keeps_one_pass_per_thread():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(CountingDense(3, name="counted")(inputs)))
    attached = lossdsl.attach(model, "mse(y_true, y_pred) + 0.1*mean(square(counted.output))")
    x, y = np.random.default_rng(2).normal(size=(8, 4)).astype("float32"), np.ones((8, 1), "float32")
    for _ in range(3):
        attached(x)
    CountingDense.calls = 0
    y_pred = attached(x)
    loss = attached.compute_loss(x, y, y_pred)
    assert CountingDense.calls == 1 and len(attached._passes) == 1
    hidden = model.get_layer("counted")(x)
    np.testing.assert_allclose(float(loss), np.mean(np.square(y - y_pred)) + 0.1 * np.mean(np.square(hidden)),
                               rtol=1e-6)
