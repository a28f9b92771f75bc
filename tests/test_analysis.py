"""One analysis per formula: the Analysis record's contents, and that compile, attach, lint and explain hand
it on instead of resolving references or inferring shapes again."""

import collections

import keras
import pytest

import lossdsl
from lossdsl.analysis.resolve import ModelIndex
from lossdsl.analysis.shapes import ShapeChecker
from lossdsl.cli import main

import models
from conftest import where

KERNEL = {"L1.kernel": [10, 16]}
TARGETS = {"y_true": [None, 4], "y_pred": [None, 4]}

# (formula, shapes table, expected (code, line, column) of every finding, expected inferred shapes)
WITHOUT_A_MODEL = [
    ("norm(L1.kernel)", None, [], None),  # no shapes given: none inferred
    ("a*norm(L1.kernel", None, [("E101", 1, 7)], None),  # no formula: nothing after the parse
    ("g = L1.kernel.T @ L1.kernel\nnorm(g - I)", KERNEL, [], {"g": (16, 16), "": ()}),
    ("norm(L1.kernel @ L1.kernel)", KERNEL, [("E302", 1, 6)], {"": ()}),
    ("mse(y_true, y_pred) + L1.kernel", {**KERNEL, **TARGETS}, [("E303", 1, 1)], {"": (10, 16)}),
    ("norm(L1.kernal)", KERNEL, [("E215", 1, 6)], {"": ()}),
    ("kernal * norm(L1.kernel)", KERNEL, [("W401", 1, 1), ("W501", 1, 1)], {"": ()}),
]


@pytest.mark.parametrize("src, shapes, findings, inferred", WITHOUT_A_MODEL)
def test_the_record_without_a_model(src, shapes, findings, inferred):
    analysis = lossdsl.analyze(src, shapes=shapes)
    assert [where(src, d) for d in analysis.diagnostics] == findings
    assert analysis.shapes == inferred
    assert analysis.resolved is None and analysis.reference_shapes == shapes
    assert (analysis.formula is None) == any(code.startswith("E1") for code, _, _ in findings)
    assert lossdsl.check(src, shapes=shapes) == list(analysis.diagnostics)


def test_the_record_raises_the_error_family_of_its_first_error():
    with pytest.raises(lossdsl.LossShapeError) as raised:
        lossdsl.analyze("norm(L1.kernel @ L1.kernel)", shapes=KERNEL).raise_for_errors()
    assert [d.code for d in raised.value.diagnostics] == ["E302"]
    lossdsl.analyze("norm(L1.kernel)", shapes=KERNEL).raise_for_errors()  # no error: nothing raised


def test_the_record_with_a_model_holds_the_models_own_variables():
    model = models.functional()
    analysis = lossdsl.analyze("reg = hidden.kernel @ L2.kernel\nmse(y_true, y_pred) + norm(reg)", model=model)
    assert analysis.diagnostics == ()
    assert analysis.resolved["hidden.kernel"].variable is model.get_layer("hidden").kernel
    assert analysis.resolved["L2.kernel"].variable is model.layers[2].kernel
    assert analysis.reference_shapes == {"hidden.kernel": (5, 4), "L2.kernel": (4, 4), "y_true": (None, 1),
                                         "y_pred": (None, 1)}
    assert analysis.shapes == {"reg": (5, 4), "": ()}


def test_an_unresolved_reference_leaves_the_shapes_uninferred():
    src = "norm(L9.kernel) + norm(hidden.kernel)"
    analysis = lossdsl.analyze(src, model=models.functional())
    assert [where(src, d) for d in analysis.diagnostics] == [("E209", 1, 6)]
    assert list(analysis.resolved) == ["hidden.kernel"]
    assert analysis.reference_shapes == {"L9.kernel": None, "hidden.kernel": (5, 4)}
    assert analysis.shapes is None


# ------------------------------------------------------------------------------------- done once
FORMULA = "data = mse(y_true, y_pred)\nreg = norm(hidden.kernel) + norm(out.kernel)\ndata + reg"
ONCE_EACH = {"y_true": 1, "y_pred": 1, "hidden.kernel": 1, "out.kernel": 1, "shape inference": 1}


@pytest.fixture
def calls(monkeypatch):
    """How often each reference is resolved against a model (by its text) and shapes are inferred."""
    counted = collections.Counter()
    resolve, infer = ModelIndex.resolve, ShapeChecker.run

    def counting_resolve(index, reference):
        counted[reference.text] += 1
        return resolve(index, reference)

    def counting_infer(checker):
        counted["shape inference"] += 1
        return infer(checker)

    monkeypatch.setattr(ModelIndex, "resolve", counting_resolve)
    monkeypatch.setattr(ShapeChecker, "run", counting_infer)
    return counted


def test_attach_resolves_and_infers_shapes_once(calls):
    model = models.functional()
    attached = lossdsl.attach(model, FORMULA)
    assert calls == ONCE_EACH
    assert attached.term.analysis.resolved["hidden.kernel"].variable is model.get_layer("hidden").kernel
    assert attached.term.term_shapes == {"data": (), "reg": (), "": ()}
    assert set(attached.logged_names) == {"data", "reg"}  # the logged terms come from the same record


def test_compile_resolves_and_infers_shapes_once(calls):
    lossdsl.compile(FORMULA, models.functional())
    assert calls == ONCE_EACH


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "functional.keras"
    models.functional().save(path)
    return str(path)


@pytest.mark.parametrize("command", ["explain", "lint"])
def test_the_command_line_resolves_and_infers_shapes_once(command, saved_model, calls, capsys):
    assert main([command, "--model", saved_model, FORMULA]) == 0
    assert calls == ONCE_EACH
    if command == "explain":
        assert "  hidden.kernel  hidden / kernel  variable  (5, 4)     hidden          kernel    yes" in \
            capsys.readouterr().out


def test_lint_finds_formulas_passed_to_analyze_in_python_files(tmp_path, capsys):
    script = tmp_path / "train.py"
    script.write_text('import lossdsl\nfrom lossdsl import analyze\n\nlossdsl.analyze("nrom(L1.kernel)")\n'
                      'analyze(src="a*norm(L1.kernel")\n')
    assert main(["lint", str(script)]) == 1
    out = capsys.readouterr().out
    assert f"{script}:4:18: E201 unknown function 'nrom'" in out and f"{script}:5:20: E101" in out
