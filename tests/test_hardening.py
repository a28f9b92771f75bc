"""Hostile input: no code is ever run (package source, edited .keras files, linted .py files), and the
resource limits (MAX_SOURCE_CHARS, MAX_TOKENS, MAX_NESTING, the written-out formula) give diagnostics."""

import ast
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy

import lossdsl
from lossdsl.analysis.asymptotics import MAX_NESTED_FUNCTIONS
from lossdsl.cli import main as lossdsl_main
from lossdsl.language.extent import MAX_EXPANDED_DEPTH, MAX_EXPANDED_NODES
from lossdsl.language.parser import MAX_NESTING, MAX_SOURCE_CHARS, MAX_TOKENS
from lossdsl.analysis.stability import WORK_LIMIT

from conftest import saved_attached_model, where, with_config

PACKAGE = Path(lossdsl.__file__).resolve().parent

# ------------------------------------------------------------------------- no code execution
#: Functions that run code, or rebuild objects (and so code) from data: by any spelling (sympy.sympify,
#: builtins.eval), and the builtins that must not be called by their bare name (re.compile is fine).
FORBIDDEN_CALLS = {"eval", "exec", "__import__", "sympify", "parse_expr", "import_module", "S"}
FORBIDDEN_BUILTINS = {"compile"}
FORBIDDEN_MODULES = {"pickle", "cPickle", "_pickle", "marshal", "dill", "shelve", "importlib", "builtins", "code",
                     "codeop", "runpy"}


