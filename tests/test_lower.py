"""Lowering: each built-in against numpy (value) and hand-written TensorFlow (gradient), CSE, I, dtypes, XLA."""

import dataclasses
import types

import numpy as np
import pytest
import sympy
import tensorflow as tf

import lossdsl
from lossdsl.language import nodes
from lossdsl.lowering.lower import lower

rng = np.random.default_rng(0)
# Short names for the test tensors, and the reference text each stands for in formulas.
NAMES = {"W": "L0.kernel", "B": "L1.kernel", "v": "L1.bias", "u": "L2.bias", "P": "L3.kernel", "a": "a"}
DATA = {
    "W": rng.normal(size=(3, 3)), "B": rng.normal(size=(3, 4)), "v": rng.normal(size=4), "u": rng.normal(size=4),
    "P": rng.uniform(0.5, 2.0, size=(3, 3)), "a": np.array(0.7),
}
DATA = {name: value.astype(np.float32) for name, value in DATA.items()}


def run(src, env):
    return lower(lossdsl.parse(src))(env)


def gradients(loss_fn, variables):
    with tf.GradientTape() as tape:
        loss = loss_fn()
    return tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def check_value_and_gradient(src, data, np_reference, tf_reference, rtol=1e-4):
    """Lowered value == numpy's (in float64); lowered gradient == the hand-written TF expression's."""
    short = {k: np.asarray(v, np.float64) for k, v in data.items()}
    expected = np_reference(types.SimpleNamespace(**short))
    variables = {k: tf.Variable(v) for k, v in data.items() if v.dtype.kind == "f"}
    env = {NAMES.get(k, k): variables.get(k, tf.constant(v)) for k, v in data.items()}
    lowered = lower(lossdsl.parse(src))
    np.testing.assert_allclose(lowered(env)[""].numpy(), expected, rtol=rtol, atol=1e-6)
    given = types.SimpleNamespace(**{k: variables.get(k, tf.constant(v)) for k, v in data.items()})
    ours = gradients(lambda: lowered(env)[""], list(variables.values()))
    theirs = gradients(lambda: tf_reference(given), list(variables.values()))
    for name, g1, g2 in zip(variables, ours, theirs):
        np.testing.assert_allclose(g1.numpy(), g2.numpy(), rtol=rtol, atol=1e-5, err_msg=f"d/d{name}")


def fro(x):
    return tf.sqrt(tf.reduce_sum(tf.square(x)))


def np_cos(x, y):
    x, y = np.broadcast_arrays(x, y)
    return np.sum(x * y) / np.linalg.norm(x) / np.linalg.norm(y)


def tf_cos(x, y):
    x, y = x + tf.zeros_like(y), y + tf.zeros_like(x)
    return tf.reduce_sum(x * y) / fro(x) / fro(y)


