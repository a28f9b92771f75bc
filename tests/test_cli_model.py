"""lossdsl lint / explain --model against a saved .keras file (these import TensorFlow)."""

from lossdsl.cli import main

# saved_model (conftest.py): Input(4) -> Dense(8, name="hidden") -> Dense(2, name="out"), saved as m.keras


def test_lint_with_a_model_names_the_range_of_valid_indices(saved_model, capsys):
    code = main(["lint", "--model", saved_model, "a*norm(L1.kernel)+norm(L9.kernel)"])
    out = capsys.readouterr().out
    assert code == 1
    assert "<arg1>:1:24: E209 L9 is out of range: the model has 3 layers, L0..L2" in out


def test_lint_with_a_model_checks_shapes(saved_model, capsys):
    assert main(["lint", "--model", saved_model, "norm(hidden.kernel @ hidden.kernel)"]) == 1
    assert "<arg1>:1:6: E302" in capsys.readouterr().out


def test_lint_with_a_model_is_clean_for_a_good_formula(saved_model, capsys):
    formula = "mse(y_true, y_pred) + a*norm(hidden.kernel)\nwhere a: positive"
    assert main(["lint", "--strict", "--model", saved_model, formula]) == 0


def test_explain_with_a_model_shows_resolved_references_and_ops(saved_model, capsys):
    code = main(["explain", "--model", saved_model, "mse(y_true, y_pred) + norm(L1.kernel)"])
    out = capsys.readouterr().out
    assert code == 0
    rows = [line.split() for line in out.split("references\n", 1)[1].split("\n\n", 1)[0].splitlines()]
    assert ["L1.kernel", "layers[1]", "/", "kernel", "variable", "(4,", "8)", "hidden", "kernel", "yes"] in rows
    assert ["y_pred", "y_pred", "target", "(None,", "2)", "(model", "output)"] in rows
    assert out.rstrip().splitlines()[-1].startswith("  loss = ")


def test_explain_with_a_model_after_a_name_error_shows_the_references_it_found(saved_model, capsys):
    code = main(["explain", "--model", saved_model, "norm(L9.kernel) + norm(hidden.kernel)"])
    out = capsys.readouterr().out
    assert code == 1
    sections = dict(block.split("\n", 1) for block in out.strip().split("\n\n"))
    assert sections["references"].splitlines()[1:] == [
        "  L9.kernel      layers[9] / kernel  variable  unknown",
        "  hidden.kernel  hidden / kernel     variable  (4, 8)   hidden  kernel    yes"]
    assert sections["diagnostics"].startswith("  <arg1>:1:6: E209 L9 is out of range: the model has 3 layers")
    assert sections["shapes"] == sections["lowered to TensorFlow"] == "  not shown: the formula has errors"
