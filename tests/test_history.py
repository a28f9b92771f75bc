"""Training progress and a term's history in the language (SPEC §5.5, §5.6): names, misuse, shapes, stability
facts, LaTeX, explain, and the first edition's names. Training with them: test_history_training.py."""

import subprocess
import sys

import pytest
import sympy

import lossdsl
from lossdsl.language.formula import STATE
from lossdsl.language.history import describe_state

SHAPES = {"L1.kernel": [10, 16], "L2.kernel": [16, 4], "y_true": [None, 4], "y_pred": [None, 4]}
DATA = "data = mse(y_true, y_pred)\n"

#: formula -> the state references it reads, as written
READS = [
    (DATA + "mse(y_true, y_pred) + minimum(1, step/1000)*norm(L1.kernel)", ["step"]),
    (DATA + "data * (1 + epoch)", ["epoch"]),
    (DATA + "data / start(data)", ["start(data)"]),
    (DATA + "data * epoch_start(data)", ["epoch_start(data)"]),
    (DATA + "data * previous(data) + data * previous(data, 1)", ["previous(data)"]),  # k = 1 is previous(data)
    (DATA + "data * previous(data, 3)", ["previous(data, 3)"]),
    (DATA + "data * ema(data, 0.99)", ["ema(data, 0.99)"]),
    ("a = norm(L1.kernel); b = a / start(a); b * ema(b, 0.5)", ["start(a)", "ema(b, 0.5)"]),  # history of history
]


@pytest.mark.parametrize("formula, reads", READS)
def test_state_references_are_read_as_written(formula, reads):
    parsed = lossdsl.parse(formula)
    assert [text for text, ref in parsed.references.items() if ref.role == STATE] == reads
    assert lossdsl.check(formula, shapes=SHAPES) == [d for d in lossdsl.check(formula, shapes=SHAPES) if not d.is_error]


#: formula -> (code, line, column) of each error
MISUSE = [
    ("start(a)", [("E240", 1, 7)]),
    ("mse(y_true, y_pred) / start(norm(L1.kernel))", [("E240", 1, 29)]),
    ("start(y_true)", [("E240", 1, 7)]),
    (DATA + "data + previous(data, 0)", [("E242", 2, 23)]),
    (DATA + "data + previous(data, 1.5)", [("E242", 2, 23)]),
    (DATA + "data + previous(data, k)", [("E242", 2, 23)]),
    (DATA + "data + ema(data, 1)", [("E243", 2, 18)]),
    (DATA + "data + ema(data, 0)", [("E243", 2, 18)]),
    (DATA + "data + ema(data, -0.5)", [("E243", 2, 18)]),
    (DATA + "data + ema(data, d) where d: const = 0.9", [("E243", 2, 18)]),
    (DATA + "data + ema(data)", [("E202", 2, 8)]),
    (DATA + "data + start(data, 2)", [("E202", 2, 20)]),
    (DATA + "data + previous(data, k=2)", [("E202", 2, 23)]),
    ("start + 1", [("E214", 1, 1)]),
    ("step = norm(L1.kernel); step", [("E208", 1, 1)]),
    ("a * epoch where epoch: positive", [("E208", 1, 17)]),
    ("g = L1.kernel @ L2.kernel; sum(square(g)) + start(g)", [("E241", 1, 45)]),
    ("g = L1.kernel @ L2.kernel; sum(square(g)) * previous(g, 2)", [("E241", 1, 45)]),
]


@pytest.mark.parametrize("formula, expected", MISUSE)
def test_misuse_is_a_diagnostic_with_a_hint(formula, expected, diagnose):
    found, errors = diagnose(formula, shapes=SHAPES)
    assert found == expected
    assert all(error.hint for error in errors)


