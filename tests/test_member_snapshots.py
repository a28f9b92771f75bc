"""initial() over a pattern (SPEC §5.3: "also member-wise over a pattern"): initial(**.kernel) beside **.kernel, and
initial(W) in a comprehension, each member paired with its own snapshot; trained against hand-written L2-SP, saved
and reloaded in a fresh process."""

import numpy as np
import pytest
import tensorflow as tf

import lossdsl
from test_keras_constants import Y, assert_resumes_exactly, assert_same_weights, by_hand, fit, two_layers

FORMS = ["mse(y_true, y_pred) + 0.5*sum(square(**.kernel - initial(**.kernel)))",
         "mse(y_true, y_pred) + 0.5*sum(square(W - initial(W)) for W in **.kernel)"]
SHAPES = {"a.kernel": [3, 4], "b.kernel": [4, 5], "b.bias": [5]}


@pytest.mark.parametrize("source", FORMS)
def test_l2_sp_over_every_kernel_equals_the_hand_written_penalty(source):
    model, reference = two_layers(), two_layers()
    kernels = [reference.get_layer(name).kernel for name in ("hidden", "out")]
    start = [kernel.numpy() for kernel in kernels]
    attached, _ = fit(model, source)

    def l2_sp(prediction):
        drift = sum(tf.reduce_sum(tf.square(kernel - value)) for kernel, value in zip(kernels, start))
        return tf.reduce_mean(tf.square(Y - prediction)) + 0.5 * drift
    assert_same_weights(model, by_hand(reference, l2_sp))
    snapshots = {w.name: w.numpy() for w in attached.term.non_trainable_weights}
    assert sorted(snapshots) == ["initial_hidden_kernel", "initial_out_kernel"]  # the kernels only, not the biases
    np.testing.assert_array_equal(snapshots["initial_hidden_kernel"], start[0])  # untouched by training
    np.testing.assert_array_equal(snapshots["initial_out_kernel"], start[1])


@pytest.mark.parametrize("source", FORMS)
def test_the_members_pair_up_in_the_expanded_formula(source):
    analysis = lossdsl.analyze(source, shapes={**SHAPES, "y_true": [None, 5], "y_pred": [None, 5]})
    assert not analysis.diagnostics
    assert analysis.members["initial(**.kernel)"] == ("initial(a.kernel)", "initial(b.kernel)")
    assert analysis.reference_shapes["initial(b.kernel)"] == [4, 5]
    expanded = str(analysis.expanded.expr)
    assert "a.kernel - initial(a.kernel)" in expanded and "b.kernel - initial(b.kernel)" in expanded
    assert "a.kernel - initial(b.kernel)" not in expanded


def test_latex_writes_a_members_snapshot_as_the_member_at_step_0():
    assert r"\sum_{W \in \mathtt{**.kernel}} \left(W - W^{(0)}\right)^{2}" in lossdsl.parse(FORMS[1]).latex()
    assert r"\mathtt{**.kernel}^{(0)}" in lossdsl.parse(FORMS[0]).latex()


@pytest.mark.parametrize("source, expected", [
    # a snapshot of a snapshot
    ("sum(initial(initial(**.kernel)))", ("E222", 1, 13)),
    ("sum(initial(W) for W in initial(**.kernel))", ("E222", 1, 25)),
    # a shape problem names the member, with its snapshot
    ("sum(norm(W @ initial(W)) for W in **.kernel)", ("E302", 1, 1)),
    # two different collections in one reduction still do not pair up
    ("sum(square(**.kernel - initial(**.bias)))", ("E232", 1, 1)),
])
def test_misuse_is_a_diagnostic_at_its_place(diagnose, source, expected):
    found, errors = diagnose(source, shapes=SHAPES)
    assert expected in found, [str(e) for e in errors]


def test_a_pattern_written_only_inside_initial_is_no_reference_of_its_own():
    formula = lossdsl.parse("sum(square(initial(**.kernel)))")
    assert list(formula.references) == ["initial(**.kernel)"]


def test_saved_and_reloaded_in_a_fresh_process_the_snapshots_are_restored_exactly(tmp_path):
    interrupted, saved, _ = assert_resumes_exactly(tmp_path, FORMS[1])
    assert sorted(w.name for w in interrupted.term.non_trainable_weights) == ["initial_hidden_kernel",
                                                                              "initial_out_kernel"]


def test_patterns_activations_snapshots_and_tensor_parameters_together_resume_exactly(tmp_path):
    source = ("mse(y_true, y_pred) + 1e-3*mean(square(hidden.output)) + 0.1*sum(square(W - initial(W)) for W in "
              "**.kernel) + 0.01*norm(**.bias) + mean(square(y_pred - c)) where c: real[2] = 0.5")
    _, saved, _ = assert_resumes_exactly(tmp_path, source)
    c = next(path for path in saved if path.endswith("/c"))
    assert not np.array_equal(saved[c], np.full(2, 0.5, "float32"))  # trained before saving, restored exactly