# (formula, numpy reference of e = W B v u P a, hand-written TensorFlow reference of t = the same as variables)
NUMERIC = [
    ("norm(L0.kernel)", lambda e: np.linalg.norm(e.W), lambda t: tf.norm(t.W)),
    ("norm(L0.kernel, 1)", lambda e: np.abs(e.W).sum(), lambda t: tf.reduce_sum(tf.abs(t.W))),
    ("norm(L0.kernel, inf)", lambda e: np.abs(e.W).max(), lambda t: tf.reduce_max(tf.abs(t.W))),
    ("sum(norm(L1.kernel, axis=0))", lambda e: np.linalg.norm(e.B, axis=0).sum(),
     lambda t: tf.reduce_sum(tf.norm(t.B, axis=0))),
    ("sum(norm(L1.kernel, 1, axis=1))", lambda e: np.abs(e.B).sum(), lambda t: tf.reduce_sum(tf.abs(t.B))),
    ("sum(L1.kernel)", lambda e: e.B.sum(), lambda t: tf.reduce_sum(t.B)),
    ("dot(sum(L1.kernel, axis=1), L0.kernel[0])", lambda e: e.B.sum(1) @ e.W[0],
     lambda t: tf.reduce_sum(tf.reduce_sum(t.B, 1) * t.W[0])),
    ("mean(L1.kernel) + dot(mean(L1.kernel, axis=0), L2.bias)", lambda e: e.B.mean() + e.B.mean(0) @ e.u,
     lambda t: tf.reduce_mean(t.B) + tf.reduce_sum(tf.reduce_mean(t.B, 0) * t.u)),
    ("max(L1.kernel) - min(L1.kernel) + sum(max(L1.kernel, axis=-1))",
     lambda e: e.B.max() - e.B.min() + e.B.max(-1).sum(),
     lambda t: tf.reduce_max(t.B) - tf.reduce_min(t.B) + tf.reduce_sum(tf.reduce_max(t.B, -1))),
    ("sum(abs(L1.kernel))", lambda e: np.abs(e.B).sum(), lambda t: tf.reduce_sum(tf.abs(t.B))),
    ("sum(sqrt(L3.kernel))", lambda e: np.sqrt(e.P).sum(), lambda t: tf.reduce_sum(tf.sqrt(t.P))),
    ("sum(square(L1.kernel))", lambda e: (e.B ** 2).sum(), lambda t: tf.reduce_sum(t.B * t.B)),
    ("sum(exp(L1.kernel))", lambda e: np.exp(e.B).sum(), lambda t: tf.reduce_sum(tf.exp(t.B))),
    ("sum(log(L3.kernel))", lambda e: np.log(e.P).sum(), lambda t: tf.reduce_sum(tf.math.log(t.P))),
    ("sum(log1p(L3.kernel))", lambda e: np.log1p(e.P).sum(), lambda t: tf.reduce_sum(tf.math.log(1 + t.P))),
    ("sum(sin(L1.kernel) * cos(L0.kernel[0, 0]))", lambda e: np.sin(e.B).sum() * np.cos(e.W[0, 0]),
     lambda t: tf.reduce_sum(tf.sin(t.B)) * tf.cos(t.W[0, 0])),
    ("sum(tanh(L1.kernel))", lambda e: np.tanh(e.B).sum(), lambda t: tf.reduce_sum(tf.tanh(t.B))),
    ("sum(sigmoid(L1.kernel))", lambda e: (1 / (1 + np.exp(-e.B))).sum(),
     lambda t: tf.reduce_sum(1 / (1 + tf.exp(-t.B)))),
    ("sum(softplus(L1.kernel))", lambda e: np.log1p(np.exp(e.B)).sum(),
     lambda t: tf.reduce_sum(tf.math.log(1 + tf.exp(t.B)))),
    ("sum(relu(L1.kernel))", lambda e: np.maximum(e.B, 0).sum(), lambda t: tf.reduce_sum(tf.maximum(t.B, 0.0))),
    ("sum(clip(L1.kernel, -0.5, 0.5)) + sum(clip(L1.bias, -inf, 0.3))",
     lambda e: np.clip(e.B, -0.5, 0.5).sum() + np.minimum(e.v, 0.3).sum(),
     lambda t: tf.reduce_sum(tf.clip_by_value(t.B, -0.5, 0.5)) + tf.reduce_sum(tf.minimum(t.v, 0.3))),
    ("sum(maximum(L1.kernel, 0.2)) + sum(minimum(L1.bias, L2.bias))",
     lambda e: np.maximum(e.B, 0.2).sum() + np.minimum(e.v, e.u).sum(),
     lambda t: tf.reduce_sum(tf.maximum(t.B, 0.2)) + tf.reduce_sum(tf.minimum(t.v, t.u))),
    ("sum(L0.kernel @ L0.kernel @ L1.kernel)", lambda e: (e.W @ e.W @ e.B).sum(),
     lambda t: tf.reduce_sum(tf.matmul(tf.matmul(t.W, t.W), t.B))),
    ("sum(L0.kernel[0] @ L1.kernel) + sum(L1.kernel @ L1.bias) + L1.bias @ L2.bias",
     lambda e: (e.W[0] @ e.B).sum() + (e.B @ e.v).sum() + e.v @ e.u,
     lambda t: tf.reduce_sum(tf.linalg.matvec(t.B, t.W[0], transpose_a=True))
     + tf.reduce_sum(tf.linalg.matvec(t.B, t.v)) + tf.reduce_sum(t.v * t.u)),
    ("sum(L1.kernel.T @ L0.kernel)", lambda e: (e.B.T @ e.W).sum(), lambda t: tf.reduce_sum(tf.matmul(t.B, t.W, True))),
    ("trace(L0.kernel)", lambda e: np.trace(e.W), lambda t: tf.reduce_sum(t.W * tf.eye(3))),
    ("sum(diag(L0.kernel)) + sum(diag(L1.bias) @ L2.bias)", lambda e: np.trace(e.W) + e.v @ e.u,
     lambda t: tf.reduce_sum(t.W * tf.eye(3)) + tf.reduce_sum(t.v * t.u)),
    ("sum(eye(3) * L0.kernel)", lambda e: np.trace(e.W), lambda t: tf.reduce_sum(t.W * tf.eye(3))),
    ("norm(L1.kernel.T @ L1.kernel - I)", lambda e: np.linalg.norm(e.B.T @ e.B - np.eye(4)),
     lambda t: fro(tf.matmul(t.B, t.B, True) - tf.eye(4))),
    ("sum(L0.kernel * I) + norm(2 * I - L0.kernel) + sum(I @ L1.kernel)",
     lambda e: np.trace(e.W) + np.linalg.norm(2 * np.eye(3) - e.W) + e.B.sum(),
     lambda t: tf.reduce_sum(t.W * tf.eye(3)) + fro(2 * tf.eye(3) - t.W) + tf.reduce_sum(t.B)),
    ("dot(L1.bias, L2.bias) + dot(L1.kernel, L1.bias)", lambda e: e.v @ e.u + (e.B * e.v).sum(),
     lambda t: tf.reduce_sum(t.v * t.u) + tf.reduce_sum(t.B * t.v)),
    ("cosine(L1.bias, L2.bias) + cosine(L1.kernel, L2.bias)",
     lambda e: np_cos(e.v, e.u) + np_cos(e.B, e.u), lambda t: tf_cos(t.v, t.u) + tf_cos(t.B, t.u)),
    ("L0.kernel[0, 1] + sum(L1.kernel[1:, ::2]) + sum(L1.kernel[-1, :2]) + sum(L1.bias[:-1])",
     lambda e: e.W[0, 1] + e.B[1:, ::2].sum() + e.B[-1, :2].sum() + e.v[:-1].sum(),
     lambda t: t.W[0, 1] + tf.reduce_sum(t.B[1:, ::2]) + tf.reduce_sum(t.B[-1, :2]) + tf.reduce_sum(t.v[:-1])),
    ("sum(stop(L0.kernel) * L0.kernel)", lambda e: (e.W ** 2).sum(),
     lambda t: tf.reduce_sum(tf.stop_gradient(t.W) * t.W)),
    ("a * norm(L0.kernel) - norm(L1.kernel) / a + a**2 - 3",
     lambda e: e.a * np.linalg.norm(e.W) - np.linalg.norm(e.B) / e.a + e.a ** 2 - 3,
     lambda t: t.a * fro(t.W) - fro(t.B) / t.a + t.a * t.a - 3),
    ("-norm(L0.kernel) - a", lambda e: -np.linalg.norm(e.W) - e.a, lambda t: -fro(t.W) - t.a),
    ("sum(L3.kernel ** 3) + sum(L3.kernel ** 0.5) + sum(L3.kernel ** -1) + sum(1 / L3.kernel)",
     lambda e: (e.P ** 3).sum() + np.sqrt(e.P).sum() + 2 * (1 / e.P).sum(),
     lambda t: tf.reduce_sum(t.P * t.P * t.P) + tf.reduce_sum(tf.sqrt(t.P)) + 2 * tf.reduce_sum(1 / t.P)),
    ("sum(L3.kernel ** a) + 2 ** a + pi * a + exp(-a)",
     lambda e: (e.P ** e.a).sum() + 2 ** e.a + np.pi * e.a + np.exp(-e.a),
     lambda t: tf.reduce_sum(tf.exp(t.a * tf.math.log(t.P))) + tf.exp(t.a * np.log(2.0)) + np.pi * t.a + tf.exp(-t.a)),
]


