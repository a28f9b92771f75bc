"""grad(f, x) (SPEC §5.7) before Keras: what x may be, shapes, stability, LaTeX, explain, and the lowered
program's values and second derivatives against TensorFlow written by hand."""

import numpy as np
import pytest
import sympy
import tensorflow as tf

import lossdsl
from lossdsl.cli.main import main
from lossdsl.lowering.lower import lower

SHAPES = {"L1.kernel": [10, 16], "L2.kernel": [16, 4], "inputs": [None, 10], "hidden.output": [None, 16],
          "y_true": [None, 4], "y_pred": [None, 4]}

DIAGNOSTICS = [
    ("sum(grad(mse(y_true, y_pred), y_true))", [("E250", 1, 31)]),
    ("sum(grad(y_pred, y_pred))", [("E250", 1, 18)]),
    ("sum(grad(y_pred, y_true.out0))", [("E250", 1, 18)]),
    ("sum(grad(y_pred, 2*inputs))", [("E250", 1, 18)]),
    ("sum(grad(y_pred, 3))", [("E250", 1, 18)]),
    ("sum(grad(y_pred, pi))", [("E250", 1, 18)]),
    ("sum(grad(y_pred, initial(L1.kernel)))", [("E250", 1, 18)]),
    ("sum(grad(y_pred, F)) where F: tensor", [("E250", 1, 18)]),
    ("t = 2*a\nsum(grad(y_pred, t))", [("E250", 2, 18)]),
    ("sum(grad(y_pred, x=L1.kernel.T))", [("E250", 1, 20)]),
    ("sum(grad(norm(grad(y_pred, inputs)), inputs))", [("E251", 1, 10)]),
    ("g = grad(y_pred, inputs)\nsum(grad(norm(g), inputs))", [("E251", 2, 10)]),
    ("sum(grad(y_pred))", [("E202", 1, 5)]),
    ("sum(grad(y_pred, L1))", [("E212", 1, 18)]),
    ("sum(grad(**.kernel, L1.kernel))", [("E231", 1, 10)]),
    ("sum(grad(y_pred, **.kernel) @ L1.kernel)", [("E231", 1, 5)]),
]


@pytest.mark.parametrize("source, expected", DIAGNOSTICS)
def test_what_grad_cannot_differentiate_with_respect_to_is_a_diagnostic_at_its_place(source, expected, diagnose):
    found, errors = diagnose(source)
    assert found == expected
    assert all(error.hint for error in errors)


def test_the_search_for_a_nested_gradient_reads_each_named_term_once(monkeypatch):
    """Terms built on shared terms (t_i = t_(i-1) + t_(i-2)) reach them by exponentially many paths."""
    from lossdsl.language import gradient_targets
    searched = []
    original = gradient_targets.Gradient
    real_has = sympy.Basic.has

    def has(expr, *patterns):
        if original in patterns:
            searched.append(expr)
        return real_has(expr, *patterns)
    monkeypatch.setattr(sympy.Basic, "has", has)
    terms = ["t0 = sum(L1.kernel)", "t1 = 2*t0", *(f"t{i} = t{i - 1} + t{i - 2}" for i in range(2, 16))]
    assert not [d for d in lossdsl.check("\n".join(terms) + "\nnorm(grad(t15, L1.kernel))") if d.is_error]
    assert len(searched) == 17  # f itself and each of the 16 terms, once


ACCEPTED = [
    "mean(square(norm(grad(y_pred, inputs), axis=1) - 1))",
    "sum(grad(y_pred, x=inputs))",
    "w1*stop(norm(grad(mse(y_true, y_pred), L1.kernel))) where w1: positive",
    "sum(square(grad(mse(y_true, y_pred), **.kernel)))",
    "sum(norm(grad(mse(y_true, y_pred), W)) for W in **.kernel)",
    "mean(square(grad(mse(y_true, y_pred), hidden.output)))",
    "sum(square(grad(mse(y_true, y_pred * a), a))) where a: positive",
    "sum(square(grad(norm(c), c))) where c: real[3] = 1",
]


@pytest.mark.parametrize("source", ACCEPTED)
def test_variables_patterns_parameters_activations_and_inputs_are_accepted(source):
    assert [d for d in lossdsl.check(source) if d.is_error] == []


