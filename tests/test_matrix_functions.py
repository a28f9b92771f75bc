"""svd, spectral_norm, nuclear_norm, eigvalsh, logdet, det, inv, solve (SPEC §5.8): values and gradients
against TensorFlow's linear algebra and numpy, safe gradients at repeated singular values, shapes, misuse
(E309 with the shapes), value ranges and stability."""

import numpy as np
import pytest
import tensorflow as tf

import lossdsl
from lossdsl.analysis.shapes import infer_shapes
from lossdsl.lowering.lower import lower
from conftest import where
from references import assert_matches_reference

rng = np.random.default_rng(3)
A = rng.normal(size=(4, 4)).astype(np.float32)
B = rng.normal(size=(4, 3)).astype(np.float32)
SHAPES = {"L1.kernel": [4, 4], "L2.kernel": [4, 3], "L3.kernel": [2, 4, 3], "L1.bias": [4]}


def spd(a):  # a symmetric positive definite matrix made of a
    return a @ a.T + 4 * np.eye(4)


# (formula in a = L1.kernel, b = L2.kernel; numpy reference in float64; TensorFlow reference)
NUMERIC = [
    ("sum(svd(L2.kernel) * L1.bias[:3])", lambda a, b: (np.linalg.svd(b, compute_uv=False) * BIAS[:3]).sum(),
     lambda a, b: tf.reduce_sum(tf.linalg.svd(b, compute_uv=False) * BIAS[:3])),
    ("spectral_norm(L2.kernel)", lambda a, b: np.linalg.norm(b, 2), lambda a, b: tf.linalg.svd(b)[0][0]),
    ("nuclear_norm(L2.kernel)", lambda a, b: np.linalg.norm(b, "nuc"),
     lambda a, b: tf.reduce_sum(tf.linalg.svd(b, compute_uv=False))),
    ("sum(spectral_norm(L3.kernel))", lambda a, b: sum(np.linalg.norm(m, 2) for m in STACKED),
     lambda a, b: tf.reduce_sum(tf.linalg.svd(tf.constant(STACKED), compute_uv=False)[:, 0])),
    ("sum(eigvalsh(L1.kernel @ L1.kernel.T) * L1.bias)", lambda a, b: (np.linalg.eigvalsh(a @ a.T) * BIAS).sum(),
     lambda a, b: tf.reduce_sum(tf.linalg.eigvalsh(a @ tf.transpose(a)) * BIAS)),
    ("logdet(L1.kernel @ L1.kernel.T + 4 * eye(4))", lambda a, b: np.linalg.slogdet(spd(a))[1],
     lambda a, b: tf.linalg.logdet(a @ tf.transpose(a) + 4 * tf.eye(4))),
    ("det(L1.kernel)", lambda a, b: np.linalg.det(a), lambda a, b: tf.linalg.det(a)),
    ("sum(inv(L1.kernel @ L1.kernel.T + 4 * eye(4)) * L1.kernel)", lambda a, b: (np.linalg.inv(spd(a)) * a).sum(),
     lambda a, b: tf.reduce_sum(tf.linalg.inv(a @ tf.transpose(a) + 4 * tf.eye(4)) * a)),
    ("sum(solve(L1.kernel @ L1.kernel.T + 4 * eye(4), L2.kernel))", lambda a, b: np.linalg.solve(spd(a), b).sum(),
     lambda a, b: tf.reduce_sum(tf.linalg.solve(a @ tf.transpose(a) + 4 * tf.eye(4), b))),
    ("sum(solve(L1.kernel @ L1.kernel.T + 4 * eye(4), L2.kernel[:, 0]))",
     lambda a, b: np.linalg.solve(spd(a), b[:, 0]).sum(),
     lambda a, b: tf.reduce_sum(tf.linalg.solve(a @ tf.transpose(a) + 4 * tf.eye(4), b[:, :1]))),
]
BIAS = np.array([0.5, -1.0, 2.0, 1.5], np.float32)
STACKED = rng.normal(size=(2, 4, 3)).astype(np.float32)