@pytest.mark.parametrize("src, np_reference, tf_reference", NUMERIC, ids=[row[0] for row in NUMERIC])
def test_builtin_value_and_gradient(src, np_reference, tf_reference):
    check_value_and_gradient(src, DATA, np_reference, tf_reference)


def _log_softmax(z):
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _normalized(p):
    return p / tf.reduce_sum(p, -1, keepdims=True)


probs = rng.dirichlet(np.ones(3), size=5).astype(np.float32)
TARGETS = {
    "regression": (rng.normal(size=(5, 3)), rng.normal(size=(5, 3))),
    "binary": (rng.integers(0, 2, size=(5, 3)).astype(float), rng.uniform(0.1, 0.9, size=(5, 3))),
    "binary_column": (rng.integers(0, 2, size=5).astype(float), rng.uniform(0.1, 0.9, size=(5, 1))),
    "logits": (rng.integers(0, 2, size=(5, 3)).astype(float), rng.normal(size=(5, 3))),
    "categorical": (np.eye(3)[rng.integers(0, 3, size=5)], probs),
    "sparse": (rng.integers(0, 3, size=5), probs),
    "sparse_logits": (rng.integers(0, 3, size=5), rng.normal(size=(5, 3))),
    "distributions": (rng.dirichlet(np.ones(3), size=5), probs),
}


