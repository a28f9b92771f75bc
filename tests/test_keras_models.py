"""attach() and compile() on every kind of model: Sequential, Functional, subclassed, nested, conv + batch
norm, embedding + LSTM, multi-output. Each trains, logs its terms and parameters, and computes what a
hand-written TensorFlow expression computes."""

import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
import models

rng = np.random.default_rng(0)

# (model builder, formula, input batch, target batch)
TRAINING = [
    (models.sequential, "data = mse(y_true, y_pred)\ndata + a * norm(dense_1.kernel) + norm(L2.kernel)\nwhere a: positive",
     rng.normal(size=(16, 4)), rng.normal(size=(16, 2))),
    (models.functional, "mae(y_true, y_pred) + lam * norm(`dense-1`.kernel)\nwhere lam: (0, 1)",
     rng.normal(size=(16, 5)), rng.normal(size=(16, 1))),
    (models.subclassed, "mse(y_true, y_pred) + exp(-s) * norm(dense1.kernel) + s",
     rng.normal(size=(16, 4)), rng.normal(size=(16, 1))),
    (models.nested, "mse(y_true, y_pred) + a * norm(sub_model.dense1.kernel) + norm(sub_model.dense2.kernel)\n"
                    "where a: positive", rng.normal(size=(16, 8)), rng.normal(size=(16, 1))),
    (models.conv_bn, "mse(y_true, y_pred) + c * (norm(bn.gamma - 1) + norm(stop(bn.moving_mean)))\nwhere c: nonneg",
     rng.normal(size=(16, 6, 6, 1)), rng.normal(size=(16, 1))),
    (models.embedding_lstm, "mse(y_true, y_pred) + a * norm(lstm.recurrent_kernel) + norm(embed.embeddings)\n"
                            "where a: positive", rng.integers(0, 10, size=(16, 5)), rng.normal(size=(16, 1))),
    (models.multi_output, "exp(-s1) * mse(y_true.weight, y_pred.weight) + s1 + exp(-s2) * mse(y_true.height, y_pred.height) + s2",
     rng.normal(size=(16, 4)), {"weight": rng.normal(size=(16, 2)), "height": rng.normal(size=(16, 1))}),
]


@pytest.mark.parametrize("build, formula, x, y", TRAINING, ids=[t[0].__name__ for t in TRAINING])
def test_attach_trains_every_kind_of_model(build, formula, x, y):
    keras.utils.set_random_seed(0)
    inner = build()
    model = lossdsl.attach(inner, formula)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    before = model.params
    weights_before = [w.numpy().copy() for w in inner.trainable_weights]
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    for name in [*model.term.formula.terms, *model.term.formula.params]:
        assert name in history  # every named term and parameter is logged
    assert all(model.params[name] != before[name] for name in before if model.term.formula.params[name].trainable)
    assert any(not np.allclose(a, b.numpy()) for a, b in zip(weights_before, inner.trainable_weights))


def test_non_trainable_variables_are_read_but_get_no_gradient():
    keras.utils.set_random_seed(0)
    inner = models.conv_bn()
    bn = inner.get_layer("bn")
    bn.moving_mean.assign([0.5, -1.0])
    term = lossdsl.compile("norm(bn.moving_mean) + sum(bn.gamma)", inner)
    assert float(term()) == pytest.approx(float(tf.norm([0.5, -1.0]) + tf.reduce_sum(bn.gamma)), rel=1e-6)
    with tf.GradientTape() as tape:
        value = term()
    gradients = tape.gradient(value, [bn.gamma, bn.moving_mean])
    np.testing.assert_allclose(gradients[0].numpy(), [1.0, 1.0])
    assert gradients[1] is None  # Keras does not watch a non-trainable variable: no gradient reaches it


def test_compiled_term_exposes_params_terms_and_lowered_ops():
    keras.utils.set_random_seed(0)
    inner = models.functional()
    term = lossdsl.compile("reg = norm(hidden.kernel)\nw * reg\nwhere w: positive = 2", inner)
    assert term.params == pytest.approx({"w": 2.0})
    assert float(term.terms["reg"]) == pytest.approx(float(tf.norm(inner.get_layer("hidden").kernel)), rel=1e-6)
    term.set_param("w", 0.25)
    assert float(term()) == pytest.approx(0.25 * float(term.terms["reg"]), rel=1e-6)
    # The trainable scalars are one raw vector (softplus(raw) = w), in declaration order.
    assert [(v.name, tuple(v.shape)) for v in term.trainable_variables] == [("parameters", (1,))]
    assert term.trainable_variables[0] is term.packed_parameters
    assert float(tf.math.softplus(term.packed_parameters[0])) == pytest.approx(0.25, rel=1e-6)
    assert term.lowered.ops[-1].startswith("loss = ")


def test_jit_compiled_term_equals_the_plain_one():
    keras.utils.set_random_seed(0)
    inner = models.functional()
    src = "norm(hidden.kernel.T @ hidden.kernel - I) + a * sum(square(out.kernel))\nwhere a: positive = 0.3"
    plain, jitted = lossdsl.compile(src, inner), lossdsl.compile(src, inner, jit_compile=True)
    assert float(jitted()) == pytest.approx(float(plain()), rel=1e-5)


def test_a_formula_with_errors_raises_one_exception_family_with_diagnostics():
    with pytest.raises(lossdsl.LossNameError) as raised:
        lossdsl.attach(models.functional(), "norm(L9.kernel)")
    assert [d.code for d in raised.value.diagnostics] == ["E209"]


