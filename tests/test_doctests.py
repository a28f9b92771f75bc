"""The examples in the docstrings of the model-free modules run and print what they show."""

import doctest
import importlib

import pytest

# Modules that import no TensorFlow; the ones with TensorFlow examples are exercised by their own tests.
MODULES = ["checks", "diagnostics", "formula", "frontend", "functions", "pyscan", "shapes", "source", "stability"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(f"lossdsl.{name}")
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"lossdsl.{name} has no docstring example"
    assert result.failed == 0