def _targets(kind):
    y_true, y_pred = TARGETS[kind]
    labels = y_true if y_true.dtype.kind == "i" else y_true.astype(np.float32)
    return {"y_true": labels, "y_pred": y_pred.astype(np.float32)}


def _huber(e, d):
    return np.where(np.abs(e) <= d, 0.5 * e ** 2, d * np.abs(e) - 0.5 * d * d).mean()


# (formula, targets, numpy reference of (y_true, y_pred), hand-written TensorFlow reference of (y_true, y_pred))
DATA_LOSSES = [
    ("mse(y_true, y_pred)", "regression", lambda t, p: ((t - p) ** 2).mean(),
     lambda t, p: tf.reduce_mean(tf.square(t - p))),
    ("mae(y_true, y_pred)", "regression", lambda t, p: np.abs(t - p).mean(),
     lambda t, p: tf.reduce_mean(tf.abs(t - p))),
    ("huber(y_true, y_pred, 0.5)", "regression", lambda t, p: _huber(p - t, 0.5),
     lambda t, p: tf.reduce_mean(tf.where(tf.abs(p - t) <= 0.5, 0.5 * tf.square(p - t), 0.5 * tf.abs(p - t) - 0.125))),
    ("bce(y_true, y_pred)", "binary", lambda t, p: -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(),
     lambda t, p: -tf.reduce_mean(t * tf.math.log(p) + (1 - t) * tf.math.log(1 - p))),
    ("bce(y_true, y_pred)", "binary_column", lambda t, p: -(t * np.log(p[:, 0]) + (1 - t) * np.log(1 - p[:, 0])).mean(),
     lambda t, p: -tf.reduce_mean(t * tf.math.log(p[:, 0]) + (1 - t) * tf.math.log(1 - p[:, 0]))),
    ("bce(y_true, y_pred, from_logits=1)", "logits",
     lambda t, p: (np.maximum(p, 0) - p * t + np.log1p(np.exp(-np.abs(p)))).mean(),
     lambda t, p: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(t, p))),
    ("cce(y_true, y_pred)", "categorical", lambda t, p: -(t * np.log(p)).sum(-1).mean(),
     lambda t, p: -tf.reduce_mean(tf.reduce_sum(t * tf.math.log(_normalized(p)), -1))),
    ("cce(y_true, y_pred, from_logits=1)", "logits", lambda t, p: -(t * _log_softmax(p)).sum(-1).mean(),
     lambda t, p: tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(t, p))),
    ("sparse_cce(y_true, y_pred)", "sparse", lambda t, p: -np.log(p[np.arange(5), t.astype(int)]).mean(),
     lambda t, p: -tf.reduce_mean(tf.math.log(tf.gather(_normalized(p), t, batch_dims=1)))),
    ("sparse_cce(y_true, y_pred, from_logits=1)", "sparse_logits",
     lambda t, p: -_log_softmax(p)[np.arange(5), t.astype(int)].mean(),
     lambda t, p: tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(t, p))),
    ("kld(y_true, y_pred)", "distributions", lambda t, p: (t * np.log(t / p)).sum(-1).mean(),
     lambda t, p: tf.reduce_mean(tf.reduce_sum(t * tf.math.log(t / p), -1))),
]