def forbidden_uses(path: Path) -> list[str]:
    """Calls of FORBIDDEN_CALLS and imports of FORBIDDEN_MODULES in one source file, as 'file:line what'."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            if name in FORBIDDEN_CALLS and not (name == "S" and not _has_string_argument(node)) or \
                    isinstance(func, ast.Name) and name in FORBIDDEN_BUILTINS:
                found.append(f"{path.name}:{node.lineno} calls {name}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"{path.name}:{node.lineno} imports {m}" for m in modules if m.split(".")[0] in FORBIDDEN_MODULES]
    return found


def _has_string_argument(call: ast.Call) -> bool:
    """sympy.S(1) is a number; sympy.S("x") parses text like sympify."""
    return any(not (isinstance(a, ast.Constant) and isinstance(a.value, (int, float))) for a in call.args)


def test_the_package_never_evaluates_code():
    sources = sorted(PACKAGE.rglob("*.py"))
    assert len(sources) > 10
    assert [use for path in sources for use in forbidden_uses(path)] == []


def test_the_scan_finds_what_it_forbids(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import pickle\nfrom importlib import import_module\nimport re, sympy\n"
                      "eval('1')\nsympy.sympify('x')\nsympy.S('x')\nsympy.S(1)\n__import__('os')\n"
                      "compile('1', 'f', 'eval')\nre.compile('x')\n", encoding="utf-8")
    assert sorted(forbidden_uses(sample)) == [
        "sample.py:1 imports pickle", "sample.py:2 imports importlib", "sample.py:4 calls eval",
        "sample.py:5 calls sympify", "sample.py:6 calls S", "sample.py:8 calls __import__", "sample.py:9 calls compile"]


FORMULA = "data = mse(y_true, y_pred)\ndata + a * norm(out.kernel)\nwhere a: positive = 0.5"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    """A small attached model saved as .keras: (path, the text of its config.json)."""
    return saved_attached_model(tmp_path_factory.mktemp("saved"), FORMULA)


def with_formula(path: Path, config_text: str, formula: str, target: Path) -> Path:
    """A copy of the saved model whose stored formula text is replaced (config.json edited, zip rebuilt)."""
    assert json.dumps(FORMULA) in config_text
    return with_config(path, config_text.replace(json.dumps(FORMULA), json.dumps(formula)), target)


# the stored formula, the exception, the first diagnostic's (code, line, column)
EDITED_FORMULAS = [
    ("__import__('os').system('touch pwned')", lossdsl.LossSyntaxError, ("E108", 1, 12)),
    ("__import__(os).system(touch)", lossdsl.LossSyntaxError, ("E100", 1, 22)),
    ("open(pwned)", lossdsl.LossNameError, ("E201", 1, 1)),
    ("exec(a) + norm(out.kernel)", lossdsl.LossNameError, ("E201", 1, 1)),
    ("mse(y_true, y_pred) + norm(nosuch.kernel)", lossdsl.LossNameError, ("E210", 1, 28)),
    ("norm(out.kernel.__class__)", lossdsl.LossNameError, ("E216", 1, 6)),
    ("a" * (MAX_SOURCE_CHARS + 1), lossdsl.LossSyntaxError, ("E107", 1, MAX_SOURCE_CHARS + 1)),
]


@pytest.mark.parametrize("formula, error, first", EDITED_FORMULAS, ids=[f[:30] for f, *_ in EDITED_FORMULAS])
def test_a_keras_file_with_an_edited_formula_is_refused_and_nothing_runs(saved_model, tmp_path, monkeypatch,
                                                                        formula, error, first):
    import keras
    path, config_text = saved_model
    edited = with_formula(path, config_text, formula, tmp_path / "edited.keras")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error) as raised:
        keras.models.load_model(edited)
    assert where(formula, raised.value.diagnostics[0]) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edited.keras"]


def test_the_unedited_copy_loads(saved_model, tmp_path):
    import keras
    path, config_text = saved_model
    copy = with_formula(path, config_text, FORMULA, tmp_path / "copy.keras")
    assert keras.models.load_model(copy).term.source == FORMULA


EVIL_MODULE = """
import lossdsl
open("pwned", "w").write("imported")  # runs only if the file is imported
lossdsl.check("norm(L1.kernel")
"""


@pytest.mark.parametrize("in_process", [True, False])
def test_linting_python_files_never_imports_them(tmp_path, monkeypatch, capsys, in_process):
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text('open("pwned-init", "w")\n', encoding="utf-8")
    (package / "evil.py").write_text(EVIL_MODULE, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    if in_process:
        code = lossdsl_main(["lint", "pkg/evil.py", "pkg"])
        output = capsys.readouterr().out
    else:
        run = subprocess.run([sys.executable, "-m", "lossdsl", "lint", "pkg/evil.py", "pkg"],
                             capture_output=True, text=True, timeout=120)
        code, output = run.returncode, run.stdout
    assert code == 1
    assert "pkg/evil.py:4:20: E101" in output
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["__init__.py", "evil.py", "pkg"]


# ---------------------------------------------------------------------------- resource limits
def tokens(count: int) -> str:
    """Exactly ``count`` tokens: a + a + ... + a, after a unary minus when ``count`` is even."""
    return "-" * (count % 2 == 0) + "+".join(["a"] * ((count + 1) // 2))


def chain_of_terms(levels: int, function: str = "exp", per_term: int = 40) -> str:
    """Named terms of at most ``per_term`` nested calls, each around the previous term: ``levels`` calls
    written out (``levels + 1`` levels with the innermost ``a``)."""
    lines, previous, left = [], "a", levels
    while left:
        calls = min(per_term, left)
        lines.append(f"t{len(lines)} = " + f"{function}(" * calls + previous + ")" * calls)
        previous, left = f"t{len(lines) - 1}", left - calls
    return "\n".join(lines) + f"\n{previous}"


def doubling_terms(count: int) -> str:
    """t1 = t0 + t0*b, t2 = t1 + t1*b, ...: written out, each term is twice the size of the one before."""
    return "t0 = a * norm(L1.kernel)\n" + "\n".join(f"t{i} = t{i - 1} + t{i - 1} * b" for i in range(1, count)) \
        + f"\nt{count - 1}"


# name, text, the errors expected as (code, line, column); [] for none
LIMITS = [
    ("MAX_SOURCE_CHARS characters", "a" * MAX_SOURCE_CHARS, []),
    ("one character more", "a" * (MAX_SOURCE_CHARS + 1), [("E107", 1, MAX_SOURCE_CHARS + 1)]),
    ("a million unary minus", "-" * 1_000_000 + "a", [("E107", 1, MAX_SOURCE_CHARS + 1)]),
    ("MAX_TOKENS tokens", tokens(MAX_TOKENS), []),
    ("one token more", tokens(MAX_TOKENS + 1), [("E107", 1, MAX_TOKENS + 1)]),
    ("comments and line breaks are not tokens", tokens(MAX_TOKENS) + "  # x y z\n" * 1000, []),
    ("a 50,000-term sum", "+".join(["a"] * 50_000), [("E107", 1, MAX_TOKENS + 1)]),
    ("unary minus up to the token limit", "-" * (MAX_TOKENS - 1) + "a", [("E106", 1, MAX_NESTING + 2)]),
    ("a ** a ** ... up to the token limit", "a**" * (MAX_TOKENS // 2 - 1) + "a", [("E106", 1, 3 * MAX_NESTING + 4)]),
    ("MAX_NESTING brackets", "(" * MAX_NESTING + "a" + ")" * MAX_NESTING, []),
    ("one bracket more", "(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1), [("E106", 1, MAX_NESTING + 1)]),
    ("MAX_NESTING calls", "exp(" * MAX_NESTING + "a" + ")" * MAX_NESTING, []),
    ("one call more", "exp(" * (MAX_NESTING + 1) + "a" + ")" * (MAX_NESTING + 1), [("E106", 1, 4 * MAX_NESTING + 4)]),
    ("terms as deep as allowed", chain_of_terms(MAX_EXPANDED_DEPTH - 1), []),
    ("terms nested too deep when written out", chain_of_terms(MAX_EXPANDED_DEPTH + 40), [("E106", 4, 6)]),
    ("a chain of 1,000 short terms", "t0 = a\n" + "\n".join(f"t{i} = t{i - 1} + b" for i in range(1, 1000))
     + "\nt999", [("E106", MAX_EXPANDED_DEPTH + 1, 8)]),
    ("terms that double 11 times", doubling_terms(12), []),
    ("terms that double 14 times", doubling_terms(15), [("E107", 13, 7)]),
    # * and @ share a precedence but not a node: each switch is a level (this was a RecursionError)
    ("alternating * and @ at the limit", " * ".join(["s @ W.kernel"] * 32), []),
    ("alternating * and @ beyond it", " * ".join(["s @ W.kernel"] * 33), [("E106", 1, 1)]),
    ("a constant beyond floats", "a * exp(1e5)", [("E110", 1, 5)]),
    ("a power beyond floats", "softplus(w - 1e308**1e3)", [("E110", 1, 14)]),
    ("a tower of nines", "a**(9**9**9)", [("E110", 1, 5)]),
    # numbers are judged against float32, the type the loss is computed in
    ("the largest float32", "a * 2**127 * 3.4e38", []),
    ("a power beyond float32", "a * 2**128", [("E110", 1, 5)]),
    ("a number beyond float32", "1e300 * norm(W.kernel)", [("E110", 1, 1)]),
    ("a number that rounds to 0 in float32", "a + 1e-50 * b", [("E110", 1, 5)]),
    # sympy computes constant powers exactly: ten billion digits, or more than Python will print
    ("a power below floats", "a * 10**-10**10", [("E110", 1, 5)]),
    ("a power that rounds to 0", "a + 2**-20000 * b", [("E110", 1, 5)]),
    ("the smallest power kept", "a * 2**-126", []),  # float32's smallest normal number
    ("a power that is 0 in float32", "a * 2**-127", [("E110", 1, 5)]),  # TensorFlow flushes subnormals to 0
    ("a power too long to compute exactly", "a * (1000001/1000000)**100000", [("E111", 1, 5)]),
    ("a sum of powers too long to compute exactly", "a * ((1000001/1000000)**400 + (1000003/1000002)**400)",
     [("E111", 1, 6)]),
    ("a float power is cheap", "a * 1.000001**100000", []),
]


@pytest.mark.parametrize("name", [name for name, *_ in LIMITS])
def test_beyond_a_limit_is_a_diagnostic(diagnose, name):
    text, expected = next((text, expected) for n, text, expected in LIMITS if n == name)
    found, diagnostics = diagnose(text)
    assert [f for f, d in zip(found, diagnostics) if d.is_error] == expected


@pytest.mark.parametrize("text, message", [
    (tokens(MAX_TOKENS + 1), f"the formula has {MAX_TOKENS + 1:,} tokens; the limit is {MAX_TOKENS:,}"),
    (chain_of_terms(MAX_EXPANDED_DEPTH + 40), "with the named terms it uses written out, term 't3' is nested 161 "
                                              f"levels deep; the limit is {MAX_EXPANDED_DEPTH}"),
    (doubling_terms(15), "with the named terms it uses written out, term 't12' has 36,861 nodes; "
                         f"the limit is {MAX_EXPANDED_NODES:,}"),
])
def test_limit_messages(text, message):
    assert [d.message for d in lossdsl.check(text) if d.is_error] == [message]


def test_the_bounded_below_check_has_a_work_limit():
    """Its cost is parameters x the summands they are in: past WORK_LIMIT nodes it says what it skipped."""
    small = "*".join(f"a{i}" for i in range(50))  # 50 parameters, each in a product of 51 nodes
    assert 50 * 51 <= WORK_LIMIT and [d.code for d in lossdsl.check(small)] == ["W401"] * 50
    count = MAX_TOKENS // 2
    large = "*".join(f"a{i}" for i in range(count))  # the first parameter fits, the second does not
    assert count + 1 <= WORK_LIMIT < 2 * (count + 1)
    assert [(d.code, d.message[:45]) for d in lossdsl.check(large)][0] == (
        "W401", "the loss is unbounded below in 'a0': it tends")
    assert [d.message for d in lossdsl.check(large) if d.code == "W405"] == [
        "the loss is too large to decide whether it is bounded below in 'a1', 'a2', 'a3', 'a4', 'a5' "
        f"and {count - 6:,} more"]


@pytest.mark.parametrize("height, expected", [(MAX_NESTED_FUNCTIONS, "W401"), (MAX_NESTED_FUNCTIONS + 1, "W405")])
def test_the_bounded_below_check_expands_functions_nested_up_to_a_limit(height, expected):
    """exp(exp(...(a))) + a*W falls as a -> -inf; beyond the limit the check says it cannot tell (W405)."""
    tower = chain_of_terms(height, "exp", per_term=1)  # t0 = exp(a), t1 = exp(t0), ...
    assert [d.code for d in lossdsl.check(tower + " + a*b.kernel")] == [expected]


def in_a_deep_stack(depth: int, function):
    """``function()`` called ``depth`` Python frames down, like a caller deep inside an application."""
    return function() if depth == 0 else in_a_deep_stack(depth - 1, function)


def test_a_formula_at_the_depth_limit_works_from_a_deep_caller():
    """Everything that walks the written-out formula stays inside Python's recursion limit."""
    import tensorflow as tf
    from lossdsl.lowering.lower import lower
    text = chain_of_terms(MAX_EXPANDED_DEPTH - 1, function="sin")

    def use():
        formula = lossdsl.parse(text)
        return lossdsl.check(text), formula.latex(), formula.expanded(), lower(formula)

    diagnostics, latex, expanded, lowered = in_a_deep_stack(150, use)
    assert not [d for d in diagnostics if d.is_error]
    assert latex.count(r"\sin") == MAX_EXPANDED_DEPTH - 1 and expanded.count(sympy.sin) == 159
    expected = 0.5
    for _ in range(MAX_EXPANDED_DEPTH - 1):
        expected = np.sin(expected)
    np.testing.assert_allclose(float(lowered({"a": tf.constant(0.5)})[""]), expected, rtol=1e-5)


