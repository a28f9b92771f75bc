"""Stability over everything training moves (SPEC §5.9): a table of formula -> verdict, each justified.

A verdict is ``clean`` (no W401, W405, W406 or I401), or a code with the words its message must hold:
the path for W401 and I401, the end for W406. Blocks built from trainable weights range over [0, +inf]
(a norm can be driven to 0 or grow), non-trainable variables and targets stay fixed, a data loss reaches
0 only by a perfect fit (a note, I401).
"""

import pytest

import lossdsl
from lossdsl.analysis.stability import check_stability

STABILITY = ("W401", "W405", "W406", "I401")


def verdict(src: str) -> list[tuple[str, str]]:
    return [(d.code, d.message) for d in check_stability(lossdsl.parse(src)) if d.code in STABILITY]


# Unbounded jointly, though each parameter alone (blocks fixed) is bounded: W401 names the path.
JOINT = [
    # bounded in a alone and in b alone; along a = b the square vanishes and -a - b falls
    ("(a - b)**2 - a - b", "as a = b -> +inf"),
    # the same valley the other way round: a = -b -> -inf
    ("(a + b)**2 + a - b", "as a = -b -> -inf"),
    # the user's report: the penalty drives the kernel to 0 and s follows log(norm) to -inf
    ("exp(-s)*norm(L0.kernel) + s", "as s -> -inf and norm(L0.kernel) -> 0"),
    ("exp(-a)*norm(sub_model.dense1.kernel) + a", "as a -> -inf and norm(sub_model.dense1.kernel) -> 0"),
    # a sum of squares of trainable weights reaches 0 too
    ("exp(-s)*sum(square(L0.kernel)) + s", "as s -> -inf and sum(square(L0.kernel)) -> 0"),
    # norm(a*W)**2 = a**2*norm(W)**2: W shrinking faster than a grows keeps it small, and -a falls
    ("norm(a*L0.kernel)**2 - a", "as a -> +inf and norm(L0.kernel) -> 0"),
    # degree 4 beats degree 3 in a, but for a fixed a > 0 a growing kernel wins
    ("a**4 - a**3*norm(W.kernel)", "as norm(W.kernel) -> +inf (for some value of a)"),
    # for a fixed a < 0 the second term falls as V grows
    ("norm(W.kernel)*exp(-a) + a*norm(V.kernel)", "norm(V.kernel) -> +inf (for some value of a)"),
]

# Blocks to +inf: a reward for growing weights (or a growing error) has no bottom.
GROWING = [
    ("mse(y_true, y_pred) - 0.01*norm(W.kernel)", "as norm(W.kernel) -> +inf"),
    ("norm(L0.kernel) - norm(L1.kernel)", "as norm(L1.kernel) -> +inf"),
    ("-mse(y_true, y_pred)", "as mse(y_true, y_pred) -> +inf"),
    # tanh(a) < 0 for a < 0: the weight of the norm can be negative while the norm grows
    ("tanh(a)*norm(W.kernel)", "as norm(W.kernel) -> +inf (for some value of a)"),
    ("sin(a)*norm(W.kernel) + a**2", "as norm(W.kernel) -> +inf (for some value of a)"),
    ("a*norm(W.kernel)\nwhere a: (-1, 1)", "as norm(W.kernel) -> +inf (for some value of a)"),
    # stop(a) is a constant for training, but a negative one rewards a growing norm
    ("stop(a)*norm(W.kernel) + a**2", "as norm(W.kernel) -> +inf"),
    # sum(W) takes either sign and grows without bound either way
    ("s*sum(L0.kernel) + s**2", "as sum(L0.kernel) -> "),
]

# Bounded only while a data loss is above 0: the note I401, not a warning.
NOTES = [
    ("exp(-s)*mse(y_true, y_pred) + s", "as s -> -inf and mse(y_true, y_pred) -> 0"),
    ("0.5*exp(-2*s)*mse(y_true, y_pred) + s", "as s -> -inf and mse(y_true, y_pred) -> 0"),
    ("mse(y_true, y_pred)/(2*s**2) + log(s)\nwhere s: positive", "as s -> 0+ and mse(y_true, y_pred) -> 0"),
    ("r = exp(-s)*mse(y_true, y_pred)\nr + s", "as s -> -inf and mse(y_true, y_pred) -> 0"),
    ("mean(exp(-s)*square(y_true - y_pred)) + s", "as s -> -inf and mean("),
]

