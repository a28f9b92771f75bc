"""log_softmax, normalize, var, std and a tuple axis (SPEC §5.8): values and gradients against TensorFlow's
own functions and numpy, shapes, misuse as diagnostics (code, line, column), value ranges and stability."""

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

rng = np.random.default_rng(2)
X = rng.normal(size=(3, 4)).astype(np.float32)
Y = rng.normal(size=(3, 4)).astype(np.float32)
SHAPES = {"L1.kernel": [3, 4], "L2.kernel": [3, 4], "L3.kernel": [2, 3, 4]}

# (formula in x = L1.kernel, y = L2.kernel; numpy reference in float64; TensorFlow reference)
NUMERIC = [
    ("sum(log_softmax(L1.kernel) * L2.kernel)",
     lambda x, y: ((x - np.log(np.exp(x).sum(-1, keepdims=True))) * y).sum(),
     lambda x, y: tf.reduce_sum(tf.nn.log_softmax(x) * y)),
    ("sum(log_softmax(L1.kernel, axis=0) * L2.kernel)",
     lambda x, y: ((x - np.log(np.exp(x).sum(0, keepdims=True))) * y).sum(),
     lambda x, y: tf.reduce_sum(tf.nn.log_softmax(x, axis=0) * y)),
    ("sum(log_softmax(100 * L1.kernel))",  # exp(100 x) overflows float32; log_softmax does not
     lambda x, y: (100 * x - (100 * x).max(-1, keepdims=True)
                   - np.log(np.exp(100 * x - (100 * x).max(-1, keepdims=True)).sum(-1, keepdims=True))).sum(),
     lambda x, y: tf.reduce_sum(tf.nn.log_softmax(100 * x))),
    ("sum(normalize(L1.kernel) * L2.kernel)", lambda x, y: (x / np.linalg.norm(x, axis=-1, keepdims=True) * y).sum(),
     lambda x, y: tf.reduce_sum(tf.math.l2_normalize(x, -1) * y)),
    ("sum(normalize(L1.kernel, axis=(0, 1)) * L2.kernel)", lambda x, y: (x / np.linalg.norm(x) * y).sum(),
     lambda x, y: tf.reduce_sum(tf.math.l2_normalize(x, [0, 1]) * y)),
    ("var(L1.kernel)", lambda x, y: x.var(), lambda x, y: tf.math.reduce_variance(x)),
    ("sum(var(L1.kernel, axis=0) * L2.kernel[0])", lambda x, y: (x.var(0) * y[0]).sum(),
     lambda x, y: tf.reduce_sum(tf.math.reduce_variance(x, 0) * y[0])),
    ("std(L1.kernel)", lambda x, y: x.std(), lambda x, y: tf.math.reduce_std(x)),
    ("sum(std(L1.kernel, axis=1) * L2.kernel[:, 0])", lambda x, y: (x.std(1) * y[:, 0]).sum(),
     lambda x, y: tf.reduce_sum(tf.math.reduce_std(x, 1) * y[:, 0])),
    ("sum(L1.kernel, axis=(0, 1))", lambda x, y: x.sum(), lambda x, y: tf.reduce_sum(x)),
    ("sum(mean(L1.kernel * L2.kernel, axis=(-1, 0)))", lambda x, y: (x * y).mean(),
     lambda x, y: tf.reduce_mean(x * y)),
    ("norm(L1.kernel, axis=(0, 1))", lambda x, y: np.linalg.norm(x), lambda x, y: tf.norm(x)),
]


@pytest.mark.parametrize("src, np_reference, tf_reference", NUMERIC)
def test_value_and_gradient_match_tensorflow(src, np_reference, tf_reference):
    assert_matches_reference(src, {"L1.kernel": X, "L2.kernel": Y},
                             np_reference(X.astype(np.float64), Y.astype(np.float64)), tf_reference)


def test_std_of_equal_entries_has_a_zero_gradient_where_tensorflows_is_nan():
    bias = tf.Variable(tf.zeros([4]))  # a bias as Keras initializes it
    with tf.GradientTape(persistent=True) as tape:
        ours = lower(lossdsl.parse("std(L1.bias)"))({"L1.bias": bias})[""]
        theirs = tf.math.reduce_std(bias)
    assert float(ours) == 0.0
    assert np.isnan(tape.gradient(theirs, bias).numpy()).all()
    np.testing.assert_array_equal(tape.gradient(ours, bias).numpy(), np.zeros(4))


