"""Every example script is listed in the README's examples table, every listed script exists, and each runs
to the end (each asserts its own claim) in a fresh process."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))  # _data.py is shared data
LISTED = re.findall(r"^\| `examples/([^`]+)` \|", (ROOT / "README.md").read_text(), re.M)


def test_the_examples_table_lists_every_script_once():
    assert sorted(LISTED) == SCRIPTS and len(set(LISTED)) == len(LISTED)


@pytest.mark.parametrize("script", LISTED)
def test_example_runs(script):
    run = subprocess.run([sys.executable, script], cwd=EXAMPLES, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, f"{script} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