@pytest.mark.parametrize("src, kind, np_reference, tf_reference", DATA_LOSSES,
                         ids=[f"{row[0]}-{row[1]}" for row in DATA_LOSSES])
def test_data_loss_value_and_gradient(src, kind, np_reference, tf_reference):
    check_value_and_gradient(src, _targets(kind), lambda e: np_reference(e.y_true, e.y_pred),
                             lambda t: tf_reference(t.y_true, t.y_pred))


@pytest.mark.parametrize("src, kind, np_reference, tf_reference", [
    ("bce(y_true, b, from_logits=1)", "binary",
     lambda e: (np.maximum(e.b, 0) - e.b * e.y_true + np.log1p(np.exp(-np.abs(e.b)))).mean(),
     lambda t: tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(t.y_true, t.b + tf.zeros_like(t.y_true)))),
    ("mse(y_true, b)", "regression", lambda e: ((e.y_true - e.b) ** 2).mean(),
     lambda t: tf.reduce_mean(tf.square(t.y_true - t.b))),
    ("mse(y_true[:, :1], b * y_pred[0])", "regression",  # (5, 1) against (3,): a (5, 3) broadcast
     lambda e: ((e.y_true[:, :1] - e.b * e.y_pred[0]) ** 2).mean(),
     lambda t: tf.reduce_mean(tf.square(t.y_true[:, :1] - t.b * t.y_pred[0]))),
    ("mae(y_true[0, 0], b) + huber(0.5, b)", "regression",  # scalar pairs: Keras wants a last axis
     lambda e: np.abs(e.y_true[0, 0] - e.b) + _huber(np.asarray(e.b - 0.5), 1.0),
     lambda t: tf.abs(t.y_true[0, 0] - t.b) + 0.5 * tf.square(t.b - 0.5)),
])
def test_a_data_loss_broadcasts_its_pair(src, kind, np_reference, tf_reference):
    """The shape check lets a scalar stand for every prediction; Keras' bce alone insists on equal ranks."""
    check_value_and_gradient(src, {**_targets(kind), "b": np.float32(0.3)}, np_reference, tf_reference)


def env_of(**short):
    return {NAMES[k]: tf.constant(v) for k, v in short.items()}


@pytest.fixture
def counted():
    """A registered function ``f(x) = 2 * x`` that counts how often its implementation runs."""
    calls = []

    def twice(x):
        calls.append(x)
        return 2 * x

    lossdsl.register_function("f", twice)
    yield calls
    lossdsl.unregister_function("f")


@pytest.mark.parametrize("src, expected", [
    ("sum(f(L1.bias) + f(L1.bias) * 2)", lambda v: 3 * (2 * v).sum()),
    ("t = f(L1.bias)\nsum(t) + sum(t * t) + norm(t)",
     lambda v: (2 * v).sum() + (4 * v * v).sum() + np.linalg.norm(2 * v)),
    ("s = sum(f(L1.bias))\nr = s * s\nr + s + sum(f(L1.bias))", lambda v: 4 * v.sum() ** 2 + 4 * v.sum()),
])
def test_repeated_subexpressions_run_once_per_trace(counted, src, expected):
    lowered = lower(lossdsl.parse(src))
    traced = tf.function(lambda env: lowered(env)[""])
    value = traced(env_of(v=DATA["v"]))
    assert len(counted) == 1
    np.testing.assert_allclose(value.numpy(), expected(DATA["v"].astype(np.float64)), rtol=1e-5)


def test_registered_function_of_two_tensors():
    lossdsl.register_function("sqdist", lambda x, y: tf.reduce_sum(tf.square(x - y)), "pair_to_scalar", arity=2)
    try:
        value = run("sqdist(L1.bias, L2.bias) + 1", env_of(v=DATA["v"], u=DATA["u"]))[""]
    finally:
        lossdsl.unregister_function("sqdist")
    np.testing.assert_allclose(value.numpy(), ((DATA["v"] - DATA["u"]) ** 2).sum() + 1, rtol=1e-5)


