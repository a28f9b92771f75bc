"""Every formula the checks accept runs: formulas derived from the grammar that have no errors against the
reference shapes are lowered and evaluated with their gradients. A TensorFlow error here is a check that
let a formula through (the batch dimension against a weight's was one; sparse_cce's labels another)."""

import pytest

import lossdsl
from formula_runner import accepted_formulas, reference_values, run_formula


@pytest.mark.parametrize("seed", range(3))
def test_every_accepted_formula_runs_with_its_gradients(seed):
    references = reference_values()
    for text in accepted_formulas(seed, 40):
        loss, gradients = run_formula(text, references)
        assert loss.shape.num_elements() == 1, text
        assert len(gradients) == len(lossdsl.parse(text).params)
