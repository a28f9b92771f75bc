"""Snapshots initial(W), constant tensors (where F: tensor) and tensor-valued parameters (SPEC §5.3, §5.4):
the language, the checks given constants= or a shapes table, stability. No TensorFlow here."""

import subprocess
import sys

import numpy as np
import pytest

import lossdsl
from conftest import where

SHAPES = {"L1.kernel": [10, 16], "L2.kernel": [16, 4], "y_true": [None, 4], "y_pred": [None, 4]}
EWC = "lam/2*sum(F1*square(L1.kernel - theta1)) where F1: tensor, theta1: tensor, lam: const = 100"


# ------------------------------------------------------------------------------------------------ parsing
@pytest.mark.parametrize("source, described", [
    ("sum(square(c)) where c: real[10, 8] = 0", ["c: real[10, 8] = 0"]),
    ("sum(alpha) where alpha: (0, 2)[4] = 1", ["alpha: (0, 2)[4] = 1"]),
    ("sum(c) + a where c: positive[3,], a: nonneg", ["c: positive[3] = 1", "a: nonneg = 1"]),
    ("sum(c) where c: const[2] = 5", ["c: const[2] = 5"]),
    ("sum(c*L1.kernel) where c: (0, 1)[10, 16]", ["c: (0, 1)[10, 16] = 0.5"]),
])
def test_a_kind_with_a_shape_declares_a_tensor_valued_parameter(source, described):
    assert [p.describe() for p in lossdsl.parse(source).params.values()] == described


@pytest.mark.parametrize("source, references", [
    ("sum(square(L1.kernel - initial(L1.kernel)))",
     [("L1.kernel", (1, "kernel"), "model"), ("initial(L1.kernel)", (1, "kernel"), "snapshot")]),
    ("norm(initial(sub.`dense-1`.kernel))", [("initial(sub.`dense-1`.kernel)", ("sub", "dense-1", "kernel"), "snapshot")]),
    (EWC, [("F1", ("F1",), "constant"), ("L1.kernel", (1, "kernel"), "model"), ("theta1", ("theta1",), "constant")]),
])
def test_snapshots_and_given_tensors_are_references_with_a_role(source, references):
    formula = lossdsl.parse(source)
    assert [(r.text, r.path, r.role) for r in formula.references.values()] == references
    assert not formula.params.keys() & {"F1", "theta1"}


def test_the_declared_tensors_are_kept_with_their_declarations():
    formula = lossdsl.parse(EWC)
    assert {name: EWC[span.start:span.end] for name, span in formula.tensors.items()} == {"F1": "F1", "theta1": "theta1"}


@pytest.mark.parametrize("source, latex", [
    ("sum(square(L1.kernel - initial(L1.kernel)))",
     r"\operatorname{sum}\left(\left(\mathtt{L1.kernel} - \mathtt{L1.kernel}^{(0)}\right)^{2}\right)"),
    ("sum(F * c) where F: tensor, c: real[3]", r"\operatorname{sum}\left(\mathtt{F} c\right)"),
])
def test_latex(source, latex):
    assert lossdsl.parse(source).latex() == latex