# Collapse: no optimum inside the domain, at each kind of end.
COLLAPSE = [
    ("a*norm(L0.kernel) + norm(L1.kernel)\nwhere a: positive", "as a -> 0+"),  # the first edition's fix
    ("mse(y_true, y_pred) + lam*norm(W.kernel)\nwhere lam: positive", "as lam -> 0+"),
    ("mse(y_true, y_pred) + a*norm(W.kernel)\nwhere a: nonneg", "as a -> 0+"),
    ("lam*a*norm(W.kernel)\nwhere lam: const = 2, a: positive", "as a -> 0+"),
    ("1/a\nwhere a: positive", "as a -> +inf"),
    ("exp(-a)*norm(W.kernel)", "as a -> +inf"),
    ("exp(a)*norm(W.kernel)", "as a -> -inf"),
    ("a*norm(W.kernel)\nwhere a: (0.5, 2)", "as a -> 0.5+"),
    ("mse(y_true, y_pred) - 0.1*a\nwhere a: (0, 1)", "as a -> 1-"),
]

# Bounded, with an optimum inside: no finding at all (no false alarm).
CLEAN = [
    # the note's fix: a penalty that grows as s -> -inf
    "exp(-s)*mse(y_true, y_pred) + s + 0.1*s**2",
    # (a*b - 1/2)**2 - 1/4: the leading coefficient b**2 vanishes exactly where the next does (was W405)
    "a**2*b**2 - a*b",
    "b**2*a**2 - b*a",
    "(a*b - 1)**2",
    "(a - 1)**2 + (a - b)**2",
    # non-trainable variables and the targets stay fixed: exp(-s)*c + s has its minimum at s = log(c)
    "exp(-s)*norm(L0.moving_mean) + s",
    "exp(-s)*norm(y_true) + s",
    # as a -> 0+ norm(W)/a grows, as a -> inf a grows; with W -> 0 the loss tends to 0, its bound
    "norm(W.kernel)/a + a\nwhere a: positive",
    "a*log(a)\nwhere a: positive",
    "exp(a) - a",
    "mse(y_true, y_pred) + 0.01*norm(W.kernel)**2",
    "sigmoid(w)*mse(y_true, y_pred) + (1 - sigmoid(w))*mae(y_true, y_pred)",
    "a**2 - 2*a + norm(W.kernel)",
    "log(sigmoid(a)) + a**2",
    # the W406 hint's barrier: a*norm(W) + 1/a >= 2*sqrt(norm(W)), with its optimum at a = 1/sqrt(norm(W))
    "a*norm(L0.kernel) + norm(L1.kernel) + 1/a\nwhere a: positive",
]

# A barrier - log(a) does not save a weight on a penalty: its minimum 1 + log(norm(W)) falls as W -> 0.
JOINT += [("a*norm(L0.kernel) - log(a)\nwhere a: positive", "as a -> +inf and norm(L0.kernel) -> 0")]


@pytest.mark.parametrize("src, path", JOINT + GROWING)
def test_unbounded_jointly_is_w401_naming_the_path(src, path):
    (found,) = verdict(src)
    assert found[0] == "W401" and path in found[1], found


@pytest.mark.parametrize("src, path", NOTES)
def test_bounded_only_by_an_imperfect_fit_is_a_note(src, path):
    (found,) = verdict(src)
    assert found[0] == "I401" and path in found[1], found


@pytest.mark.parametrize("src, end", COLLAPSE)
def test_a_parameter_without_an_interior_optimum_is_w406_at_its_end(src, end):
    (found,) = verdict(src)
    assert found[0] == "W406" and end in found[1], found


@pytest.mark.parametrize("src", CLEAN)
def test_an_interior_optimum_is_clean(src):
    assert verdict(src) == []