@pytest.mark.parametrize("src, np_reference, tf_reference", NUMERIC)
def test_value_and_gradient_match_tensorflow(src, np_reference, tf_reference):
    assert_matches_reference(src, {"L1.kernel": A, "L2.kernel": B},
                             np_reference(A.astype(np.float64), B.astype(np.float64)), tf_reference,
                             constants={"L3.kernel": STACKED, "L1.bias": BIAS},
                             rtol=1e-4, gradient_rtol=1e-3, gradient_atol=1e-4)


def test_the_singular_values_descend_and_the_eigenvalues_ascend():
    env = {"L1.kernel": tf.constant(A), "L2.kernel": tf.constant(B)}
    values = lower(lossdsl.parse("s = svd(L2.kernel)\ne = eigvalsh(L1.kernel + L1.kernel.T)\nsum(s) + sum(e)"))(env)
    np.testing.assert_allclose(values["s"].numpy(), np.linalg.svd(B, compute_uv=False), rtol=1e-5)
    np.testing.assert_allclose(values["e"].numpy(), np.linalg.eigvalsh(A + A.T), rtol=1e-4, atol=1e-5)
    assert np.all(np.diff(values["s"].numpy()) <= 0) and np.all(np.diff(values["e"].numpy()) >= 0)


def test_eigvalsh_reads_the_symmetric_part_and_its_gradient_is_symmetric():
    a = tf.Variable(A)
    with tf.GradientTape() as tape:
        value = lower(lossdsl.parse("sum(eigvalsh(L1.kernel) * L1.bias)"))({"L1.kernel": a, "L1.bias": BIAS})[""]
    gradient = tape.gradient(value, a).numpy()
    np.testing.assert_allclose(float(value), (np.linalg.eigvalsh((A + A.T) / 2) * BIAS).sum(), rtol=1e-4)
    np.testing.assert_allclose(gradient, gradient.T, atol=1e-6)


# A matrix whose largest singular value repeats: diag(2, 2, 1). Singular vectors are not unique there and a
# gradient through them is undefined; lossdsl exposes only values, whose gradient U diag(g) V^T is exact
# (nuclear norm) or a subgradient (spectral norm).
REPEATED = np.diag([2.0, 2.0, 1.0]).astype(np.float32)


def test_spectral_norm_at_a_repeated_singular_value_has_a_finite_unit_subgradient():
    w = tf.Variable(REPEATED)
    with tf.GradientTape() as tape:
        value = lower(lossdsl.parse("spectral_norm(L1.kernel)"))({"L1.kernel": w})[""]
    gradient = tape.gradient(value, w).numpy()
    assert float(value) == pytest.approx(2.0)
    assert np.isfinite(gradient).all() and np.linalg.norm(gradient) == pytest.approx(1.0, abs=1e-5)
    # a subgradient of the (convex) spectral norm: ||W + D||_2 >= ||W||_2 + <G, D> for every D
    for direction in np.random.default_rng(0).normal(size=(20, 3, 3)) * 0.1:
        assert np.linalg.norm(REPEATED + direction, 2) >= 2.0 + (gradient * direction).sum() - 1e-5


def test_nuclear_norm_at_repeated_singular_values_has_the_exact_gradient():
    w = tf.Variable(REPEATED)
    with tf.GradientTape() as tape:
        value = lower(lossdsl.parse("nuclear_norm(L1.kernel) + sum(svd(L1.kernel))"))({"L1.kernel": w})[""]
    # near a positive diagonal matrix the nuclear norm is the trace: its gradient is 2 * I here
    np.testing.assert_allclose(tape.gradient(value, w).numpy(), 2 * np.eye(3), atol=1e-5)


