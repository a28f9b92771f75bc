"""Reductions over the batch under tf.distribute.MirroredStrategy (SPEC §3.2, issue 16 item 6).

Which steps reduce over the batch is read from the shapes with the batch dimension marked; those steps
are computed over the global batch when several replicas trace them, so training on two replicas gives
the losses and weights of one device with the same global batch. Outside a strategy the traced graph is
the one without that knowledge.
"""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import lossdsl

tf = pytest.importorskip("tensorflow")

from lossdsl.lowering.lower import lower  # noqa: E402  (after TensorFlow is known to be there)

SHAPES = {"y_true": [None, 3], "y_pred": [None, 3], "L1.kernel": [3, 3]}

#: formula -> the ops computed over the global batch under a strategy (every other op stays per replica)
OVER_THE_BATCH = [
    ("norm(mean(y_pred, axis=0))", ["t1 = tf.reduce_mean(y_pred, axis=0)"]),
    ("sum(mean(y_pred, axis=1))", ["loss = tf.reduce_sum(t1)"]),
    ("max(abs(y_true - y_pred)) + sum(min(y_pred, axis=0))",
     ["t3 = tf.reduce_max(t2)", "t4 = tf.reduce_min(y_pred, axis=0)"]),
    ("mse(y_true, y_pred)", ["loss = tf.reduce_mean(keras.losses.MeanSquaredError(reduction=None)(y_true, y_pred))"]),
    ("norm(L1.kernel) + sum(L1.kernel, axis=0)[0]", []),
    ("norm(y_pred, 1) + norm(y_pred, inf, axis=0)[0]",
     ["t1 = tf.reduce_sum(tf.abs(y_pred))", "t2 = tf.reduce_max(tf.abs(y_pred), axis=0)"]),
    ("sum(y_pred[:, 0])", ["loss = tf.reduce_sum(t1)"]),
    ("sum(y_pred[0:4])", []),  # a part of the batch: each replica's own part (docs/reliability.md)
    ("norm(y_pred.T @ y_pred - I)", ["t2 = t1 @ y_pred"]),
    ("sum(y_pred @ L1.kernel)", ["loss = tf.reduce_sum(t1)"]),  # the product keeps the batch
    ("e = mean(square(y_pred), axis=0)\nnorm(e)", ["e = tf.reduce_mean(t1, axis=0)"]),
    ("dot(y_true, y_pred) + cosine(y_true, y_pred)",
     ["t1 = tf.reduce_sum(y_true * y_pred)", "t2 = cosine_similarity(y_true, y_pred)"]),
    ("sum(logsumexp(y_pred, axis=0))", ["t1 = tf.reduce_logsumexp(y_pred, axis=0)"]),
    # batch by batch: each replica holds a diagonal block only (docs/reliability.md)
    ("trace(y_pred @ y_pred.T) + norm(y_pred @ y_pred.T - I)", []),
]


def lowered_for(src: str, shapes: dict = SHAPES):
    analysis = lossdsl.analyze(src, shapes=shapes)
    assert not analysis.has_errors, analysis.diagnostics
    return lower(analysis.formula, node_shapes=analysis.node_shapes)


@pytest.mark.parametrize("src, expected", OVER_THE_BATCH)
def test_the_ops_that_reduce_over_the_batch(src, expected):
    lowered = lowered_for(src)
    assert [line for line in lowered.ops if line.split(" = ")[0] in lowered.over_batch] == expected


def test_an_unknown_leading_dimension_of_a_variable_is_not_the_batch():
    assert lowered_for("sum(L1.kernel)", {"L1.kernel": [None, 3]}).over_batch == []


@pytest.mark.parametrize("src", ["mse(y_true, y_pred) + norm(mean(y_pred, axis=0))",
                                 "0.1*max(abs(y_true - y_pred)) + norm(y_pred.T @ y_true)"])
def test_outside_a_strategy_the_traced_graph_is_unchanged(src):
    def graph_ops(node_shapes):
        lowered = lower(lossdsl.parse(src), node_shapes=node_shapes)
        spec = tf.TensorSpec([None, 3], tf.float32)
        function = tf.function(lambda y_true, y_pred: lowered({"y_true": y_true, "y_pred": y_pred})[""])
        return [op.type for op in function.get_concrete_function(spec, spec).graph.get_operations()]

    assert graph_ops(lossdsl.analyze(src, shapes=SHAPES).node_shapes) == graph_ops(None)


X = [[1.0, -2.0, 0.5], [3.0, 0.0, -1.0], [-0.5, 4.0, 2.0], [2.0, 1.0, 1.0]]
Y = [[0.5, 1.0, -1.0], [1.0, 2.0, 0.0], [0.0, -1.0, 3.0], [1.0, 1.0, 1.0]]