# ------------------------------------------------------------------------------------------- misuse
@pytest.mark.parametrize("source, code, line, column, says", [
    ("sum(c) where c: real[10, -8]", "E220", 1, 26, "positive whole number, not -8"),
    ("sum(c) where c: real[2.5]", "E220", 1, 22, "not 2.5"),
    ("sum(c) where c: real[0]", "E220", 1, 22, "not 0"),
    ("sum(c) where c: real[100000, 100000]", "E220", 1, 22, "holds at most 1e+08"),
    ("sum(c) where c: real[100000000, 2]", "E220", 1, 22, "2e+08 entries (0.745 GiB as float32)"),
    ("sum(c) where c: positive[inf]", "E220", 1, 26, "not inf"),
    ("sum(F) where F: tensor[3]", "E220", 1, 17, "comes from the array given for it"),
    ("sum(F) where F: tensor = 1", "E220", 1, 26, "gets its value from Python"),
    ("sum(F) where F: tensr", "E206", 1, 17, "unknown parameter kind"),
    ("sum(F) where F: tensor, F: real", "E204", 1, 25, "declared twice"),
    ("sum(square(a - initial(a)))", "E222", 1, 24, "'a' is a parameter (a bare name always is)"),
    ("sum(square(a - initial(a))) where a: real[3]", "E222", 1, 24, "'a' is a parameter"),
    ("initial(y_true)", "E222", 1, 9, "'y_true' is the batch targets"),
    ("mean(initial(y_pred.out0))", "E222", 1, 14, "'y_pred' is the batch predictions"),
    ("sum(initial(F)) where F: tensor", "E222", 1, 13, "a constant tensor"),
    ("t = norm(L1.kernel)\ninitial(t)", "E222", 2, 9, "a named term"),
    ("sum(initial(2 * L1.kernel))", "E222", 1, 13, "not a computed value"),
    ("sum(initial(L1.kernel.T))", "E222", 1, 13, "not a computed value"),
    ("norm(initial(L1))", "E212", 1, 14, "is a layer, not a value"),
    ("norm(initial(L1.kernel, L2.kernel))", "E202", 1, 25, "one argument"),
    ("norm(initial())", "E202", 1, 6, "one argument"),
    ("norm(initial(x=L1.kernel))", "E202", 1, 14, "one argument"),
    ("initial + 1", "E214", 1, 1, "'initial' is a function"),
    ("initial = norm(L1.kernel)\n2*norm(L2.kernel)", "E208", 1, 1, "reserved"),
    ("a**2 where initial: positive", "E208", 1, 12, "reserved"),
    ("F = norm(L1.kernel)\nF + sum(L2.kernel*0) where F: tensor", "E208", 1, 1, "a constant tensor"),
])
def test_every_misuse_is_a_diagnostic_at_its_place(source, code, line, column, says):
    found = [d for d in lossdsl.check(source) if d.is_error]
    assert [where(source, d) for d in found] == [(code, line, column)]
    assert says in found[0].message and found[0].hint


def test_a_declared_tensor_that_is_not_used_is_reported_like_a_parameter():
    source = "norm(L1.kernel) where F: tensor"
    assert [where(source, d) for d in lossdsl.check(source)] == [("W404", 1, 23)]


# ------------------------------------------------------------------------- given constants, shapes
def test_given_constants_give_their_shapes_and_the_formula_checks_clean():
    constants = {"F1": np.ones((10, 16)), "theta1": np.zeros((10, 16), "float32")}
    analysis = lossdsl.analyze(EWC, shapes=SHAPES, constants=constants)
    assert analysis.diagnostics == () and analysis.shapes == {"": ()}
    assert analysis.reference_shapes["F1"] == (10, 16)


@pytest.mark.parametrize("constants, expected, says", [
    ({"F1": np.ones((10, 16))}, [("E221", 1, 60)], "tensor 'theta1' is declared but not given"),
    ({}, [("E221", 1, 48), ("E221", 1, 60)], "tensor 'F1' is declared but not given"),
    ({"F1": np.ones((10, 16)), "theta1": np.ones((10, 16)), "theta2": 1.0}, [("E221", 1, 1)],
     "constants= gives 'theta2', which the formula does not declare"),
    ({"F1": np.ones((10, 16)), "theta1": np.ones((10,))}, [("E301", 1, 21)],
     "'theta1' has shape (10,), from the array given in constants="),
])
def test_check_with_constants_names_a_tensor_not_given_or_of_the_wrong_shape(constants, expected, says):
    found = lossdsl.check(EWC, shapes=SHAPES, constants=constants)
    assert [where(EWC, d) for d in found] == expected
    assert says in found[0].message + (found[0].hint or "")


def test_the_hint_for_a_name_not_declared_suggests_the_close_one():
    found = lossdsl.check("sum(F1) where F1: tensor", constants={"F1": [1.0], "F_1": [2.0]})
    assert found[0].hint == "did you mean 'F1'?"


