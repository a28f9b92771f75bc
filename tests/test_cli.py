"""The command line: lint and explain, output formats, exit codes; a few real subprocesses."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lossdsl.cli import main

GOOD = "a*norm(L0.kernel)+norm(L1.kernel)+1/a\nwhere a: positive"  # clean: a > 0 bounds the loss, 1/a keeps a off 0
UNBOUNDED = "a*norm(L0.kernel)+norm(L1.kernel)"  # W401 (a is real): a warning, so still exit 0
UNCLOSED = "a*norm(L0.kernel"
UNUSED = "a**2\nwhere a, b"  # W404: b is declared but never used
MATMUL = "norm(L1.kernel @ L2.kernel)"
SHAPES = {"L1.kernel": [10, 16], "L2.kernel": [10, 4], "y_true": [None, 4], "y_pred": [None, 4]}
RECORD_KEYS = {"file", "code", "severity", "message", "line", "column", "end_line", "end_column", "hint"}


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``lossdsl argv`` run in this process."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def shapes_file(tmp_path):
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(SHAPES))
    return str(path)


# ----------------------------------------------------------------------------------- lint: text
@pytest.mark.parametrize("argv, exit_code, shown", [
    (["lint", GOOD], 0, []),
    (["lint", UNBOUNDED], 0, ["<arg1>:1:1: W401 the loss is unbounded below in 'a'", "where a: positive"]),
    (["lint", "--strict", UNBOUNDED], 1, ["<arg1>:1:1: W401"]),
    (["lint", UNCLOSED], 1, ["<arg1>:1:7: E101 '(' is never closed\n  a*norm(L0.kernel\n        ^\n",
                            "1 error, 0 warnings in 1 formula"]),
    (["lint", GOOD, UNCLOSED, "x ^ 2"], 1, ["<arg2>:1:7: E101", "<arg3>:1:3: E104", "2 errors, 0 warnings in 3 formulas"]),
    (["lint", UNUSED], 0, ["<arg1>:2:10: W404"]),
    (["lint", "--strict", UNUSED], 1, ["<arg1>:2:10: W404", "0 errors, 1 warning in 1 formula"]),
    (["lint", UNUSED, "--strict"], 1, ["<arg1>:2:10: W404"]),  # options may follow formulas
    (["lint", "--", "-a*norm(L0.kernel"], 1, ["<arg1>:1:8: E101"]),  # after --, a leading '-' is a formula
    (["lint", "__import__('os').system('touch x')"], 1, ["<arg1>:1:12: E108 strings are not part"]),
    (["lint", "nrm(L0.kernel)"], 1, ["E201 unknown function 'nrm'", "hint: did you mean 'norm'?"]),
])
def test_lint_text(capsys, argv, exit_code, shown):
    code, out, err = run_cli(capsys, *argv)
    assert (code, err) == (exit_code, "")
    for text in shown:
        assert text in out
    if exit_code == 0 and not shown:
        assert out == f"{len(argv) - 1} formula{'s' * (len(argv) > 2)}: clean\n"


def test_lint_never_runs_the_formula(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, "lint", "__import__('os').system('touch x')")
    assert code == 1 and "E108" in out
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ lint: other inputs
def test_lint_file_and_stdin(capsys, tmp_path, monkeypatch):
    path = tmp_path / "loss.txt"
    path.write_text("data = mse(y_true, y_pred)\ndata + a*norm(L0.kernel\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO(UNCLOSED))
    code, out, _ = run_cli(capsys, "lint", "-f", str(path), "-")
    assert code == 1
    assert "<stdin>:1:7: E101" in out and f"{path}:2:14: E101" in out


@pytest.mark.parametrize("argv, message", [
    (["lint"], "no formula given"),
    (["lint", "-f", "/no/such/loss.txt"], "cannot read /no/such/loss.txt"),
    (["lint", "/no/such/train.py"], "cannot read /no/such/train.py"),
    (["lint", GOOD, "--model", "/no/such/model.keras"], "cannot read /no/such/model.keras"),
    (["explain"], "explain takes one formula"),
    (["explain", GOOD, GOOD], "explain takes one formula"),
])
def test_input_errors_exit_2(capsys, argv, message):
    code, out, err = run_cli(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("lossdsl: error: ") and message in err


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    ('{"L1.kernel": "10x16"}', "shapes['L1.kernel'] = '10x16' is not a shape"),
    ('[[10, 16]]', "shapes must map reference text to a shape"),
    ('{"L1.kernel": [10, -1]}', "shapes['L1.kernel'] = [10, -1] is not a shape"),
])
def test_bad_shapes_file_exits_2(capsys, tmp_path, content, message):
    path = tmp_path / "shapes.json"
    path.write_text(content)
    code, _, err = run_cli(capsys, "lint", GOOD, "--shapes", str(path))
    assert code == 2 and message in err


@pytest.mark.parametrize("argv", [["lint", "--format", "xml", GOOD], ["nolint", GOOD], [], ["lint", "--bogus", GOOD]])
def test_usage_errors_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    assert "usage: lossdsl" in capsys.readouterr().err


def test_shapes_table_finds_a_matmul_mismatch(capsys, shapes_file):
    code, out, _ = run_cli(capsys, "lint", MATMUL, "--shapes", shapes_file)
    assert code == 1
    assert "<arg1>:1:6: E302 (10, 16) @ (10, 4): inner dimensions 16 and 10 differ" in out


# --------------------------------------------------------------------------------- lint: formats
def test_json_is_one_list_over_all_sources(capsys, tmp_path):
    path = tmp_path / "loss.txt"
    path.write_text(UNUSED)
    code, out, _ = run_cli(capsys, "lint", "--format", "json", UNCLOSED, GOOD, "-f", str(path))
    records = json.loads(out)
    assert code == 1
    assert [(r["file"], r["code"], r["line"], r["column"], r["end_line"], r["end_column"]) for r in records] == [
        ("<arg1>", "E101", 1, 7, 1, 8), (str(path), "W404", 2, 10, 2, 11)]
    assert all(set(r) == RECORD_KEYS for r in records) and records[0]["message"] == "'(' is never closed"


def test_json_when_clean_is_an_empty_list(capsys):
    assert run_cli(capsys, "lint", "--format", "json", GOOD)[:2] == (0, "[]\n")


@pytest.mark.parametrize("line_break", ["\n", "\r", "\v", "\f", "\x1c", "\x85", "\u2028", "\u2029"])
def test_a_github_annotation_stays_one_line_whatever_line_break_a_name_holds(line_break):
    """GitHub reads workflow commands line by line; a backtick name may hold any character."""
    from lossdsl import Diagnostic, Source, Span
    from lossdsl.language.diagnostics import render_github
    text = f"norm(`x{line_break}y`.kernel)"
    found = Diagnostic("E215", f"no shape is known for '`x{line_break}y`.kernel'", Span(5, 17), "see the table")
    assert len(render_github([found], Source(text)).splitlines()) == 1


def test_github_annotations(capsys):
    code, out, _ = run_cli(capsys, "lint", "--format", "github", UNCLOSED, UNUSED)
    assert code == 1
    assert out.splitlines() == [
        "::error file=<arg1>,line=1,col=7,endLine=1,endColumn=8,title=E101::'(' is never closed "
        "(hint: add the missing ')')",
        "::warning file=<arg2>,line=2,col=10,endLine=2,endColumn=11,title=W404::parameter 'b' is declared but not "
        "used (hint: remove the declaration, or use the parameter in the formula)",
    ]


# --------------------------------------------------------------------------------------- explain
EXPLAINED = "data = mse(y_true, y_pred)\nreg = L1.kernel @ L2.kernel.T\ndata + a*norm(reg)\nwhere a: positive = 0.5"


def test_explain_without_shapes(capsys):
    code, out, _ = run_cli(capsys, "explain", EXPLAINED)
    assert code == 0
    sections = dict(block.split("\n", 1) for block in out.strip().split("\n\n"))
    assert list(sections) == ["parsed", "latex", "references", "parameters", "shapes", "diagnostics",
                              "lowered to TensorFlow"]
    assert sections["lowered to TensorFlow"].splitlines()[-3:] == ["  t4 = euclidean_norm(reg)", "  t5 = a * t4",
                                                                   "  loss = data + t5"]
    assert sections["parsed"].splitlines() == [
        "  data = MSE(y_true, y_pred)", "  reg = MatrixProduct(L1.kernel, Transposed(L2.kernel))",
        "  loss = a*Norm(reg, 2, ()) + data"]
    assert r"\mathrm{data} = " in sections["latex"]
    assert sections["references"].splitlines()[:2] == ["  name       path                kind",
                                                       "  y_true     y_true              target"]
    assert "  L2.kernel  layers[2] / kernel  variable" in sections["references"]
    assert sections["parameters"] == "  a: positive = 0.5"
    # a learned weight on a penalty has no optimum (SPEC §5.9): explain shows the collapse
    assert "unknown" in sections["shapes"] and "W406 the loss keeps decreasing as a -> 0+" in sections["diagnostics"]


def test_explain_with_shapes(capsys, tmp_path):
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps({**SHAPES, "L2.kernel": [12, 16]}))
    code, out, _ = run_cli(capsys, "explain", EXPLAINED, "--shapes", str(path))
    assert code == 0
    assert "  L1.kernel  layers[1] / kernel  variable  (10, 16)" in out
    assert "  y_pred     y_pred              target    (None, 4)" in out
    assert "shapes\n  data: scalar ()\n  reg: (10, 12)\n  loss: scalar ()\n" in out


def test_explain_after_an_error_shows_what_was_parsed_and_nothing_derived(capsys, shapes_file):
    code, out, _ = run_cli(capsys, "explain", MATMUL, "--shapes", shapes_file)
    assert code == 1
    sections = dict(block.split("\n", 1) for block in out.strip().split("\n\n"))
    assert sections["parsed"] == "  loss = Norm(MatrixProduct(L1.kernel, L2.kernel), 2, ())"
    assert sections["references"].splitlines()[1:] == ["  L1.kernel  layers[1] / kernel  variable  (10, 16)",
                                                       "  L2.kernel  layers[2] / kernel  variable  (10, 4)"]
    assert sections["diagnostics"].startswith("  <arg1>:1:6: E302 (10, 16) @ (10, 4): inner dimensions 16 and 10")
    # no "loss: scalar ()" inferred from a product that has no shape, and no program for it
    assert sections["shapes"] == sections["lowered to TensorFlow"] == "  not shown: the formula has errors"


def test_explain_invalid_formula_prints_only_diagnostics(capsys):
    code, out, _ = run_cli(capsys, "explain", UNCLOSED)
    assert code == 1
    assert out.startswith("<arg1>:1:7: E101") and "parsed" not in out


def test_explain_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("b * norm(L3.bias)"))
    code, out, _ = run_cli(capsys, "explain", "-")
    assert code == 0 and "  L3.bias  layers[3] / bias  variable" in out and "  b: real = 0  (implicit)" in out


# ---------------------------------------------------------------------------- real subprocesses
HEAVY = {"tensorflow", "keras", "tf_keras"}


def imported_modules(importtime_log: str) -> set[str]:
    """Top-level package names from ``python -X importtime`` output."""
    return {line.rsplit("|", 1)[1].strip().split(".")[0] for line in importtime_log.splitlines()
            if line.startswith("import time:") and "|" in line}


def test_lint_imports_no_tensorflow():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "lossdsl", "lint", "norm(L0.kernel)"],
                          capture_output=True, text=True, timeout=120)
    modules = imported_modules(done.stderr)
    assert done.returncode == 0
    assert "lossdsl" in modules and "sympy" in modules  # the log really is the import log
    assert not modules & HEAVY


#: explain without a model, at its heaviest: several functions, a pattern, a random draw, reductions over the batch
EXPLAINED_WIDE = ("data = mse(y_true, y_pred) + 0.1*mean(normal_like(y_pred))\n"
                  "reg = 1e-4*sum(square(**.kernel)) + spectral_norm(L1.kernel)\n"
                  "data + reg + cosine(y_true, y_pred) + log1p(norm(L2.kernel, 1)) + max(y_pred) / batch_size")
EXPLAINED_WIDE_OPS = [
    "t1 = tf.reduce_mean(keras.losses.MeanSquaredError(reduction=None)(y_true, y_pred))",
    "t2 = keras.random.normal(tf.shape(y_pred), seed=seed_generator)", "t3 = tf.reduce_mean(t2)", "t4 = 0.1 * t3",
    "data = t1 + t4", "t6 = tf.square(L1.kernel)", "t7 = tf.square(L2.kernel)", "t8 = pooled_sum(t6, t7)",
    "t9 = 0.0001 * t8", "t10 = tf.linalg.svd(L1.kernel, compute_uv=False)[..., 0]", "reg = t9 + t10",
    "t12 = cosine_similarity(y_true, y_pred)", "t13 = tf.reduce_sum(tf.abs(L2.kernel))", "t14 = tf.math.log1p(t13)",
    "t15 = tf.reduce_max(y_pred)", "t16 = global_batch_size(y_true)", "t17 = t15 / t16",
    "loss = data + reg + t12 + t14 + t17"]


@pytest.mark.parametrize("formula, shapes, lowered", [
    (EXPLAINED_WIDE, True, EXPLAINED_WIDE_OPS),
    # without the shapes the pattern has no members: the program is not made, and explain says why
    (EXPLAINED_WIDE, False, ["cannot lower: E230 '**.kernel' has no members yet, so it cannot be lowered"]),
])
def test_explain_shows_the_lowered_program_without_importing_tensorflow(formula, shapes, lowered, shapes_file):
    argv = ["explain", *(["--shapes", shapes_file] if shapes else []), formula]
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "lossdsl", *argv],
                          capture_output=True, text=True, timeout=120)
    modules = imported_modules(done.stderr)
    assert done.returncode == 0, done.stdout
    assert "lossdsl" in modules and "sympy" in modules  # the log really is the import log
    assert not modules & HEAVY
    sections = dict(block.split("\n", 1) for block in done.stdout.strip().split("\n\n"))
    assert sections["lowered to TensorFlow"].splitlines() == ["  " + line for line in lowered]


def test_module_reads_stdin():
    done = subprocess.run([sys.executable, "-m", "lossdsl", "lint", "-"], input=UNCLOSED,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "<stdin>:1:7: E101" in done.stdout


CONSOLE_SCRIPT = Path(sys.executable).parent / "lossdsl"


@pytest.mark.skipif(not CONSOLE_SCRIPT.exists(), reason="the lossdsl console script is not installed")
@pytest.mark.parametrize("formula, exit_code", [(GOOD, 0), (UNCLOSED, 1)])
def test_console_script(formula, exit_code, tmp_path):
    done = subprocess.run([str(CONSOLE_SCRIPT), "lint", formula], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "error"})
    assert done.returncode == exit_code
    assert ("<arg1>:1:7: E101" in done.stdout) == (exit_code == 1)


def test_a_file_name_given_as_a_formula_is_a_usage_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loss.txt").write_text("nrom(L1.kernel)\n")
    for argv in (["lint", "loss.txt"], ["lint", "--strict", "loss.txt"]):
        code, out, err = run_cli(capsys, *argv)
        assert (code, out, err) == (2, "", "lossdsl: error: loss.txt is a file, not a formula: did you mean -f loss.txt?\n")
