"""Every example runs to the end (each asserts its own claim) in a fresh process."""

import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def test_every_example_is_listed():
    assert len(SCRIPTS) >= 6


@pytest.mark.parametrize("script", SCRIPTS)
def test_example_runs(script):
    run = subprocess.run([sys.executable, script], cwd=EXAMPLES, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, f"{script} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