def test_one_note_per_independent_group():
    src = "exp(-s1)*mse(y_true, y_pred) + s1 + exp(-s2)*mae(y_true, y_pred) + s2"
    assert sorted(code for code, _ in verdict(src)) == ["I401", "I401"]


@pytest.mark.parametrize("src, position", [
    ("exp(-s)*norm(L0.kernel) + s", (1, 6)),  # the first parameter on the path, at its first use
    ("mse(y_true, y_pred) - 0.01*norm(W.kernel)", (1, 28)),  # no parameter moves: the block
    ("a*norm(L0.kernel) + norm(L1.kernel)\nwhere a: positive", (2, 7)),  # W406 at the declaration
])
def test_findings_point_at_what_moves(src, position):
    source = lossdsl.Source(src)
    (diagnostic,) = [d for d in check_stability(lossdsl.parse(src)) if d.code in STABILITY]
    where = source.position(diagnostic.span.start)
    assert (where.line, where.column) == position


@pytest.mark.parametrize("src, words", [
    ("a*norm(L0.kernel) + norm(L1.kernel)\nwhere a: positive", ["+ 1/a", "softmax", "where a: const"]),
    ("1/a\nwhere a: positive", ["+ 0.1*a**2", "softmax", "const"]),
    ("a*norm(W.kernel)\nwhere a: (0.5, 2)", ["+ 1/(a - 0.5)"]),
    ("exp(-s)*mse(y_true, y_pred) + s", ["0.1*s**2"]),
    ("(a - b)**2 - a - b", ["0.1*a**2"]),
])
def test_hints_name_the_fixes(src, words):
    (diagnostic,) = [d for d in check_stability(lossdsl.parse(src)) if d.code in STABILITY]
    assert all(word in diagnostic.hint for word in words), diagnostic.hint


def test_a_note_has_info_severity_and_warnings_stay_warnings():
    (note,) = verdict_diagnostics("exp(-s)*mse(y_true, y_pred) + s")
    (collapse,) = verdict_diagnostics("1/a\nwhere a: positive")
    assert (note.severity, note.is_note, collapse.severity) == ("info", True, "warning")


def verdict_diagnostics(src: str):
    return [d for d in lossdsl.check(src) if d.code in STABILITY]


def test_the_verdict_is_the_same_in_another_thread():
    import threading
    formulas = [src for src, _ in JOINT[:3] + NOTES[:2]] + CLEAN[:3]
    here = [verdict(src) for src in formulas]
    lossdsl.analysis.stability._check.cache_clear()
    there = []
    worker = threading.Thread(target=lambda: there.extend(verdict(src) for src in formulas))
    worker.start()
    worker.join()
    assert there == here


# ------------------------------------------------------------------ notes on the command line
NOTE = "exp(-s)*mse(y_true, y_pred) + s"


def run_cli(capsys, *argv):
    from lossdsl.cli import main
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_lint_shows_a_note_and_strict_does_not_fail_on_it(capsys):
    code, out = run_cli(capsys, "lint", "--strict", NOTE)
    assert code == 0
    assert "<arg1>:1:6: I401 the loss is bounded below only while mse(y_true, y_pred) > 0" in out
    assert out.rstrip().endswith("0 errors, 0 warnings, 1 note in 1 formula")


def test_strict_still_fails_on_a_warning_next_to_a_note(capsys):
    code, _ = run_cli(capsys, "lint", "--strict", NOTE, "1/a\nwhere a: positive")
    assert code == 1


def test_a_note_in_json_and_github_formats(capsys):
    import json
    _, out = run_cli(capsys, "lint", "--format", "json", NOTE)
    (record,) = json.loads(out)
    assert (record["code"], record["severity"], record["line"], record["column"]) == ("I401", "info", 1, 6)
    _, out = run_cli(capsys, "lint", "--format", "github", NOTE)
    assert out.startswith("::notice file=<arg1>,line=1,col=6,") and "title=I401::" in out


def test_explain_shows_the_note(capsys):
    code, out = run_cli(capsys, "explain", NOTE)
    assert code == 0 and "I401 the loss is bounded below only while" in out
