"""The README and docs/ say what the code does: every example shown runs and prints what it shows, and every
table is the table the code has (functions, limits, diagnostic codes, stability verdicts, modules)."""

import doctest
import pathlib
import re
import shlex

import numpy as np
import pytest

import lossdsl
from lossdsl.analysis.asymptotics import MAX_NESTED_FUNCTIONS
from lossdsl.analysis.limit_fallback import BUDGET
from lossdsl.analysis.stability import FORMULA_BUDGET, WORK_LIMIT
from lossdsl.cli import main
from lossdsl.language.catalogue import CODES, CONTEXTS, ENTRIES, EXAMPLE_CONSTANTS, EXAMPLE_SHAPES, markdown_table
from lossdsl.language.extent import MAX_EXPANDED_DEPTH, MAX_EXPANDED_NODES
from lossdsl.language.functions import BUILTINS
from lossdsl.language.parser import MAX_NESTING, MAX_SOURCE_CHARS, MAX_TOKENS
from models import embedding_lstm, hidden_out, multi_output, raw_attribute, shared_layer, twin_blocks, unbuilt_sequential

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
PAGES = ["language", "api", "cli", "diagnostics", "stability", "performance", "reliability", "distribution", "design"]


def page(name: str) -> str:
    return (ROOT / "docs" / f"{name}.md").read_text()


def code_blocks(text: str, language: str = "") -> list[str]:
    """The fenced blocks of a markdown text opened with ```language (fences pair up in order)."""
    blocks, opened, lines = [], None, []
    for line in text.splitlines(keepends=True):
        if line.lstrip().startswith("```"):
            if opened is None:
                opened, lines = line.strip()[3:], []
            else:
                blocks += ["".join(lines)] if opened == language else []
                opened = None
        elif opened is not None:
            lines.append(line)
    return blocks


def table_rows(text: str, header: str) -> list[list[str]]:
    """The cells of each row of the markdown table whose header line is ``header``."""
    lines = [line.strip() for line in text.split(header + "\n", 1)[1].splitlines()[1:]]  # after | --- |
    rows = []
    for line in lines:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


