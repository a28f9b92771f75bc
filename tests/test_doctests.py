"""Every docstring example in the package runs and prints what it shows (modules are found, not listed)."""

import doctest
import importlib
import pkgutil

import pytest

import lossdsl

MODULES = sorted(info.name for info in pkgutil.walk_packages(lossdsl.__path__, "lossdsl.") if not info.ispkg)


def _examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    return [test for test in doctest.DocTestFinder().find(module) if test.examples]


@pytest.mark.parametrize("name", [name for name in MODULES if name != "lossdsl.__main__"])
def test_docstring_examples(name):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in _examples(name):
        runner.run(test)
    assert runner.failures == 0


def test_the_walk_finds_the_examples_of_every_stage():
    with_examples = {name for name in MODULES if name != "lossdsl.__main__" and _examples(name)}
    stages = {name.split(".")[1] for name in with_examples}
    assert {"language", "analysis", "lowering", "cli"} <= stages, stages
    assert {"lossdsl.analysis.witness", "lossdsl.lowering.lower"} <= with_examples
