"""Every formula the checks accept runs: formulas derived from the grammar that have no errors against the
reference shapes are lowered and evaluated with their gradients. A TensorFlow error here is a check that
let a formula through (the batch dimension against a weight's was one; sparse_cce's labels another)."""

import random
from typing import Iterator

import pytest

import lossdsl
from formula_runner import reference_values, run_formula
from grammar_formulas import REFERENCE_SHAPES, derive, mutate


def accepted_formulas(seed: int, count: int) -> Iterator[str]:
    """``count`` derivations (some hostile, some mutated) that check() accepts against REFERENCE_SHAPES
    (about 1 in 11) and that name no output beyond them (``y_pred.kernel`` selects an output)."""
    rng = random.Random(seed)
    while count:
        text = derive(rng, max_depth=rng.choice([2, 3, 4, 5]), hostile=rng.random() < 0.3)
        text = mutate(rng, text) if rng.random() < 0.3 else text
        if not any(d.is_error for d in lossdsl.check(text, shapes=REFERENCE_SHAPES)) and \
                set(lossdsl.parse(text).references) <= set(REFERENCE_SHAPES):
            count -= 1
            yield text


@pytest.mark.parametrize("seed", range(3))
def test_every_accepted_formula_runs_with_its_gradients(seed):
    references = reference_values()
    for text in accepted_formulas(seed, 40):
        loss, gradients = run_formula(text, references)
        assert loss.shape.num_elements() == 1, text
        assert len(gradients) == len(lossdsl.parse(text).params)