def test_named_terms_are_computed_once_and_returned():
    src = "reg = norm(L0.kernel)\ng = L0.kernel.T @ L0.kernel\nreg + reg**2 + norm(g - I) + sum(g)"
    lowered = lower(lossdsl.parse(src))
    assert sum("euclidean_norm(L0.kernel)" in op for op in lowered.ops) == 1
    assert sum("@" in op for op in lowered.ops) == 1
    values = lowered(env_of(W=DATA["W"]))
    W = DATA["W"].astype(np.float64)
    np.testing.assert_allclose(values["reg"].numpy(), np.linalg.norm(W), rtol=1e-5)
    np.testing.assert_allclose(values["g"].numpy(), W.T @ W, rtol=1e-5)
    reg = np.linalg.norm(W)
    expected = reg + reg ** 2 + np.linalg.norm(W.T @ W - np.eye(3)) + (W.T @ W).sum()
    np.testing.assert_allclose(values[""].numpy(), expected, rtol=1e-5)
    assert set(values) == {"reg", "g", ""}


# (formula, the lowered ops): subtraction, division and powers use their own ops, never a multiply by -1
LOWERED_OPS = [
    ("norm(L0.kernel) - norm(L1.kernel)",
     ["t1 = euclidean_norm(L0.kernel)", "t2 = euclidean_norm(L1.kernel)", "loss = t1 - t2"]),
    ("-a - 2*b + 3", ["t1 = 2 * b", "loss = 3 - a - t1"]),
    ("a / b", ["loss = a / b"]),
    ("-(a * b) / c", ["loss = -(a * b / c)"]),
    ("2 / a + a**-1", ["t1 = 2 / a", "t2 = 1 / a", "loss = t1 + t2"]),
    ("a**2 + sqrt(a) + a**0.5 + a**3 + a**b",
     ["t1 = tf.square(a)", "t2 = tf.sqrt(a)", "t3 = tf.pow(a, 3)", "t4 = tf.pow(a, b)",
      "loss = t1 + t2 + t2 + t3 + t4"]),
    ("norm(L0.kernel.T @ L0.kernel - 2*I)",
     ["t1 = tf.transpose(L0.kernel)", "t2 = t1 @ L0.kernel", "t3 = t2 - 2 * tf.eye(n)", "loss = euclidean_norm(t3)"]),
    ("t1 = sum(L0.kernel[0, 1:])\nt1 * mse(y_true, y_pred)",
     ["_t1 = L0.kernel[0, 1:]", "t1 = tf.reduce_sum(_t1)", "_t3 = tf.reduce_mean(keras.losses.MeanSquaredError(reduction=None)(y_true, y_pred))",
      "loss = t1 * _t3"]),
    ("data = bce(y_true, y_pred, from_logits=1)\ndata",
     ["data = tf.reduce_mean(keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)(y_true, y_pred))",
      "loss = data"]),
]


@pytest.mark.parametrize("src, ops", LOWERED_OPS)
def test_lowered_ops(src, ops):
    assert lower(lossdsl.parse(src)).ops == ops


def test_identity_sized_from_a_dynamic_shape():
    lowered = lower(lossdsl.parse("norm(L1.kernel.T @ L1.kernel - I) + sum(L1.kernel.T @ L1.kernel * I)"))
    traced = tf.function(lambda B: lowered({"L1.kernel": B})[""],
                         input_signature=[tf.TensorSpec([None, None], tf.float32)])
    B = DATA["B"].astype(np.float64)
    np.testing.assert_allclose(traced(tf.constant(DATA["B"])).numpy(),
                               np.linalg.norm(B.T @ B - np.eye(4)) + np.trace(B.T @ B), rtol=1e-5)


