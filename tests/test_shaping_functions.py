"""focal, one_hot, reshape, stack and batch_size (SPEC §5.8): values and gradients against Keras, TensorFlow
and numpy, shapes, misuse as diagnostics (code, line, column), value ranges and stability."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
from lossdsl.analysis.shapes import infer_shapes
from lossdsl.lowering.lower import lower
import models
from conftest import where
from references import assert_matches_reference

rng = np.random.default_rng(4)
LABELS = rng.integers(0, 2, size=(6, 3)).astype(np.float32)
PROBABILITIES = rng.uniform(0.05, 0.95, size=(6, 3)).astype(np.float32)
LOGITS = rng.normal(size=(6, 3)).astype(np.float32)
SHAPES = {"L1.kernel": [3, 4], "L1.bias": [4], "y_true": [None, 3], "y_pred": [None, 3]}


def np_focal(y, p, gamma=2.0, alpha=0.25):
    """Binary focal cross-entropy with class balancing (Lin et al.), mean over classes then over the batch."""
    p_t = y * p + (1 - y) * (1 - p)
    alpha_t = y * alpha + (1 - y) * (1 - alpha)
    return (-alpha_t * (1 - p_t) ** gamma * np.log(p_t)).mean(-1).mean()


FOCAL = [  # (formula, predictions, Keras' options, numpy reference)
    ("focal(y_true, y_pred)", PROBABILITIES, {}, lambda y, p: np_focal(y, p)),
    ("focal(y_true, y_pred, gamma=0.5, alpha=0.6)", PROBABILITIES, {"gamma": 0.5, "alpha": 0.6},
     lambda y, p: np_focal(y, p, 0.5, 0.6)),
    ("focal(y_true, y_pred, 1, 0.5, 1)", LOGITS, {"gamma": 1.0, "alpha": 0.5, "from_logits": True},
     lambda y, p: np_focal(y, 1 / (1 + np.exp(-p)), 1.0, 0.5)),
    ("focal(y_true, y_pred, from_logits=1)", LOGITS, {"from_logits": True},
     lambda y, p: np_focal(y, 1 / (1 + np.exp(-p)))),
]


@pytest.mark.parametrize("src, predictions, options, np_reference", FOCAL)
def test_focal_is_keras_binary_focal_crossentropy_with_class_balancing(src, predictions, options, np_reference):
    y_pred = tf.Variable(predictions)
    keras_loss = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True, **options)
    with tf.GradientTape(persistent=True) as tape:
        ours = lower(lossdsl.parse(src))({"y_true": tf.constant(LABELS), "y_pred": y_pred})[""]
        theirs = keras_loss(LABELS, y_pred)
    np.testing.assert_allclose(float(ours), float(theirs), rtol=1e-5)
    np.testing.assert_allclose(float(ours), np_reference(LABELS.astype(np.float64), predictions.astype(np.float64)),
                               rtol=1e-4)
    np.testing.assert_allclose(tape.gradient(ours, y_pred).numpy(), tape.gradient(theirs, y_pred).numpy(),
                               rtol=1e-4, atol=1e-7)


X = rng.normal(size=(3, 4)).astype(np.float32)
NUMERIC = [  # (formula in x = L1.kernel, numpy reference, TensorFlow reference)
    ("sum(reshape(L1.kernel, (2, 6)) * reshape(L1.kernel, (2, -1)))", lambda x: (x * x).sum(),
     lambda x: tf.reduce_sum(tf.square(x))),
    ("sum(reshape(L1.kernel, -1)[:4])", lambda x: x.reshape(-1)[:4].sum(), lambda x: tf.reduce_sum(x[0])),
    ("sum(reshape(L1.kernel, (4, 3))[1])", lambda x: x.reshape(4, 3)[1].sum(),
     lambda x: tf.reduce_sum(tf.reshape(x, [4, 3])[1])),
    ("sum(softmax(stack(norm(L1.kernel), sum(L1.kernel), 1)) * stack(1, 2, 3))",
     lambda x: (np.exp(v := np.array([np.linalg.norm(x), x.sum(), 1])) / np.exp(v).sum() * [1, 2, 3]).sum(),
     lambda x: tf.reduce_sum(tf.nn.softmax(tf.stack([tf.norm(x), tf.reduce_sum(x), 1.0])) * [1.0, 2.0, 3.0])),
    ("sum(stack(L1.kernel[0], L1.kernel[1]) * reshape(L1.kernel[:2], (2, 4)))", lambda x: (x[:2] ** 2).sum(),
     lambda x: tf.reduce_sum(tf.square(x[:2]))),
]


@pytest.mark.parametrize("src, np_reference, tf_reference", NUMERIC)
def test_reshape_and_stack_match_tensorflow(src, np_reference, tf_reference):
    assert_matches_reference(src, {"L1.kernel": X}, np_reference(X.astype(np.float64)), tf_reference)


def test_one_hot_of_sparse_labels_equals_cce_of_the_one_hot_targets():
    labels = np.array([0, 2, 1, 2], np.float32)
    logits = rng.normal(size=(4, 3)).astype(np.float32)
    env = {"y_true": tf.constant(labels), "y_pred": tf.constant(logits)}
    values = lower(lossdsl.parse("h = one_hot(y_true, 3)\ncce(h, y_pred, from_logits=1) + 0 * sum(h)"))(env)
    np.testing.assert_array_equal(values["h"].numpy(), np.eye(3)[labels.astype(int)])
    expected = keras.losses.SparseCategoricalCrossentropy(from_logits=True)(labels, logits)
    np.testing.assert_allclose(float(values[""]), float(expected), rtol=1e-5)


def test_batch_size_is_the_number_of_samples_of_the_batch():
    model = models.sequential()
    term = lossdsl.compile("sum(square(y_pred)) / batch_size + 0 * mse(y_true, y_pred)", model)
    y_pred = rng.normal(size=(7, 2)).astype(np.float32)
    np.testing.assert_allclose(float(term(np.zeros((7, 2), np.float32), y_pred)), (y_pred ** 2).sum() / 7, rtol=1e-5)
    lowered = lower(lossdsl.parse("mse(y_true, y_pred) * 0 + batch_size"))
    assert float(lowered({"y_true": tf.zeros([5, 3]), "y_pred": tf.zeros([5, 3])})[""]) == 5.0
    assert lossdsl.parse("mse(y_true, y_pred) / batch_size").latex().endswith(r"{\mathrm{batch\_size}}")


SHAPED = [
    ("r = reshape(L1.kernel, (2, -1))\nsum(r)", {"r": (2, 6), "": ()}),
    ("r = reshape(L1.kernel, 12)\nsum(r)", {"r": (12,), "": ()}),
    ("r = reshape(y_pred, (-1, 3, 1))\nsum(r)", {"r": (None, 3, 1), "": ()}),
    ("s = stack(norm(L1.kernel), 2, mean(L1.bias))\nsum(s)", {"s": (3,), "": ()}),
    ("s = stack(L1.bias, L1.bias)\nsum(s)", {"s": (2, 4), "": ()}),
    ("h = one_hot(y_true[:, 0], 5)\nsum(h)", {"h": (None, 5), "": ()}),
    ("f = focal(y_true, y_pred)\nf * batch_size", {"f": (), "": ()}),
]


@pytest.mark.parametrize("src, expected", SHAPED)
def test_shapes(src, expected):
    assert infer_shapes(lossdsl.parse(src), SHAPES) == (expected, [])


MISUSED = [
    ("sum(reshape(L1.kernel, (5, -1)))", ("E310", 1, 24)),  # 12 entries do not split into rows of 5
    ("sum(reshape(L1.kernel, (2, 5)))", ("E310", 1, 24)),
    ("sum(reshape(y_pred, (2, 3)))", ("E310", 1, 21)),  # the batch needs the -1
    ("sum(reshape(L1.kernel, (-1, -1)))", ("E213", 1, 24)),  # one -1 at most
    ("sum(reshape(L1.kernel, (0, 12)))", ("E213", 1, 24)),
    ("sum(reshape(L1.kernel, L1.bias))", ("E213", 1, 24)),
    ("sum(reshape(L1.kernel))", ("E202", 1, 5)),
    ("sum(stack(L1.kernel, L1.bias))", ("E301", 1, 5)),
    ("sum(stack())", ("E202", 1, 5)),
    ("sum(stack(a, axis=0))", ("E203", 1, 14)),
    ("sum(one_hot(y_true, 0))", ("E213", 1, 21)),
    ("sum(one_hot(y_true, n))", ("E213", 1, 21)),  # n must be a constant
    ("focal(y_true, y_pred, alpha=2)", ("E213", 1, 23)),
    ("focal(y_true, y_pred, gamma=-1)", ("E213", 1, 23)),
    ("focal(y_true)", ("E202", 1, 1)),
    ("norm(L1.kernel) / batch_size", ("E223", 1, 19)),  # no batch to count
    ("batch_size = 2\nmse(y_true, y_pred)", ("E208", 1, 1)),
    ("mse(y_true, y_pred) * batch_size where batch_size: positive", ("E208", 1, 40)),
    ("batch_size(y_pred)", ("E201", 1, 1)),  # a number, not a function
]


@pytest.mark.parametrize("src, expected", MISUSED)
def test_misuse_is_a_diagnostic_at_its_place(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES) if d.is_error][:1] == [expected]


def test_calling_batch_size_says_it_is_a_number():
    (diagnostic,) = lossdsl.check("batch_size(y_pred)")
    assert "not a function" in diagnostic.message and "/ batch_size" in diagnostic.hint


def test_batch_size_without_a_batch_says_what_to_add():
    (diagnostic,) = lossdsl.check("norm(L1.kernel) / batch_size")
    assert diagnostic.code == "E223" and "y_true" in diagnostic.message and "mse(y_true, y_pred)" in diagnostic.hint


STABILITY = [
    ("log(batch_size) + mse(y_true, y_pred)", []),  # >= 1
    ("norm(L1.kernel) / batch_size + mse(y_true, y_pred)", []),  # never 0
    ("log(sum(one_hot(y_true[:, 0], 3)))", [("W402", 1, 1)]),  # may be 0
    ("log(focal(y_true, y_pred))", [("W402", 1, 1), ("I401", 1, 5)]),  # 0 only when the data is fitted
    ("sqrt(focal(y_true, y_pred))", []),
    ("log(sum(stack(exp(L1.kernel[0, 0]), 1)))", []),  # entries > 0 and 1
    ("log(sum(stack(exp(s), 1)))", [("W405", 1, 19)]),  # no asymptotic rule for stack: cannot tell
    ("focal(y_true, y_pred) - s", [("W401", 1, 25)]),
]


@pytest.mark.parametrize("src, expected", STABILITY)
def test_stability(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES)] == expected