@pytest.mark.parametrize("init, expected", [
    (np.full((3, 2), 0.5), []),
    (np.full((2, 3), 0.5), ["constants= gives 'c' an array of shape (2, 3), but it is declared with shape (3, 2)"]),
    (np.full((3, 2), -0.5), ["constants= gives 'c' initial values that are not all > 0"]),
    (np.full((3, 2), np.nan), ["constants= gives 'c' initial values that are not all > 0"]),
])
def test_an_array_initial_value_must_have_the_declared_shape_and_lie_in_the_domain(init, expected):
    source = "sum(c*L1.kernel[0:3, 0:2]) where c: positive[3, 2]"
    found = lossdsl.check(source, constants={"c": init})
    assert [d.message for d in found if d.is_error] == expected
    assert all(where(source, d)[1:] == (1, 34) for d in found if d.is_error)


def test_without_constants_check_says_nothing_of_them_and_a_shapes_table_may_give_their_shapes():
    assert lossdsl.check(EWC) == []
    assert lossdsl.check(EWC, shapes={**SHAPES, "F1": [10, 16], "theta1": [10, 16]}) == []
    assert [d.code for d in lossdsl.check(EWC, shapes=SHAPES)] == ["E215", "E215"]


@pytest.mark.parametrize("constants", [{"F1": "abc"}, {"F1": [[1, 2], [3]]}, ["F1"]])
def test_constants_that_are_not_arrays_of_numbers_are_a_type_error(constants):
    with pytest.raises(TypeError, match="constants"):
        lossdsl.check("sum(F1) where F1: tensor", constants=constants)


@pytest.mark.parametrize("source, shapes, expected", [
    ("sum(c @ L1.kernel) where c: real[4, 10]", SHAPES, {"": ()}),
    ("c @ L1.kernel where c: real[4, 10]", SHAPES, "E303"),
    ("sum(c @ L1.kernel) where c: real[10, 16]", SHAPES, "E302"),
    ("sum(square(L1.kernel - initial(L1.kernel)))", SHAPES, {"": ()}),
    ("g = L2.kernel - initial(L2.kernel)\nsum(g)", SHAPES, {"g": (16, 4), "": ()}),
    ("sum(L1.kernel @ initial(L2.kernel))", {**SHAPES, "initial(L2.kernel)": [16, 4]}, {"": ()}),
    ("sum(L1.kernel @ initial(L1.kernel))", SHAPES, "E302"),
    ("sum(initial(L3.kernel))", SHAPES, "E215"),
])
def test_shapes_of_tensor_parameters_and_snapshots(source, shapes, expected):
    analysis = lossdsl.analyze(source, shapes=shapes)
    codes = [d.code for d in analysis.diagnostics if d.is_error]
    assert (codes[0] if codes else analysis.shapes) == expected


# ------------------------------------------------------------------------------------------ stability
@pytest.mark.parametrize("source, codes", [
    ("sum(c) where c: real[4]", ["W401"]),
    ("sum(square(c - L1.kernel)) where c: real[10, 16]", []),
    ("sum(c) where c: positive[4]", []),
    ("-sum(log(c)) where c: positive[3]", ["W401"]),
    ("sum(c * L1.kernel) where c: (0, 1)[10, 16]", ["W401"]),  # the kernel moves: -inf along -c
    ("sum(square(L1.kernel - initial(L1.kernel)))", []),
    (EWC, []),
    ("-sum(F * L1.kernel) where F: tensor", ["W401"]),  # F is fixed, the kernel grows along F: -inf
])
def test_stability_covers_tensor_parameters_entry_wise_and_treats_given_tensors_as_constants(source, codes):
    assert [d.code for d in lossdsl.check(source)] == codes


def test_lint_with_constants_and_snapshots_does_not_import_tensorflow():
    code = ("import sys, lossdsl, numpy as np\n"
            f"found = lossdsl.check({EWC!r}, shapes={SHAPES!r}, constants={{'F1': np.ones((10, 16)), "
            "'theta1': np.ones((10, 16))})\n"
            "found += lossdsl.check('sum(square(L1.kernel - initial(L1.kernel)))', shapes={'L1.kernel': [2, 2]})\n"
            "assert found == [], found\nassert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
