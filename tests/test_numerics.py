"""Numerics: what log, sqrt and division give at the edge of their domain, check_numerics naming the term
that went NaN or Inf first, and training under mixed precision (the formula is computed in float32)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
import lossdsl.keras
from lossdsl.lowering.lower import lower

INF, NAN = math.inf, math.nan


def value_and_gradients(source: str, inputs: dict, check_numerics: bool = False):
    """The loss and its gradient with respect to each input, computed eagerly."""
    variables = {name: tf.Variable(value, dtype=tf.float32) for name, value in inputs.items()}
    lowered = lower(lossdsl.parse(source), check_numerics=check_numerics)
    with tf.GradientTape() as tape:
        loss = lowered(variables)[""]
    gradients = tape.gradient(loss, list(variables.values()))
    return float(loss), [float(g) for g in gradients]


# ------------------------------------------------------------------------------ domain edges
# What users get at the edge, as TensorFlow defines it (no silent clipping): formula, x, value, d/dx.
EDGES = [
    ("log(x)", 0.0, -INF, INF),
    ("log(x)", -1.0, NAN, -1.0),  # tf.math.log's gradient is 1/x wherever x is
    ("log1p(x)", -1.0, -INF, INF),
    ("sqrt(x)", 0.0, 0.0, INF),
    ("x**0.5", 0.0, 0.0, INF),
    ("sqrt(x)", -1.0, NAN, NAN),
    ("1/x", 0.0, INF, -INF),
    ("x**-0.5", 0.0, INF, -INF),
    ("x/x", 0.0, NAN, NAN),
    ("0*log(x)", 0.0, NAN, NAN),  # 0 * -inf: a zero weight does not save a log at 0
    ("norm(x)", 0.0, 0.0, 0.0),  # lossdsl's norm: gradient 0 at 0 (tf.norm's is NaN)
    ("sqrt(square(x) + 1e-6)", 0.0, 1e-3, 0.0),  # the hint W402 gives
    ("log(x + 1e-6)", 0.0, math.log(1e-6), 1e6),
    ("log(softplus(x))", -200.0, -INF, NAN),  # softplus underflows to 0 in float32: inf * 0 in the gradient
]


@pytest.mark.parametrize("source, x, value, gradient", EDGES)
def test_values_and_gradients_at_the_domain_edges(source, x, value, gradient):
    got_value, (got_gradient,) = value_and_gradients(source, {"x": x})
    np.testing.assert_allclose(got_value, value, rtol=1e-5)
    np.testing.assert_allclose(got_gradient, gradient, rtol=1e-5)


def test_cosine_of_zero_vectors_is_zero_with_a_finite_gradient():
    x = tf.Variable(tf.zeros(3))
    lowered = lower(lossdsl.parse("cosine(x, y)"))
    with tf.GradientTape() as tape:
        loss = lowered({"x": x, "y": tf.constant([1.0, 2.0, 3.0])})[""]
    assert float(loss) == 0.0
    assert np.all(np.isfinite(tape.gradient(loss, x).numpy()))


# ----------------------------------------------------------------------------- check_numerics
# formula, inputs, the name in the error (value NaN/Inf: the first step that produced it)
FIRST_BAD_VALUE = [
    ("reg = log(x)\nt = 2 * reg\nt + sqrt(y)", {"x": 0.0, "y": 1.0}, "term 'reg' = tf.math.log(x) has NaN or Inf"),
    ("ratio = x / y\nratio + x", {"x": 1.0, "y": 0.0}, "term 'ratio' = x / y has NaN or Inf"),
    ("log(x) + sqrt(y)", {"x": -1.0, "y": 1.0}, "step t1 = tf.math.log(x) has NaN or Inf"),
    ("exp(x)", {"x": 100.0}, "the loss = tf.exp(x) has NaN or Inf"),  # e**100 overflows float32
    ("reg = log(x)\nreg + y", {"x": 1.0, "y": NAN}, "the input 'y' has NaN or Inf"),
    ("a = sqrt(x)\nb = log(a)\na + b", {"x": 0.0}, "term 'b' = tf.math.log(a) has NaN or Inf"),
]


@pytest.mark.parametrize("source, inputs, named", FIRST_BAD_VALUE)
def test_check_numerics_names_the_first_value_that_went_bad(source, inputs, named):
    with pytest.raises(tf.errors.InvalidArgumentError, match="lossdsl check_numerics: ") as raised:
        value_and_gradients(source, inputs, check_numerics=True)
    assert named in raised.value.message


# formula, inputs, the value whose gradient went bad, and the step it came back from
BAD_GRADIENTS = [
    ("sqrt(y)", {"y": 0.0}, "the input 'y'", "the loss = tf.sqrt(y)"),
    ("reg = sqrt(y)\nreg + x", {"x": 1.0, "y": 0.0}, "the input 'y'", "term 'reg' = tf.sqrt(y)"),
    ("r = x**0.5\n3 * r", {"x": 0.0}, "the input 'x'", "term 'r' = tf.sqrt(x)"),
]


@pytest.mark.parametrize("source, inputs, value, came_from", BAD_GRADIENTS)
def test_check_numerics_names_the_step_a_bad_gradient_came_from(source, inputs, value, came_from):
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        value_and_gradients(source, inputs, check_numerics=True)
    assert f"the gradient of the loss with respect to {value} has NaN or Inf values, coming back from " \
           f"{came_from}" in raised.value.message


@pytest.mark.parametrize("source, inputs", [
    ("reg = log(x)\nt = 2 * reg\nt + sqrt(y)", {"x": 2.0, "y": 3.0}),
    ("norm(x) + x / y", {"x": 0.0, "y": 2.0}),
])
def test_check_numerics_changes_no_finite_value_or_gradient(source, inputs):
    assert value_and_gradients(source, inputs, check_numerics=True) == value_and_gradients(source, inputs)


def tiny_model():
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="dense")])


def test_fit_stops_at_the_first_batch_whose_targets_are_nan_before_updating_anything():
    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = np.ones((32, 1), "float32")
    y[20] = np.nan  # batch 2 of 4 (batches of 8): batches 0 and 1 train, batch 2 raises
    model = lossdsl.attach(tiny_model(), "data = mse(y_true, y_pred)\ndata + a * norm(dense.kernel)\n"
                                         "where a: positive = 0.1", check_numerics=True)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    seen = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    with pytest.raises(tf.errors.InvalidArgumentError, match="the input 'y_true' has NaN or Inf"):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[record])
    assert seen == [0, 1]
    assert np.all(np.isfinite(model.inner.get_layer("dense").kernel.numpy()))
    assert math.isfinite(model.params["a"])


def test_fit_names_the_term_that_went_nan():
    model = lossdsl.attach(tiny_model(), "data = mse(y_true, y_pred)\nreg = log(a - 1)\ndata + reg\nwhere a = 1.0",
                           check_numerics=True)
    model.compile(optimizer="sgd")
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"term 'reg' = tf.math.log\(t\d+\) has NaN or Inf"):
        model.fit(np.ones((8, 3), "float32"), np.zeros((8, 1), "float32"), epochs=1, verbose=0)


def test_check_numerics_turns_xla_off_for_fit_and_is_refused_for_a_jit_compiled_term():
    model = lossdsl.attach(tiny_model(), "mse(y_true, y_pred) + log(a - 1)\nwhere a = 1.0", check_numerics=True)
    with pytest.warns(UserWarning, match="Proceeding with `jit_compile=False`"):
        model.compile(optimizer="sgd", jit_compile=True)
    assert model.jit_compile is False
    with pytest.raises(tf.errors.InvalidArgumentError, match="check_numerics"):
        model.fit(np.ones((8, 3), "float32"), np.zeros((8, 1), "float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="jit_compile=False"):
        lossdsl.compile("norm(dense.kernel)", tiny_model(), jit_compile=True, check_numerics=True)


def test_check_numerics_is_kept_in_the_saved_config():
    model = lossdsl.attach(tiny_model(), "mse(y_true, y_pred)", check_numerics=True)
    restored = lossdsl.keras.FormulaModel.from_config(model.get_config())
    assert restored.term.check_numerics and restored.term.lowered.check_numerics


# ---------------------------------------------------------------------------- mixed precision
@pytest.fixture
def policy():
    """Set a global dtype policy for one test, and restore the previous one afterwards."""
    previous = keras.mixed_precision.global_policy()
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(previous)


@pytest.mark.parametrize("name, compute_dtype", [("mixed_float16", "float16"), ("mixed_bfloat16", "bfloat16")])
def test_mixed_precision_models_train_and_the_formula_is_computed_in_float32(policy, name, compute_dtype):
    policy(name)
    keras.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(32, 3)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu", name="hidden"),
                              keras.layers.Dense(2, name="out")])
    model = lossdsl.attach(inner, "data = mse(y_true, y_pred)\ndata + a * norm(hidden.kernel)\n"
                                  "where a: positive = 0.1")
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    y_pred = inner(x[:8])
    assert y_pred.dtype == compute_dtype
    values = model.term.evaluate(tf.constant(y[:8]), y_pred)
    assert values[""].dtype == tf.float32 and values["data"].dtype == tf.float32
    reference = np.mean(np.square(y[:8] - np.asarray(tf.cast(y_pred, tf.float32)))) \
        + 0.1 * np.linalg.norm(inner.get_layer("hidden").kernel.numpy())
    np.testing.assert_allclose(float(values[""]), reference, rtol=1e-5)

    history = model.fit(x, y, batch_size=8, epochs=2, verbose=0).history
    assert all(math.isfinite(v) for v in history["loss"]) and history["loss"][-1] < history["loss"][0]
    assert model.params["a"] != pytest.approx(0.1)