SHAPED = [
    ("s = svd(L2.kernel)\nsum(s)", {"s": (3,), "": ()}),
    ("s = svd(L3.kernel)\nsum(s)", {"s": (2, 3), "": ()}),
    ("s = spectral_norm(L3.kernel)\nsum(s)", {"s": (2,), "": ()}),
    ("e = eigvalsh(L1.kernel)\nsum(e)", {"e": (4,), "": ()}),
    ("i = inv(L1.kernel)\nsum(i)", {"i": (4, 4), "": ()}),
    ("x = solve(L1.kernel, L1.bias)\nsum(x)", {"x": (4,), "": ()}),
    ("x = solve(L1.kernel, L2.kernel)\nsum(x)", {"x": (4, 3), "": ()}),
    ("d = det(L1.kernel)\nlogdet(L1.kernel) + d", {"d": (), "": ()}),
]


@pytest.mark.parametrize("src, expected", SHAPED)
def test_shapes(src, expected):
    assert infer_shapes(lossdsl.parse(src), SHAPES) == (expected, [])


MISUSED = [
    ("det(L2.kernel)", ("E309", 1, 1), "(4, 3)"),
    ("logdet(L2.kernel)", ("E309", 1, 1), "(4, 3)"),
    ("sum(inv(L2.kernel))", ("E309", 1, 5), "(4, 3)"),
    ("sum(eigvalsh(L1.bias))", ("E309", 1, 5), "(4,)"),
    ("sum(eigvalsh(y_pred))", ("E309", 1, 5), "(None, 4)"),
    ("sum(solve(L2.kernel, L1.bias))", ("E309", 1, 5), "(4, 3)"),
    ("sum(solve(L1.kernel, L2.kernel.T))", ("E302", 1, 5), "(3, 4)"),
    ("sum(svd(L1.bias))", ("E308", 1, 5), "(4,)"),
    ("spectral_norm(L1.bias)", ("E308", 1, 1), "(4,)"),
    ("nuclear_norm(L1.kernel, 1)", ("E202", 1, 25), "nuclear_norm(x)"),
    ("det()", ("E202", 1, 1), "det(x)"),
    ("spectral_nrom(L1.kernel)", ("E201", 1, 1), "spectral_norm"),
]


@pytest.mark.parametrize("src, expected, shown", MISUSED)
def test_misuse_is_a_diagnostic_with_the_shapes(src, expected, shown):
    found = [d for d in lossdsl.check(src, shapes={**SHAPES, "y_pred": [None, 4]}) if d.is_error]
    assert [where(src, d) for d in found][:1] == [expected]
    assert shown in found[0].message + (found[0].hint or "")


STABILITY = [
    ("log(spectral_norm(L1.kernel) + 1)", []),  # >= 0
    ("log(nuclear_norm(L1.kernel))", [("W402", 1, 1), ("W401", 1, 5)]),  # may be 0, and trained toward it
    ("sqrt(sum(svd(L2.kernel)))", []),
    # |a| factors out: a*c - log(a), unbounded as training drives c = spectral_norm(L1.kernel) to 0 (SPEC §5.9)
    ("a * spectral_norm(L1.kernel) - log(a) where a: positive", [("W401", 1, 45)]),
    ("a * nuclear_norm(L1.kernel)", [("W401", 1, 1)]),  # a: real, toward -inf
    ("logdet(L1.kernel) - s", [("W401", 1, 21)]),
    ("det(a * L1.kernel)", [("W405", 1, 5)]),  # no rule for det(a W) = a**4 det(W): cannot tell
]


@pytest.mark.parametrize("src, expected", STABILITY)
def test_stability(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES)] == expected


def test_latex():
    assert lossdsl.parse("spectral_norm(L1.kernel) + logdet(L1.kernel)").latex() == (
        r"\operatorname{spectral\_norm}\left(\mathtt{L1.kernel}\right)"
        r" + \operatorname{logdet}\left(\mathtt{L1.kernel}\right)")
