"""softmax(x, axis=-1) and logsumexp(x, axis=None) (SPEC §5.8): values and gradients against hand-written
numpy and TensorFlow, shapes, diagnostics (code, line, column), value ranges, stability, LaTeX."""

import numpy as np
import pytest
import tensorflow as tf

import lossdsl
from lossdsl.analysis.ranges import RangeFinder
from lossdsl.analysis.shapes import infer_shapes
from lossdsl.language.intervals import Range
from lossdsl.lowering.lower import lower
from conftest import where
from references import assert_matches_reference

rng = np.random.default_rng(1)
X = rng.normal(size=(3, 4)).astype(np.float32)
Y = rng.normal(size=(3, 4)).astype(np.float32)
SHAPES = {"L1.kernel": [3, 4], "L2.kernel": [3, 4]}


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def np_logsumexp(x, axis=None):
    top = x.max(axis, keepdims=True)
    return np.log(np.exp(x - top).sum(axis, keepdims=True)).squeeze(axis) + top.squeeze(axis)


def tf_softmax(x, axis=-1):
    e = tf.exp(x - tf.stop_gradient(tf.reduce_max(x, axis, keepdims=True)))
    return e / tf.reduce_sum(e, axis, keepdims=True)


def tf_logsumexp(x, axis=None):
    top = tf.stop_gradient(tf.reduce_max(x, axis, keepdims=True))
    return tf.squeeze(tf.math.log(tf.reduce_sum(tf.exp(x - top), axis, keepdims=True)) + top, axis)


# (formula in x = L1.kernel, y = L2.kernel; numpy reference; hand-written TensorFlow reference)
NUMERIC = [
    ("sum(softmax(L1.kernel) * L2.kernel)", lambda x, y: (np_softmax(x) * y).sum(),
     lambda x, y: tf.reduce_sum(tf_softmax(x) * y)),
    ("sum(softmax(L1.kernel, axis=0) * L2.kernel)", lambda x, y: (np_softmax(x, 0) * y).sum(),
     lambda x, y: tf.reduce_sum(tf_softmax(x, 0) * y)),
    ("sum(softmax(L1.kernel, -2) * L2.kernel)", lambda x, y: (np_softmax(x, 0) * y).sum(),
     lambda x, y: tf.reduce_sum(tf_softmax(x, 0) * y)),
    ("logsumexp(L1.kernel)", lambda x, y: np_logsumexp(x), lambda x, y: tf_logsumexp(x)),
    ("sum(logsumexp(L1.kernel, axis=1) * L2.kernel[:, 0])", lambda x, y: (np_logsumexp(x, 1) * y[:, 0]).sum(),
     lambda x, y: tf.reduce_sum(tf_logsumexp(x, 1) * y[:, 0])),
    # no overflow where exp(x) alone would: exp(100) is beyond float32
    ("logsumexp(100 * L1.kernel)", lambda x, y: np_logsumexp(100 * x), lambda x, y: tf_logsumexp(100 * x)),
    ("sum(softmax(100 * L1.kernel) * L2.kernel)", lambda x, y: (np_softmax(100 * x) * y).sum(),
     lambda x, y: tf.reduce_sum(tf_softmax(100 * x) * y)),
]


@pytest.mark.parametrize("src, np_reference, tf_reference", NUMERIC)
def test_value_and_gradient_match_the_hand_written_reference(src, np_reference, tf_reference):
    assert_matches_reference(src, {"L1.kernel": X, "L2.kernel": Y},
                             np_reference(X.astype(np.float64), Y.astype(np.float64)), tf_reference)


def test_the_lowered_ops_are_tensorflows_own():
    ops = lower(lossdsl.parse("sum(softmax(L1.kernel, axis=0)) + logsumexp(L1.kernel, axis=1)[0]")).ops
    assert "t1 = tf.nn.softmax(L1.kernel, axis=0)" in ops
    assert "t3 = tf.reduce_logsumexp(L1.kernel, axis=1)" in ops


SHAPED = [
    ("a = softmax(L1.kernel)\nsum(a)", {"a": (3, 4), "": ()}),
    ("a = softmax(L1.kernel, axis=0)\nsum(a)", {"a": (3, 4), "": ()}),
    ("a = logsumexp(L1.kernel, axis=0)\nsum(a)", {"a": (4,), "": ()}),
    ("a = logsumexp(L1.kernel, axis=-1)\nsum(a)", {"a": (3,), "": ()}),
    ("logsumexp(L1.kernel)", {"": ()}),
]


@pytest.mark.parametrize("src, expected", SHAPED)
def test_shapes(src, expected):
    assert infer_shapes(lossdsl.parse(src), SHAPES) == (expected, [])


MISUSED = [
    ("sum(softmax(L1.kernel, axis=2))", ("E305", 1, 24)),  # at the axis as written
    ("sum(softmax(L1.kernel, -3))", ("E305", 1, 24)),
    ("sum(softmax(a))", ("E305", 1, 5)),  # a scalar has no axis -1: at the call
    ("logsumexp(L1.kernel, axis=-3)", ("E305", 1, 22)),
    ("softmax(L1.kernel)", ("E303", 1, 1)),
    ("sum(softmax(L1.kernel, axis=0.5))", ("E213", 1, 24)),
    ("sum(softmax(L1.kernel, L2.kernel))", ("E213", 1, 24)),
    ("logsumexp(L1.kernel, 0, 1)", ("E202", 1, 25)),
    ("softmx(L1.kernel)", ("E201", 1, 1)),
]


@pytest.mark.parametrize("src, expected", MISUSED)
def test_misuse_is_a_diagnostic_at_its_place(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES)][:1] == [expected]


def test_did_you_mean_names_softmax():
    (diagnostic,) = lossdsl.check("softmx(L1.kernel)")
    assert "'softmax'" in diagnostic.hint


def test_value_ranges():
    x = lossdsl.parse("softmax(L1.kernel)").references["L1.kernel"].symbol
    finder = RangeFinder({x: Range(2.0, 5.0)})
    assert finder.of(lossdsl.parse("softmax(L1.kernel)").expr) == Range(0.0, 1.0, False, True)
    assert finder.of(lossdsl.parse("logsumexp(L1.kernel)").expr) == Range(2.0, float("inf"), True, False)


# stability findings, which follow from the ranges and the (undecided) asymptotic rules
STABILITY = [
    ("log(sum(softmax(L1.kernel)))", []),  # softmax > 0
    ("log(logsumexp(exp(L1.kernel)))", []),  # logsumexp(x) >= max(x) > 0
    ("log(logsumexp(L1.kernel))", [("W402", 1, 1)]),
    ("sum(softmax(s * L1.kernel))", []),  # bounded whatever s does
    ("logsumexp(a * L1.kernel)", [("W405", 1, 11)]),  # no asymptotic rule: cannot tell, never a guess
    ("sum(softmax(a * L1.kernel) * L2.kernel)", [("W405", 1, 13)]),
    ("logsumexp(L1.kernel) - s", [("W401", 1, 24)]),
]


@pytest.mark.parametrize("src, expected", STABILITY)
def test_stability(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES)] == expected


def test_latex():
    assert lossdsl.parse("softmax(L1.kernel, axis=0)[0, 0] + logsumexp(L1.kernel)").latex() == (
        r"\operatorname{softmax}\left(\mathtt{L1.kernel}, \mathrm{axis}=0\right)_{[0, 0]}"
        r" + \operatorname{logsumexp}\left(\mathtt{L1.kernel}\right)")