SHAPED = [
    ("a = log_softmax(L1.kernel, axis=0)\nsum(a)", {"a": (3, 4), "": ()}),
    ("a = normalize(L3.kernel, axis=(1, 2))\nsum(a)", {"a": (2, 3, 4), "": ()}),
    ("a = var(L3.kernel, axis=(0, -1))\nsum(a)", {"a": (3,), "": ()}),
    ("a = std(L3.kernel, axis=1)\nsum(a)", {"a": (2, 4), "": ()}),
    ("a = sum(L3.kernel, axis=(0, 1))\nsum(a)", {"a": (4,), "": ()}),
    ("a = max(L3.kernel, axis=(2,))\nsum(a)", {"a": (2, 3), "": ()}),
]


@pytest.mark.parametrize("src, expected", SHAPED)
def test_shapes(src, expected):
    assert infer_shapes(lossdsl.parse(src), SHAPES) == (expected, [])


MISUSED = [
    ("sum(L1.kernel, axis=(0, 2))", ("E305", 1, 16)),  # at the option as written
    ("sum(L1.kernel, axis=(0, 0))", ("E213", 1, 16)),
    ("sum(L1.kernel, axis=(0, 0.5))", ("E213", 1, 16)),
    ("sum(log_softmax(L1.kernel, axis=(0, 1)))", ("E213", 1, 28)),  # along one axis only
    ("sum(softmax(L1.kernel, axis=(0, 1)))", ("E213", 1, 24)),
    ("sum(normalize(L1.kernel, axis=3))", ("E305", 1, 26)),
    ("var(L1.kernel, axis=L2.kernel)", ("E213", 1, 16)),
    ("std(L1.kernel, 0, 1)", ("E202", 1, 19)),
    ("(1, 2) + std(L1.kernel)", ("E100", 1, 1)),  # a tuple is an option, never a value
    ("log_softmax(L1.kernel)", ("E303", 1, 1)),
    ("varr(L1.kernel)", ("E201", 1, 1)),
]


@pytest.mark.parametrize("src, expected", MISUSED)
def test_misuse_is_a_diagnostic_at_its_place(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES) if d.is_error][:1] == [expected]


STABILITY = [
    ("log(var(L1.kernel) + 1)", []),  # var >= 0
    ("sqrt(std(L1.kernel))", []),  # std >= 0
    ("log(var(L1.kernel))", [("W402", 1, 1)]),  # var may be 0
    ("sum(log_softmax(L1.kernel))", []),  # at most 0, bounded whatever L1.kernel is: a constant here
    ("-sum(log_softmax(s * L1.kernel))", []),  # log_softmax <= 0: bounded below whatever s does
    ("sum(normalize(L1.kernel)) * s", [("W401", 1, 29)]),  # of either sign: unbounded in s
    # std(a x) = a std(x), but training can drive std(x) to 0, and then -log(a) to -inf (SPEC §5.9)
    ("std(a * L1.kernel) - log(a) where a: positive", [("W401", 1, 35)]),
    ("var(L1.kernel) - s", [("W401", 1, 18)]),
]


@pytest.mark.parametrize("src, expected", STABILITY)
def test_stability(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES)] == expected


def test_value_ranges():
    x = lossdsl.parse("normalize(L1.kernel)").references["L1.kernel"].symbol
    of = RangeFinder({x: Range(2.0, 5.0)}).of
    assert of(lossdsl.parse("normalize(L1.kernel)").expr) == Range(0.0, 1.0, False, True)  # x > 0: in (0, 1]
    assert of(lossdsl.parse("normalize(-L1.kernel)").expr) == Range(-1.0, 0.0, True, False)
    assert of(lossdsl.parse("normalize(L1.kernel - 3)").expr) == Range(-1.0, 1.0)
    assert of(lossdsl.parse("log_softmax(L1.kernel)").expr) == Range(-float("inf"), 0.0, False, True)
    assert of(lossdsl.parse("std(L1.kernel)").expr) == Range(0.0, float("inf"), True, False)


def test_latex():
    assert lossdsl.parse("sum(log_softmax(L1.kernel, axis=0)) + std(L1.kernel, axis=(0, 1))").latex() == (
        r"\operatorname{sum}\left(\operatorname{log\_softmax}\left(\mathtt{L1.kernel}, \mathrm{axis}=0\right)\right)"
        r" + \operatorname{std}\left(\mathtt{L1.kernel}, \mathrm{axis}=\left(0, 1\right)\right)")
