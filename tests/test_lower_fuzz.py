"""Every formula the checks accept runs: formulas derived from the grammar that have no errors against the
reference shapes are lowered and evaluated with their gradients. A TensorFlow error here is a check that
let a formula through (the batch dimension against a weight's was one; sparse_cce's labels another)."""

import numpy as np
import pytest

import lossdsl
from lossdsl.language.nodes import Gradient, StopGradient
from lossdsl.language.kinds.random_draws import RandomDraw
from formula_runner import accepted_formulas, reference_values, run_formula
from grammar_formulas import REFERENCE_SHAPES

#: The warnings that say a value can leave a function's domain (log of a negative, division by 0): only a
#: formula that got one may give NaN.
DOMAIN_WARNINGS = {"W402", "W403"}


def trained_through(formula) -> tuple[set[str], set[str]]:
    """The parameters a gradient surely reaches: those in the written-out loss outside stop(...), a random
    draw's arguments (they give its shape) and grad(...); and those it may reach, through grad (whose
    value may not depend on them: grad(a + W, W) is ones)."""
    loss = formula.expanded()
    loss = loss.xreplace({node: 0 for node in loss.atoms(StopGradient, RandomDraw)})
    reached = {name for name, param in formula.params.items() if param.symbol in loss.free_symbols}
    surely = loss.xreplace({node: 0 for node in loss.atoms(Gradient)})
    return {name for name, param in formula.params.items() if param.symbol in surely.free_symbols}, reached


def has_nan(tensors) -> bool:
    return any(np.isnan(tensor.numpy()).any() for tensor in tensors if tensor is not None)


def overflowed(tensors) -> bool:
    """Whether a value is infinite: float32 overflow at the runner's values (1e3**1e3**a at a = 0.7), which no
    check rules out (inf - inf and 0 * inf in its gradient are NaN)."""
    return any(np.isinf(tensor.numpy()).any() for tensor in tensors if tensor is not None)


@pytest.mark.parametrize("seed", range(3))
def test_every_accepted_formula_runs_with_its_gradients(seed):
    """A scalar loss; a gradient for the parameters the loss uses outside stop(); no NaN in the loss
    or a gradient unless the check warned that a value can leave a function's domain (or a value overflowed)."""
    references = reference_values()
    for text in accepted_formulas(seed, 40):
        formula = lossdsl.parse(text)
        loss, gradients = run_formula(text, references)
        assert loss.shape.num_elements() == 1, text
        with_gradient = {name for name, gradient in zip(formula.params, gradients) if gradient is not None}
        surely, reached = trained_through(formula)
        assert surely <= with_gradient <= reached, text
        if has_nan([loss, *gradients]) and not overflowed([loss, *gradients]):
            warned = {d.code for d in lossdsl.check(text, shapes=REFERENCE_SHAPES)}
            assert warned & DOMAIN_WARNINGS, f"NaN without a W402/W403 warning: {text}"


# Found by the long run (seed 17): a reduction over a pattern's gradient, grad(f, P), checked f's own
# comprehension over P once per member with P replaced inside it too (a TypeError from the shape check).
KERNELS = [name for name in REFERENCE_SHAPES if name.endswith(".kernel") and name != "L1.kernel.T"]


def test_a_gradient_over_a_pattern_of_a_comprehension_over_it():
    """grad(sum(sum(V.T) for V in P), P) is ones of each member's shape; that of mean(mean(V**2) for V in P)
    is 2V / (members * entries of V)."""
    references = reference_values()
    ones = "sum(square(grad(sum(V.T for V in **.kernel), **.kernel)))"
    squares = "sum(square(grad(mean(square(V) for V in **.kernel), **.kernel)))"
    for text in (ones, squares, "norm(grad(max(b for V in **.kernel), **.kernel))"):
        assert lossdsl.check(text, shapes=REFERENCE_SHAPES) == [], text
    assert float(run_formula(ones, references)[0]) == sum(np.prod(REFERENCE_SHAPES[k]) for k in KERNELS)
    expected = sum(np.sum(np.square(2 * references[k].numpy() / (len(KERNELS) * references[k].numpy().size)))
                   for k in KERNELS)
    np.testing.assert_allclose(float(run_formula(squares, references)[0]), expected, rtol=1e-5)