def test_the_history_of_a_nonnegative_term_is_nonnegative_and_never_trained():
    # a*start(data) with a: real would be unbounded if start(data) could be negative or moved by training
    clean = lossdsl.check(DATA + "data + square(a - start(data)) + step*epoch*ema(data, 0.9)", shapes=SHAPES)
    assert [d.code for d in clean] == []
    # a history value is a constant: a trainable parameter against it is unbounded as before
    assert [d.code for d in lossdsl.check(DATA + "data + a*start(data)", shapes=SHAPES)] == ["W401"]
    symbols = {s.name: s for s in lossdsl.parse(DATA + "data/start(data) + step + epoch").expr.free_symbols}
    assert symbols["start(data)"].is_nonnegative and symbols["step"].is_nonnegative and symbols["epoch"].is_nonnegative
    signed = {s.name: s for s in lossdsl.parse("s = sum(L1.kernel); s*start(s)").expr.free_symbols}
    assert signed["start(s)"].is_nonnegative is None  # a signed term's history keeps no sign


LATEX = [
    (DATA + "data / start(data)", r"\frac{\mathrm{data}}{\mathrm{data}^{(0)}}"),
    (DATA + "minimum(1, step/1000) * data", r"\min\left(1, \frac{t}{1000}\right) \mathrm{data}"),
    (DATA + "data * previous(data, 2)", r"\mathrm{data} \mathrm{data}^{(e-2)}"),
    (DATA + "data * epoch_start(data)", r"\mathrm{data} \mathrm{data}^{(e_0)}"),
    (DATA + "data * ema(data, 0.9)", r"\mathrm{data} \bar{\mathrm{data}}_{0.9}"),
]


@pytest.mark.parametrize("formula, latex", LATEX)
def test_latex_writes_state_as_papers_do(formula, latex):
    assert lossdsl.parse(formula).latex().split(r" \\ ")[-1] == latex


def test_explain_lists_the_state_kept():
    formula = DATA + "data / start(data) + minimum(1, step/10) * ema(data, 0.9) + previous(data, 2)"
    assert describe_state(lossdsl.parse(formula)) == [
        "step: the training steps before this one (the optimizer's iterations in fit())",
        "start(data): its value at the first training step",
        "ema(data, 0.9): 0.9*ema + 0.1*data at every training step, from its first value",
        "previous(data, 2): its mean over the epoch 2 back, as fit() logs it"]
    run = subprocess.run([sys.executable, "-m", "lossdsl", "explain", formula], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    shown = run.stdout.split("\n\n")
    assert "state kept between steps (non-trainable weights, saved with the model)\n  step: the training steps" \
        in run.stdout
    assert any("  ema(data, 0.9)     history of data    training state" in part for part in shown), run.stdout
    # the lowered program falls back on the term's own value while a history value is not there yet (NaN)
    assert "tf.where(tf.math.is_nan(start(data)), tf.stop_gradient(data), start(data))" in run.stdout


#: a first-edition formula (saved before editions were recorded) -> its parameters: the names reserved since
#: are parameters there, as they were
FIRST_EDITION = [
    ("mse(y_true, y_pred) + step*square(var) where step: positive = 1", ["step", "var"]),
    ("inputs**2 + batch_size**2 + epoch**2 + softmax**2 + grad**2", ["inputs", "batch_size", "epoch", "softmax", "grad"]),
    ("start = norm(L1.kernel); ema = start**2; ema + previous*initial", ["previous", "initial"]),
    ("std = sum(L1.kernel); softmax(L1.kernel)[0, 0] + std**2", []),  # a first-edition formula may call them
]


@pytest.mark.parametrize("formula, params", FIRST_EDITION)
def test_a_first_edition_formula_keeps_its_meaning(formula, params):
    assert list(lossdsl.parse(formula, edition=1).params) == params
    assert not lossdsl.parse(formula, edition=1).references.keys() & {"step", "epoch", "inputs"}


def test_the_second_edition_reserves_those_names():
    found = lossdsl.check("mse(y_true, y_pred) + step*square(var) where step: positive = 1")
    assert [(d.code, d.span.start) for d in found] == [("E214", 34), ("E208", 45)]
    assert isinstance(lossdsl.parse("step + epoch").expr, sympy.Add)