def test_the_gradient_has_the_shape_of_what_it_is_taken_with_respect_to():
    analysis = lossdsl.analyze("g = grad(y_pred, inputs)\nh = grad(mse(y_true, y_pred), L1.kernel)\n"
                               "a = grad(y_pred, hidden.output)\nsum(g) + sum(h) + sum(a)", shapes=SHAPES)
    assert analysis.shapes == {"g": (None, 10), "h": (10, 16), "a": (None, 16), "": ()}
    broken = lossdsl.analyze("norm(grad(y_pred, L1.kernel) @ L1.kernel)", shapes=SHAPES)
    assert [d.code for d in broken.diagnostics if d.is_error] == ["E302"]
    assert [d.code for d in lossdsl.analyze("grad(y_pred, L1.kernel)", shapes=SHAPES).diagnostics] == ["E303"]


def test_a_pattern_gives_one_gradient_per_member():
    analysis = lossdsl.analyze("sum(square(grad(mse(y_true, y_pred), **.kernel)))", shapes=SHAPES)
    assert str(analysis.expanded.expr) == ("PooledSum(Gradient(MSE(y_true, y_pred), L1.kernel)**2, "
                                           "Gradient(MSE(y_true, y_pred), L2.kernel)**2)")


STABILITY = [
    ("mse(y_true, y_pred) + 10*mean(square(norm(grad(y_pred, inputs), axis=1) - 1))", []),
    ("a*norm(grad(y_pred, inputs))", ["W401"]),  # a norm is >= 0 whatever it is of; a: real drives it down
    ("exp(-s)*norm(grad(y_pred, inputs)) + s", []),
    ("sum(grad(square(a), a))", ["W405"]),  # a parameter only a gradient reads: cannot tell, never a guess
]


@pytest.mark.parametrize("source, codes", STABILITY)
def test_stability_treats_a_gradient_as_an_unknown_real_tensor(source, codes):
    assert [d.code for d in lossdsl.check(source)] == codes


def test_latex_writes_nabla():
    assert lossdsl.parse("sum(grad(y_pred, inputs))").latex() == \
        r"\operatorname{sum}\left(\nabla_{\mathtt{inputs}} \mathtt{y\_pred}\right)"


def test_explain_says_what_each_gradient_costs(capsys):
    main(["explain", "data = mse(y_true, y_pred)\ndata + mean(square(norm(grad(y_pred, inputs), axis=1) - 1))"
                     " + sum(grad(square(a), a)) + sum(grad(data*b, b))"])
    report = capsys.readouterr().out
    section = report.split("gradients\n")[1].split("\n\n")[0].splitlines()
    assert section[0].startswith("  grad(y_pred, inputs): one extra backward pass through the model per step")
    assert section[1] == "  grad(a**2, a): one backward pass through the formula's own ops per step (not the model)"
    assert section[2] == "  grad(b*data, b): one backward pass through the formula's own ops per step (not the model)"


# ------------------------------------------------------------------ the lowered program
def test_the_program_differentiates_its_own_reads_and_the_result_is_differentiable():
    lowered = lower(lossdsl.parse("sum(square(grad(sum(square(W.kernel)) + a*sum(W.kernel), W.kernel)))"
                                  " + grad(a**3, a)"))
    w, a = tf.Variable([1.0, -2.0, 0.5]), tf.Variable(3.0)
    with tf.GradientTape() as tape:
        value = lowered({"W.kernel": w.read_value(), "a": a.read_value()})[""]
    dw, da = tape.gradient(value, [w, a])
    wn = w.numpy()
    # loss = sum((2w + a)^2) + 3a^2: d/dw = 4(2w + a), d/da = 2 sum(2w + a) + 6a
    np.testing.assert_allclose(value, np.sum((2 * wn + 3) ** 2) + 27, rtol=1e-6)
    np.testing.assert_allclose(dw, 4 * (2 * wn + 3), rtol=1e-6)
    np.testing.assert_allclose(da, 2 * np.sum(2 * wn + 3) + 18, rtol=1e-6)


def test_every_gradient_of_one_expression_is_one_backward_pass():
    lowered = lower(lossdsl.analyze("sum(square(grad(sum(square(**.kernel)), **.kernel)))",
                                    shapes={"a.kernel": [2], "b.kernel": [3]}).expanded)
    [group] = lowered.gradient_groups.values()
    assert group.targets == ("a.kernel", "b.kernel")
    a, b = np.array([1.0, 2.0], "float32"), np.array([0.5, -1.0, 3.0], "float32")
    value = lowered({"a.kernel": a, "b.kernel": b})[""]
    np.testing.assert_allclose(value, 4 * (np.sum(a ** 2) + np.sum(b ** 2)), rtol=1e-6)


def test_a_gradient_that_does_not_reach_its_target_is_zero():
    value = lower(lossdsl.parse("sum(square(grad(norm(L1.kernel), L2.kernel) - 1))"))(
        {"L1.kernel": tf.ones((2, 2)), "L2.kernel": tf.ones((3,))})[""]
    assert float(value) == 3.0