def test_norm_and_cosine_have_finite_gradients_at_zero():
    zero = tf.Variable(tf.zeros((3, 3)))
    lowered = lower(lossdsl.parse("norm(L0.kernel) + sum(norm(L0.kernel, axis=1)) + cosine(L0.kernel, L3.kernel)"))
    env = {"L0.kernel": zero, "L3.kernel": tf.constant(DATA["P"])}
    (gradient,) = gradients(lambda: lowered(env)[""], [zero])
    assert float(lowered(env)[""]) == 0.0
    assert np.all(np.isfinite(gradient.numpy()))
    (norm_gradient,) = gradients(lambda: lower(lossdsl.parse("norm(L0.kernel)"))(env)[""], [zero])
    np.testing.assert_array_equal(norm_gradient.numpy(), np.zeros((3, 3)))


@pytest.mark.parametrize("src, reference", [
    ("norm(L1.kernel)", tf.norm),
    ("sum(norm(L1.kernel, axis=0))", lambda B: tf.reduce_sum(tf.norm(B, axis=0))),
    ("sum(norm(L1.kernel, axis=-1) ** 3)", lambda B: tf.reduce_sum(tf.norm(B, axis=-1) ** 3)),
])
@pytest.mark.parametrize("jit", [False, True])
def test_norm_to_second_derivatives_with_and_without_xla(src, reference, jit):
    """Without XLA a norm is TensorFlow's EuclideanNorm kernel, with XLA sqrt(sum(x**2)); one gradient rule."""
    lowered = lower(lossdsl.parse(src))
    B = tf.Variable(DATA["B"].astype(np.float64))

    def value_gradient_curvature(loss):
        with tf.GradientTape() as outer:
            with tf.GradientTape() as inner:
                value = loss()
            gradient = inner.gradient(value, B)
            squared_gradient_norm = tf.reduce_sum(gradient ** 2)
        return value, gradient, outer.gradient(squared_gradient_norm, B)

    ours = tf.function(lambda: value_gradient_curvature(lambda: lowered({"L1.kernel": B})[""]), jit_compile=jit)
    ops = {op.type for op in ours.get_concrete_function().graph.get_operations()}
    assert ("EuclideanNorm" in ops) == (not jit)
    for value, expected in zip(ours(), value_gradient_curvature(lambda: reference(B))):
        np.testing.assert_allclose(value.numpy(), expected.numpy(), rtol=1e-9, atol=1e-12)
    B.assign(tf.zeros_like(B))  # tf.norm's gradient is NaN here; ours is 0
    value, gradient, _ = ours()
    assert float(value) == 0.0 and not np.any(gradient.numpy())


FORMULA_FOR_XLA = """data = mse(y_true, y_pred)
reg = norm(L1.kernel.T @ L1.kernel - I) + sum(softplus(L1.kernel[:, 1:]))
data + a * reg + cosine(L1.bias, L2.bias) - log(sum(L3.kernel)) + trace(L0.kernel) ** 2
where a: positive = 0.5"""


