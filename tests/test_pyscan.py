"""Formula literals in Python files: which calls count, and where their diagnostics land in the file."""

import json

import pytest

import lossdsl
from lossdsl.cli import main
from lossdsl.cli.pyscan import find_formulas
from lossdsl.language.source import Source

# Line numbers below are those of this text; columns are counted by hand.
MODULE = '''\
import lossdsl
from lossdsl import check, attach as attach_loss
import lossdsl as ld

lossdsl.check("a*norm(L0.kernel")
ld.parse("""
data = mse(y_true, y_pred)
data + a * nrm(L1.kernel)
""")
check(src="norm(L0.kernel) ^ 2")
attach_loss(model, 'norm(L0.kernel)\\t+ (')
lossdsl.compile(formula_text, model)
lossdsl.check(f"norm({name}")
lossdsl.check("a" "(")
other.check("(")
café = lossdsl.check("a+(")
lossdsl.check(r"norm(L0.kernel)\\n")
lossdsl.attach(model, src="""norm(L0.kernel)""" + "")
lossdsl.check("norm(L0.kernel) + norm(L1.kernel)")
'''

EXPECTED = [
    # (code, line, column) in MODULE
    ("E101", 5, 22),   # the '(' of norm: exact, single line
    ("E201", 8, 12),   # nrm, inside a triple-quoted literal: exact, two lines below its start
    ("E104", 10, 28),  # the '^' after a keyword src=
    ("E101", 11, 20),  # \t is an escape: the literal's start
    ("E101", 14, 15),  # implicit concatenation: the literal's start
    ("E101", 16, 25),  # a non-ASCII name before the literal: columns count characters, not bytes
    ("E100", 17, 32),  # raw string: '\' is a character of the formula, so the mapping is exact
]


def lint_module(code: str) -> list[tuple[str, int, int]]:
    source = Source(code)
    found = []
    for snippet in find_formulas(code):
        for diagnostic in lossdsl.check(snippet.text):
            where = source.position(snippet.place(diagnostic).span.start)
            found.append((diagnostic.code, where.line, where.column))
    return found


def test_diagnostics_land_on_the_file_positions():
    assert lint_module(MODULE) == EXPECTED


def test_only_formula_arguments_of_lossdsl_calls_are_found():
    texts = [s.text for s in find_formulas(MODULE)]
    assert texts == [
        "a*norm(L0.kernel", "\ndata = mse(y_true, y_pred)\ndata + a * nrm(L1.kernel)\n", "norm(L0.kernel) ^ 2",
        "norm(L0.kernel)\t+ (", "a(", "a+(", "norm(L0.kernel)\\n", "norm(L0.kernel) + norm(L1.kernel)",
    ]  # not: the variable, the f-string, other.check, the concatenation with +


@pytest.mark.parametrize("code, found", [
    ("from lossdsl import parse\nparse('x')", ["x"]),
    ("from lossdsl import parse as p\np('x')\nparse('y')", ["x"]),
    ("import lossdsl as L\nL.compile('x', m)", ["x"]),
    ("lossdsl.attach(model)", []),                       # no formula argument at all
    ("lossdsl.attach('x', 'y')", ["y"]),                 # attach(model, src)
    ("lossdsl.check(*args, 'x')", []),                   # position unknown after *args
    ("lossdsl.check(src=b'x')", []),                     # bytes are not a formula
    ("from .lossdsl import check\ncheck('x')", []),      # a relative import is someone else's module
    ("def f():\n    from lossdsl import check\n    return check('x')", ["x"]),
])
def test_which_calls_count(code, found):
    assert [s.text for s in find_formulas(code)] == found


def test_invalid_python_raises_syntax_error():
    with pytest.raises(SyntaxError):
        find_formulas("lossdsl.check('x'")