# ------------------------------------------------ inputs that raised before (found by fuzzing)
@pytest.mark.parametrize("text", [
    "sum(a)", "mean(a)", "max(a)", "clip(a, b, c)", "maximum(a, b)", "trace(a)", "diag(a)", "dot(a, b)", "a @ b",
    "@".join(["a"] * 2000),  # RecursionError in the stability check
    "t = log(0)**2\nt", "t = exp(log(0)**a)\nt", "t = exp(0/0) * L1.kernel\nt + 1",  # sympy's assumptions
    "x * t**-exp(sum(k))", "x * t**-2**mean(k)",  # LaTeX differentiated an axis option
    "abs(-1)**-10", "a * abs(-1)**-2", "exp(0)**-2 + norm(L1.kernel)",  # LaTeX recursed forever
    "cos((0)+0) / (0) / sigmoid(b @ k / exp(d)**k)",  # sympy's arithmetic on zoo (depends on its shuffles)
    "a * b**(3.**10**1e3)",  # an exact constant that never finished
])
def test_formerly_crashing_inputs_are_handled(text):
    """The same findings whatever order sympy tries its handlers in, each inside the text; a formula without
    errors prints one LaTeX line per statement and writes out with no named term left in it."""
    found = set()
    for seed in range(5):  # sympy shuffles its assumption handlers with the global random generator
        random.seed(seed)
        clear_analysis_caches()  # or seeds 1..4 would only read seed 0's verdicts
        diagnostics = lossdsl.check(text)
        assert all(0 <= d.span.start <= d.span.end <= len(text) for d in diagnostics)
        found.add(tuple((d.code, d.span) for d in diagnostics))
        if not any(d.is_error for d in diagnostics):
            formula = lossdsl.parse(text)
            assert formula.latex().count(r" \\ ") == len(formula.terms)
            terms = {formula.term_symbol(name) for name in formula.terms}
            assert not terms & formula.expanded().free_symbols
    assert len(found) == 1, found


def clear_analysis_caches():
    """Forget every parsed formula, checked formula and remembered stability verdict."""
    lossdsl.language.frontend.analyze.cache_clear()
    lossdsl.analysis.stability._check.cache_clear()
    lossdsl.analysis.stability._VERDICTS.clear()