def test_jit_compile_gives_the_eager_value_and_gradient():
    lowered = lower(lossdsl.parse(FORMULA_FOR_XLA))
    variables = {NAMES[k]: tf.Variable(DATA[k]) for k in ("W", "B", "v", "u", "P", "a")}
    y_true, y_pred = (tf.constant(x.astype(np.float32)) for x in TARGETS["regression"])

    def value_and_gradients():
        with tf.GradientTape() as tape:
            values = lowered({**variables, "y_true": y_true, "y_pred": y_pred})
        return values, tape.gradient(values[""], list(variables.values()))

    eager_values, eager_gradients = value_and_gradients()
    xla_values, xla_gradients = tf.function(value_and_gradients, jit_compile=True)()
    for name in ("data", "reg", ""):
        np.testing.assert_allclose(xla_values[name].numpy(), eager_values[name].numpy(), rtol=1e-5)
    for g_xla, g_eager in zip(xla_gradients, eager_gradients):
        np.testing.assert_allclose(g_xla.numpy(), g_eager.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("given, computed", [
    (tf.float16, tf.float32), (tf.bfloat16, tf.float32), (tf.float32, tf.float32), (tf.float64, tf.float64)])
def test_compute_dtype(given, computed):
    lowered = lower(lossdsl.parse("t = sum(square(L1.kernel))\n0.5 * t + norm(L1.kernel @ L1.bias) + eye(3)[0, 0]"))
    env = {"L1.kernel": tf.cast(DATA["B"], given), "L1.bias": tf.cast(DATA["v"], given)}
    values = lowered(env)
    assert values[""].dtype == computed and values["t"].dtype == computed
    B, v = (tf.cast(tf.cast(x, given), tf.float64).numpy() for x in (DATA["B"], DATA["v"]))  # the rounded inputs
    expected = 0.5 * (B ** 2).sum() + np.linalg.norm(B @ v) + 1
    np.testing.assert_allclose(values[""].numpy(), expected, rtol=1e-6 if computed == tf.float64 else 1e-5)


def test_float16_data_loss_computes_in_float32():
    y_true, y_pred = (tf.constant(x, tf.float16) for x in TARGETS["regression"])
    value = run("mse(y_true, y_pred)", {"y_true": y_true, "y_pred": y_pred})[""]
    expected = np.mean((y_true.numpy().astype(np.float64) - y_pred.numpy().astype(np.float64)) ** 2)
    assert value.dtype == tf.float32
    np.testing.assert_allclose(value.numpy(), expected, rtol=1e-5)


def test_variables_are_read_on_every_call():
    kernel = tf.Variable(DATA["W"])
    lowered = lower(lossdsl.parse("sum(L0.kernel)"))
    traced = tf.function(lambda: lowered({"L0.kernel": kernel})[""])
    before = float(traced())
    kernel.assign_add(tf.ones((3, 3)))
    assert float(traced()) == pytest.approx(before + 9, rel=1e-5)


def _replace_loss(src, expr):
    return dataclasses.replace(lossdsl.parse(src), expr=expr)


def _positions(error):
    positions = [error.source.position(d.span.start) for d in error.diagnostics]
    return [(d.code, p.line, p.column) for d, p in zip(error.diagnostics, positions)]


# (formula, or a Formula with a node lossdsl never builds, expected (code, line, column)) — all raised by lower()
UNLOWERABLE = [
    ("1 + norm(I)", ("E307", 1, 10)),
    ("x = norm(L0.kernel)\nsum(2 * I) + x", ("E307", 2, 5)),
    ("sum(I @ I)", ("E307", 1, 5)),
    (_replace_loss("norm(L0.kernel)", sympy.sinh(sympy.Symbol("L0.kernel", real=True))), ("E201", 1, 1)),
    (_replace_loss("norm(L0.kernel)", sympy.Symbol("nowhere")), ("E215", 1, 1)),
    (_replace_loss("norm(L0.kernel)", nodes.Norm(sympy.Symbol("L0.kernel", real=True), 3, sympy.Tuple(), evaluate=False)),
     ("E213", 1, 1)),
]


@pytest.mark.parametrize("formula, expected", UNLOWERABLE)
def test_unlowerable_nodes_are_rejected_by_lower(formula, expected):
    with pytest.raises(lossdsl.LossError) as raised:
        lower(lossdsl.parse(formula) if isinstance(formula, str) else formula)
    assert _positions(raised.value) == [expected]


def test_missing_input_is_a_diagnostic():
    lowered = lower(lossdsl.parse("norm(L0.kernel) + mse(y_true, y_pred)"))
    with pytest.raises(lossdsl.LossError) as raised:
        lowered({"L0.kernel": tf.constant(DATA["W"])})
    assert _positions(raised.value) == [("E215", 1, 23), ("E215", 1, 31)]
    assert "term(y_true, y_pred)" in raised.value.diagnostics[0].hint


@pytest.mark.parametrize("src, scale", [
    ("norm(W.kernel - I/2)", 0.5), ("norm(W.kernel - a*I)", 0.25), ("norm(W.kernel - (2*I)/3)", 2 / 3),
    ("norm(W.kernel - I*a/2)", 0.125), ("norm(W.kernel + I)", -1.0), ("norm(W.kernel - 2*I)", 2.0),
])
def test_a_scaled_identity_takes_the_size_of_what_it_is_added_to(src, scale):
    w = np.array([[1.0, 2.0], [3.0, 4.0]], dtype="float32")
    value = lower(lossdsl.parse(src))({"W.kernel": tf.constant(w), "a": tf.constant(0.25)})[""]
    np.testing.assert_allclose(value.numpy(), np.linalg.norm(w - scale * np.eye(2)), rtol=1e-6)