def test_cli_lints_a_python_file_in_place(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text(MODULE, encoding="utf-8")
    assert main(["lint", str(path), "--format", "github"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",title=")[0] for line in lines][:2] == [
        f"::error file={path},line=5,col=22,endLine=5,endColumn=23",
        f"::error file={path},line=8,col=12,endLine=8,endColumn=15",
    ]
    assert len(lines) == len(EXPECTED)


def test_cli_text_output_shows_the_python_line(tmp_path, capsys):
    path = tmp_path / "train.py"
    path.write_text('import lossdsl\nloss = lossdsl.parse("a*norm(L0.kernel")\n', encoding="utf-8")
    assert main(["lint", str(path)]) == 1
    out = capsys.readouterr().out
    assert f"{path}:2:29: E101" in out
    assert '  loss = lossdsl.parse("a*norm(L0.kernel")\n' + " " * 30 + "^\n" in out


def test_cli_walks_directories_and_skips_hidden_ones(tmp_path, capsys):
    (tmp_path / "pkg").mkdir()
    (tmp_path / ".venv").mkdir()
    (tmp_path / "pkg" / "bad.py").write_text("import lossdsl\nlossdsl.check('(')\n")
    (tmp_path / "pkg" / "good.py").write_text("import lossdsl\nlossdsl.check('norm(L0.kernel)')\n")
    (tmp_path / ".venv" / "ignored.py").write_text("import lossdsl\nlossdsl.check('(')\n")
    (tmp_path / "notes.txt").write_text("lossdsl.check('(')\n")
    assert main(["lint", str(tmp_path), "--format", "json"]) == 1
    assert [r["file"] for r in json.loads(capsys.readouterr().out)] == [str(tmp_path / "pkg" / "bad.py")]


def test_cli_invalid_python_is_an_input_error(tmp_path, capsys):
    path = tmp_path / "broken.py"
    path.write_text("def f(:\n")
    assert main(["lint", str(path)]) == 2
    assert f"{path}:1: not valid Python" in capsys.readouterr().err


# Formulas held in names: followed when the name is bound once to a string literal in the calling
# function or at module level (issue: `FORMULA = "..."` then `lossdsl.attach(model, FORMULA)` was skipped).
@pytest.mark.parametrize("code, found", [
    ("import lossdsl\nF = 'x'\nlossdsl.check(F)", ["x"]),
    ("import lossdsl\nF = ('x'\n     'y')\ndef main():\n    lossdsl.attach(m, F)", ["xy"]),  # implicit concatenation
    ("import lossdsl\nF: str = 'x'\nlossdsl.compile(src=F, model=m)", ["x"]),
    ("import lossdsl\ndef f():\n    G = 'inner'\n    return lossdsl.parse(G)", ["inner"]),
    ("import lossdsl\nF = 'outer'\ndef f():\n    F = 'inner'\n    lossdsl.check(F)", ["inner"]),  # the local wins
    ("import lossdsl\nF = 'x'\nlossdsl.check(F)\nlossdsl.attach(m, F)", ["x"]),  # one literal, one formula
    ("import lossdsl\nF = 'x'\nF = 'y'\nlossdsl.check(F)", []),            # bound twice: unknown
    ("import lossdsl\nF = 'x'\nF += 'y'\nlossdsl.check(F)", []),
    ("import lossdsl\nF = make()\nlossdsl.check(F)", []),
    ("import lossdsl\nF = 'x'\ndef f(F):\n    lossdsl.check(F)", []),        # a parameter shadows it
    ("import lossdsl\nF = 'x'\ndef f():\n    for F in xs:\n        lossdsl.check(F)", []),
    ("import lossdsl\nF = 'x'\ndef f():\n    global F\n    F = 'y'\n    lossdsl.check(F)", []),
    ("import lossdsl\nlossdsl.check(F)", []),                             # never bound
    ("import lossdsl\ndef f():\n    G = 'x'\nlossdsl.check(G)", []),       # another function's local
])
def test_names_bound_to_a_string_are_followed(code, found):
    assert [s.text for s in find_formulas(code)] == found


def test_a_held_formula_is_reported_at_the_string(tmp_path, capsys):
    path = tmp_path / "held.py"
    path.write_text('import lossdsl\n\nFORMULA = "nrom(L1.kernel)"\n\n\ndef train(model):\n'
                    '    return lossdsl.attach(model, FORMULA)\n', encoding="utf-8")
    assert main(["lint", str(path)]) == 1
    assert f"{path}:3:12: E201 unknown function 'nrom'" in capsys.readouterr().out


@pytest.mark.parametrize("files, summary", [
    ({"a.py": "import lossdsl\nlossdsl.check('norm(L0.kernel)')\nF = 'norm(L1.kernel)'\nlossdsl.parse(F)\n",
      "b.py": "import lossdsl\nlossdsl.check('norm(L2.kernel)')\n"}, "3 formulas in 2 files: clean"),
    ({"a.py": "print('no formula here')\n"}, "no formula found in 1 file"),
])
def test_a_clean_run_says_what_it_checked(tmp_path, capsys, files, summary):
    for name, code in files.items():
        (tmp_path / name).write_text(code, encoding="utf-8")
    assert main(["lint", str(tmp_path)]) == 0
    assert capsys.readouterr().out == summary + "\n"
