"""lossdsl lint / explain --model against a saved .keras file (these import TensorFlow)."""

import keras
import pytest

from lossdsl.cli import main


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, name="hidden")(inputs)
    path = tmp_path_factory.mktemp("model") / "m.keras"
    keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden)).save(path)
    return str(path)


def test_lint_with_a_model_names_the_range_of_valid_indices(saved_model, capsys):
    code = main(["lint", "--model", saved_model, "a*norm(L1.kernel)+norm(L9.kernel)"])
    out = capsys.readouterr().out
    assert code == 1
    assert "<arg1>:1:24: E209 L9 is out of range: the model has 3 layers, L0..L2" in out


def test_lint_with_a_model_checks_shapes(saved_model, capsys):
    assert main(["lint", "--model", saved_model, "norm(hidden.kernel @ hidden.kernel)"]) == 1
    assert "<arg1>:1:6: E302" in capsys.readouterr().out


def test_lint_with_a_model_is_clean_for_a_good_formula(saved_model, capsys):
    formula = "mse(y_true, y_pred) + a*norm(hidden.kernel) + 1/a\nwhere a: positive"  # 1/a: a has an optimum
    assert main(["lint", "--strict", "--model", saved_model, formula]) == 0


def test_explain_with_a_model_shows_resolved_references_and_ops(saved_model, capsys):
    code = main(["explain", "--model", saved_model, "mse(y_true, y_pred) + norm(L1.kernel)"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.split("references\n", 1)[1].split("\n\n", 1)[0].splitlines()]
    assert ["L1.kernel", "layers[1]", "/", "kernel", "variable", "(4,", "8)", "hidden", "kernel", "yes"] in rows
    assert ["y_pred", "y_pred", "target", "(None,", "2)", "(model", "output)"] in rows
    assert out.rstrip().splitlines()[-1].startswith("  loss = ")