def test_a_formula_without_data_term_is_added_to_the_compiled_loss():
    keras.utils.set_random_seed(0)
    inner = models.functional()
    x, y = rng.normal(size=(8, 5)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    model = lossdsl.attach(inner, "0.5 * norm(hidden.kernel)")
    model.compile(optimizer="sgd", loss="mse")
    expected = float(tf.reduce_mean(tf.square(y - inner(x)))) + 0.5 * float(tf.norm(inner.get_layer("hidden").kernel))
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_the_models_own_regularization_losses_still_count():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    dense = keras.layers.Dense(2, kernel_regularizer=keras.regularizers.L2(0.1), name="reg")
    inner = keras.Model(inputs, dense(inputs))
    x, y = rng.normal(size=(8, 5)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    model = lossdsl.attach(inner, "mse(y_true, y_pred)")
    model.compile(optimizer="sgd")
    expected = float(tf.reduce_mean(tf.square(y - inner(x)))) + 0.1 * float(tf.reduce_sum(tf.square(dense.kernel)))
    assert model.evaluate(x, y, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_a_stability_warning_points_at_the_users_line():
    # attach() warns from lossdsl through Keras' model construction; each warning must name the caller's line
    unbounded = "a * norm(hidden.kernel)\nwhere a: real"
    with pytest.warns(lossdsl.LossWarning, match="W401") as caught:
        attach_line = sys._getframe().f_lineno + 1
        lossdsl.attach(models.functional(), unbounded)
        compile_line = sys._getframe().f_lineno + 1
        lossdsl.compile(unbounded, models.functional())
    assert [(w.filename, w.lineno) for w in caught if issubclass(w.category, lossdsl.LossWarning)] == \
        [(__file__, attach_line), (__file__, compile_line)]


def test_a_term_named_loss_does_not_hide_the_total_in_the_logs():
    keras.utils.set_random_seed(0)
    inner = models.functional()
    x, y = rng.normal(size=(8, 5)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    with pytest.warns(lossdsl.LossWarning, match="the term 'loss' is logged as 'loss_term'"):
        model = lossdsl.attach(inner, "loss = mse(y_true, y_pred)\nreg = norm(hidden.kernel)\nloss + 0.1 * reg")
    model.compile(optimizer="sgd")
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    data = float(tf.reduce_mean(tf.square(y - inner(x))))
    reg = float(tf.norm(inner.get_layer("hidden").kernel))
    assert logs == pytest.approx({"loss": data + 0.1 * reg, "loss_term": data, "reg": reg}, rel=1e-5)


def test_scalar_terms_are_logged_and_tensor_terms_are_not():
    model = lossdsl.attach(models.functional(), "gram = hidden.kernel.T @ hidden.kernel\northo = norm(gram - I)\n"
                                                "edge = sum(y_pred, axis=1)\nmse(y_true, y_pred) + a * ortho + 0*mean(edge)\n"
                                                "where a: positive")
    model.compile(optimizer="sgd")
    x, y = rng.normal(size=(8, 5)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    logs = model.evaluate(x, y, batch_size=8, verbose=0, return_dict=True)
    assert sorted(logs) == ["a", "loss", "ortho"]


def test_sparse_labels_against_a_classifier():
    """A model does not say its targets' shape: y_true given to sparse_cce is taken as class indices."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5,))
    classifier = keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="probs")(inputs))
    formula = "sparse_cce(y_true, y_pred) + 0.1 * norm(probs.kernel)"
    assert lossdsl.check(formula, model=classifier) == []
    # one y_true cannot be both class indices and one-hot: mse(y_true, y_pred) then does not broadcast
    assert [(d.code, d.message) for d in lossdsl.check("sparse_cce(y_true, y_pred) + mse(y_true, y_pred)",
                                                       model=classifier)] == [
        ("E301", "shapes (None,) and (None, 3) do not broadcast")]
    model = lossdsl.attach(classifier, formula)
    model.compile(optimizer="sgd")
    x, labels = rng.normal(size=(8, 5)).astype("float32"), rng.integers(0, 3, size=(8,))
    expected = float(keras.losses.sparse_categorical_crossentropy(labels, classifier(x)).numpy().mean()) \
        + 0.1 * float(tf.norm(classifier.get_layer("probs").kernel))
    assert model.evaluate(x, labels, batch_size=8, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_a_warning_on_load_points_at_the_load_model_line(tmp_path):
    with pytest.warns(lossdsl.LossWarning):
        model = lossdsl.attach(models.functional(), "mse(y_true, y_pred) + a * norm(hidden.kernel)\nwhere a: real")
    path = tmp_path / "unbounded.keras"
    model.save(path)
    with pytest.warns(lossdsl.LossWarning, match="W401") as caught:
        line = sys._getframe().f_lineno + 1
        keras.models.load_model(path)
    assert [(w.filename, w.lineno) for w in caught if issubclass(w.category, lossdsl.LossWarning)] == \
        [(__file__, line)]


def test_named_terms_of_a_formula_with_targets_are_read_for_a_batch():
    keras.utils.set_random_seed(0)
    inner = models.sequential()
    model = lossdsl.attach(inner, "data = mse(y_true, y_pred)\nreg = norm(dense_1.kernel)\n"
                                  "data + 0.5 * reg + c * c\nwhere c: real = 0.25")
    x, y = rng.normal(size=(8, 4)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    prediction = inner(x).numpy()
    values = model.term.evaluate(y, prediction)
    data, reg = np.mean(np.mean((y - prediction) ** 2, axis=-1)), np.linalg.norm(inner.get_layer("dense_1").kernel)
    assert set(values) == {"", "data", "reg"}
    np.testing.assert_allclose([float(values["data"]), float(values["reg"]), float(values[""])],
                               [data, reg, data + 0.5 * reg + 0.0625], rtol=1e-5)
    with pytest.raises(lossdsl.LossError, match=r"term\.evaluate\(y_true, y_pred\) returns every named term"):
        model.term.terms