#: each global reduction against numpy, over axis 0 and over all entries
GLOBAL_FORMS = [
    ("global_sum", lambda x, axis: np.sum(x, axis)),
    ("global_mean", lambda x, axis: np.mean(x, axis)),
    ("global_max", lambda x, axis: np.max(x, axis)),
    ("global_min", lambda x, axis: np.min(x, axis)),
    ("global_var", lambda x, axis: np.var(x, axis)),
    ("global_std", lambda x, axis: np.std(x, axis)),
    ("global_euclidean_norm", lambda x, axis: np.sqrt(np.sum(np.square(x), axis))),
    ("global_logsumexp", lambda x, axis: np.log(np.sum(np.exp(x), axis))),
]


@pytest.mark.parametrize("name, reference", GLOBAL_FORMS)
@pytest.mark.parametrize("axis", [None, (0,)])
def test_the_global_forms_compute_the_reduction(name, reference, axis):
    # in a replica context of one replica: the arithmetic of the global form, whatever the split
    from lossdsl.lowering import replicas
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    value = strategy.run(tf.function(lambda: getattr(replicas, name)(tf.constant(X), axis)))
    np.testing.assert_allclose(value, reference(np.array(X), axis), rtol=1e-6)


def test_the_global_cosine_is_the_cosine_of_the_whole_tensors():
    from lossdsl.lowering import replicas
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    value = strategy.run(tf.function(lambda: replicas.global_cosine(tf.constant(X), tf.constant(Y))))
    x, y = np.ravel(X), np.ravel(Y)
    np.testing.assert_allclose(value, x @ y / np.linalg.norm(x) / np.linalg.norm(y), rtol=1e-6)


# ------------------------------------------------------------- two replicas against one device
RUNNER = pathlib.Path(__file__).with_name("mirrored_runner.py")

#: Each formula combines the reductions of one family over axis 0 and over all entries of a batch tensor.
TRAINED = [
    "mse(y_true, y_pred) + norm(mean(y_pred, axis=0))",  # issue 16's example: 7.6e-2 apart before
    "mean(abs(y_true - y_pred)) + 0.01*sum(square(y_true - y_pred)) + norm(0.01*sum(y_true - y_pred, axis=0))",
    "0.1*norm(y_true - y_pred) + 0.1*sum(norm(y_true - y_pred, 2, axis=0)) + 0.1*norm(y_true - y_pred, 1)"
    " + norm(y_true - y_pred, inf)",
    "0.1*max(abs(y_true - y_pred)) + sum(max(square(y_true - y_pred), axis=0)) + 0.1*square(min(y_pred))"
    " + 0.1*sum(square(min(y_pred, axis=0)))",
    "err = mean(square(y_true - y_pred), axis=0)\nfit = sqrt(mse(y_true, y_pred) + 0.001)\n"
    "exp(-s)*fit + s + sum(sqrt(err + 0.001)) + 0.1*norm(hidden.kernel)\nwhere s: real = 0.5",
    "0.01*norm(y_pred.T @ (y_true - y_pred)) + 0.01*dot(y_true - y_pred, y_true - y_pred)"
    " + 0.1*logsumexp(square(y_true - y_pred)) + (1 - cosine(y_true, y_pred))",
]


UNEVEN = "mse(y_true, y_pred) + norm(mean(y_pred, axis=0))"
CUSTOM_LOOP = "mse(y_true, y_pred) + norm(mean(y_pred, axis=0)) + 0.1*max(abs(y_true - y_pred))"


@pytest.fixture(scope="module")
def two_replicas() -> list[dict]:
    """One fresh process (the two logical CPUs are set before TensorFlow starts) trains every case once."""
    arguments = [*TRAINED, "--samples=69", UNEVEN, "--samples=64", "--custom-loop", CUSTOM_LOOP]
    run = subprocess.run([sys.executable, str(RUNNER), *arguments], capture_output=True, text=True, timeout=900,
                         cwd=RUNNER.parent)
    assert run.returncode == 0, run.stderr[-4000:]
    return [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]


@pytest.mark.slow
def test_fit_on_two_replicas_equals_one_device(two_replicas):
    results = two_replicas[:len(TRAINED)]
    assert [r["formula"] for r in results] == TRAINED
    for result in results:
        assert result["loss"] <= 1e-5 and result["weights"] <= 1e-5, result


@pytest.mark.slow
def test_an_uneven_last_batch_stays_exact(two_replicas):
    # 69 samples in batches of 16: the last batch of 5 splits 3 + 2; every reduction is over the samples present
    [result] = [r for r in two_replicas if r["samples"] == 69]
    assert result["formula"] == UNEVEN and result["loss"] <= 1e-5 and result["weights"] <= 1e-5, result


@pytest.mark.slow
def test_a_compiled_term_in_a_custom_loop_on_two_replicas_equals_one_device(two_replicas):
    [result] = [r for r in two_replicas if r["loop"] == "custom_loop"]
    assert result["formula"] == CUSTOM_LOOP and result["loss"] <= 1e-5 and result["weights"] <= 1e-5, result