# ------------------------------------------------------------------------------ the front page
def test_the_readme_starts_with_the_two_commands_and_ci_runs_the_same():
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(first_block) == 2 and "examples/classic_cross_layer.py" in first_block[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install --quiet ".[tensorflow,test]"' in ci and first_block[1] in ci
    assert 'pip install ".[tensorflow,test]"' in first_block[0]


def test_the_readme_is_a_front_page_that_links_every_docs_page():
    assert len(README) <= 12_000
    assert sorted(set(re.findall(r"\]\(docs/(\w+)\.md\)", README))) == sorted(PAGES)
    assert sorted(path.stem for path in (ROOT / "docs").glob("*.md")) == sorted(PAGES)


def without_comments(formula: str) -> list[str]:
    return [" ".join(line.split("#")[0].split()) for line in formula.strip().splitlines()]


def test_the_readme_example_is_the_formula_the_first_command_trains():
    shown = re.search(r'FORMULA = """\n(.*?)"""', README, re.S).group(1)
    script = (ROOT / "examples" / "classic_cross_layer.py").read_text()
    trained = re.search(r'FORMULA = """\n(.*?)"""', script, re.S).group(1)
    assert without_comments(shown) == without_comments(trained)


@pytest.mark.parametrize("name", ["README", *PAGES])
def test_every_relative_link_leads_to_a_file(name):
    text, folder = (README, ROOT) if name == "README" else (page(name), ROOT / "docs")
    targets = [target.split("#")[0] for target in re.findall(r"\]\(([^)\s]+)\)", text)]
    missing = [t for t in targets if t and not t.startswith("http") and not (folder / t).exists()]
    assert not missing


# ------------------------------------------------------------------------------ language.md
def test_the_function_table_is_the_code_s_function_table():
    rows = table_rows(page("language"), "| function | what |")
    assert rows == [[f"`{spec.signature()}`", spec.summary] for spec in BUILTINS.values()]


# ------------------------------------------------------------------------------ api.md
@pytest.mark.parametrize("block", [b for b in code_blocks(page("api"), "python") if b.startswith(">>>")])
def test_the_api_examples_print_what_they_show(block):
    test = doctest.DocTestParser().get_doctest(block, {}, "docs/api.md", "docs/api.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0


# ------------------------------------------------------------------------------ cli.md
def shell_sessions(text: str) -> list[tuple[list[str], str]]:
    """(arguments, output) of every ``$ lossdsl ...`` command shown; a quoted argument may span lines."""
    sessions = []
    for block in code_blocks(text):
        lines = block.splitlines(keepends=True)
        while lines:
            if not lines[0].startswith("$ lossdsl "):
                lines.pop(0)
                continue
            command = lines.pop(0)[len("$ lossdsl "):]
            while command.count('"') % 2:
                command += lines.pop(0)
            output = []
            while lines and not lines[0].startswith("$ "):
                output.append(lines.pop(0))
            sessions.append((shlex.split(command), "".join(output)))
    return sessions


SESSIONS = shell_sessions(page("cli"))


def test_the_command_line_page_shows_lint_and_explain():
    assert [arguments[0] for arguments, _ in SESSIONS] == ["lint", "lint", "explain"]


@pytest.mark.parametrize("arguments, output", SESSIONS, ids=[" ".join(a)[:40] for a, _ in SESSIONS])
def test_the_command_line_prints_what_the_page_shows(arguments, output, saved_model, capsys):
    main([saved_model if argument == "m.keras" else argument for argument in arguments])
    assert capsys.readouterr().out == output


# ------------------------------------------------------------------------------ diagnostics.md
def test_the_diagnostics_page_holds_the_catalogue():
    assert markdown_table() in page("diagnostics")
    assert list(CODES) == [entry.code for entry in ENTRIES] and lossdsl.CODES is CODES


@pytest.fixture(scope="module")
def models():
    """The models the catalogue's contexts describe, by context."""
    return {"model": hidden_out(), "unbuilt": unbuilt_sequential(), "twins": twin_blocks(), "outputs": multi_output(),
            "attribute": raw_attribute(), "shared": shared_layer(), "tokens": embedding_lstm()}


def test_every_code_written_in_the_package_is_in_the_catalogue():
    sources = [path.read_text() for path in (ROOT / "lossdsl").rglob("*.py")]
    written = {code for source in sources for code in re.findall(r'"([A-Z]\d{3})"', source)}
    assert written and written <= set(CODES), written - set(CODES)


def checked_with(context: str, models: dict) -> dict:
    """The arguments of check() besides the formula that a context of the catalogue stands for."""
    if context == "":
        return {}
    if context == "constants":
        return {"shapes": EXAMPLE_SHAPES, "constants": {name: np.zeros(shape) for name, shape in EXAMPLE_CONSTANTS.items()}}
    return {"shapes": EXAMPLE_SHAPES} if context == "shapes" else {"model": models[context]}


def test_every_context_of_the_legend_is_built_here(models):
    assert set(CONTEXTS) == {"", "shapes", "constants", *models}


@pytest.mark.parametrize("entry", [e for e in ENTRIES if e.example], ids=lambda e: e.code)
def test_every_catalogue_example_gets_its_code(entry, models):
    assert [d.code for d in lossdsl.check(entry.example, **checked_with(entry.context, models))] == [entry.code]


def test_only_the_size_limits_have_no_example():
    """E106 and E107 take formulas too large to show; tests/test_hardening.py reaches each limit."""
    assert [entry.code for entry in ENTRIES if not entry.example] == ["E106", "E107"]


# ------------------------------------------------------------------------------ stability.md
@pytest.mark.parametrize("code, example", [
    (code, example) for code, _, examples, _ in table_rows(page("stability"), "| code | finding | example | fix |")
    for example in re.findall(r"`([^`]+)`", examples)])
def test_every_stability_code_s_example_gets_it(code, example):
    assert [d.code for d in lossdsl.check(example)] == [code]


def stability_cases() -> list[tuple[str, str]]:
    """(formula with its declarations, result) of the page's table of verdicts."""
    cases = []
    for formula_cell, result in table_rows(page("stability"), "| formula | result |"):
        formula, *declared = re.findall(r"`([^`]+)`", formula_cell)
        cases.append((formula + "".join(f" where {d}" for d in declared), result))
    return cases


@pytest.mark.parametrize("formula, result", stability_cases())
def test_the_stability_verdicts_shown_are_the_check_s(formula, result):
    found = lossdsl.check(formula)
    if result == "clean":
        assert found == []
    else:
        code, ends = re.match(r"([WI]\d+), ([^:]+)", result).groups()
        assert [d.code for d in found] == [code]
        for end in ends.split(" and "):
            assert end.replace("→", "->").replace("−", "-") in found[0].message


def test_the_stability_page_states_the_time_budgets_the_code_has():
    assert f"under a {BUDGET:g} s budget ({FORMULA_BUDGET:g} s per formula in all" in page("stability")


# ------------------------------------------------------------------------------ reliability.md
@pytest.mark.parametrize("row", [
    f"| characters in a formula | {MAX_SOURCE_CHARS:,} |",
    f"| tokens in a formula | {MAX_TOKENS:,} |",
    f"| nested brackets, or levels of one statement | {MAX_NESTING} |",
    f"| the loss with its named terms written out | {MAX_EXPANDED_DEPTH} levels, {MAX_EXPANDED_NODES:,} nodes |",
    f"| bounded-below check: functions of a parameter nested | {MAX_NESTED_FUNCTIONS} (beyond: W405) |",
    f"| bounded-below check: summand nodes over all parameters | {WORK_LIMIT:,} (beyond: one W405) |",
])
def test_the_reliability_page_states_the_limits_the_code_has(row):
    assert row in page("reliability")


# ------------------------------------------------------------------------------ design.md
def test_the_module_map_lists_every_module_of_the_package_once():
    """A module added, moved or removed without its line in docs/design.md fails here."""
    listed = re.findall(r"^(lossdsl/\S+\.py) +\S", code_blocks(page("design"))[0], re.M)
    package = ROOT / "lossdsl"
    modules = sorted(str(path.relative_to(ROOT)) for path in package.rglob("*.py") if "__pycache__" not in path.parts)
    assert sorted(listed) == modules and len(listed) == len(set(listed))
