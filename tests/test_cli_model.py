"""lossdsl lint / explain --model against a saved .keras file (these import TensorFlow)."""

import keras

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


def test_a_corrupt_model_file_is_named_as_such(tmp_path, capsys):
    path = tmp_path / "broken.keras"
    path.write_bytes(b"not a zip archive")
    assert main(["lint", "--model", str(path), "norm(L1.kernel)"]) == 2
    assert capsys.readouterr().err == f"lossdsl: error: {path} is not a Keras model file (a .keras file is a zip archive written by model.save)\n"


def test_tensorflow_start_up_noise_stays_out_of_the_report(saved_model, tmp_path):
    """In a fresh process (TensorFlow not yet loaded): oneDNN, cuInit and absl lines would come first."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = subprocess.run([sys.executable, "-m", "lossdsl", "lint", "--model", saved_model, "norm(hidden.kernel)"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert (run.returncode, run.stdout, run.stderr) == (0, "1 formula: clean\n", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"  # the user asked to see TensorFlow's logging: it is not hidden
    run = subprocess.run([sys.executable, "-m", "lossdsl", "lint", "--model", saved_model, "norm(hidden.kernel)"],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert run.returncode == 0 and run.stderr != ""


def test_a_model_saved_after_attach_resolves_against_the_users_model(tmp_path, capsys):
    import lossdsl
    formula = "mse(y_true, y_pred) + 0.1 * (norm(L2.kernel) + norm(L3.kernel))"
    inner = keras.Sequential([keras.Input((4,)), *(keras.layers.Dense(3, name=f"d{i}") for i in range(4))])
    path = tmp_path / "attached.keras"
    lossdsl.attach(inner, formula).save(path)
    assert main(["lint", "--model", str(path), formula]) == 0
    assert capsys.readouterr().out == "1 formula: clean\n"
    assert main(["lint", "--model", str(path), "norm(L4.kernel)"]) == 1
    assert "E209 L4 is out of range: the model has 4 layers, L0..L3" in capsys.readouterr().out
