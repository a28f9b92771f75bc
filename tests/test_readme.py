"""The README documents what the code has: every diagnostic code, every function, the commands CI runs."""

import pathlib
import re

import pytest

from lossdsl.analysis.asymptotics import MAX_NESTED_FUNCTIONS
from lossdsl.language.diagnostics import CODES
from lossdsl.language.extent import MAX_EXPANDED_DEPTH, MAX_EXPANDED_NODES
from lossdsl.language.functions import BUILTINS
from lossdsl.language.parser import MAX_NESTING, MAX_SOURCE_CHARS, MAX_TOKENS
from lossdsl.analysis.stability import WORK_LIMIT

ROOT = pathlib.Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("code", sorted(CODES))
def test_every_diagnostic_code_is_in_the_readme_table(code):
    assert re.search(rf"^\| {code} \| (error|warning) \| ", README, re.M)


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_function_is_in_the_readme(name):
    assert f"`{BUILTINS[name].signature()}`" in README


def test_the_readme_starts_with_the_two_commands_and_ci_runs_the_same():
    first_block = README.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert len(first_block) == 2 and "examples/classic_cross_layer.py" in first_block[0]
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install --quiet ".[tensorflow,test]"' in ci and first_block[1] in ci
    assert 'pip install ".[tensorflow,test]"' in first_block[0]


@pytest.mark.parametrize("row", [
    f"| characters in a formula | {MAX_SOURCE_CHARS:,} |",
    f"| tokens in a formula | {MAX_TOKENS:,} |",
    f"| nested brackets, or levels of one statement | {MAX_NESTING} |",
    f"| the loss with its named terms written out | {MAX_EXPANDED_DEPTH} levels, {MAX_EXPANDED_NODES:,} nodes |",
    f"| bounded-below check: functions of a parameter nested | {MAX_NESTED_FUNCTIONS} (beyond: W405) |",
    f"| bounded-below check: summand nodes over all parameters | {WORK_LIMIT:,} (beyond: one W405) |",
])
def test_the_readme_states_the_limits_the_code_has(row):
    assert row in README
