"""normal, uniform, normal_like, uniform_like (SPEC §5.8): fresh draws every call, reproducible under
keras.utils.set_random_seed, each call its own draw, shapes, misuse, value ranges for the stability check."""

import keras
import numpy as np
import pytest

import lossdsl
from lossdsl.analysis.shapes import infer_shapes
from lossdsl.lowering.lower import lower
import models
from conftest import where

SHAPES = {"L1.kernel": [3, 4], "y_true": [None, 2], "y_pred": [None, 2]}
DRAWS = "n = normal(3, 2)\nu = uniform(4)\nnl = normal_like(dense_1.kernel)\nul = uniform_like(dense_1.kernel)\n" \
        "sum(n) + sum(u) + sum(nl) + sum(ul)"


def draws(term) -> list[np.ndarray]:
    return [term.terms[name].numpy() for name in ("n", "u", "nl", "ul")]


def test_draws_have_their_shapes_and_are_fresh_at_every_call():
    term = lossdsl.compile(DRAWS, models.sequential())
    first, second = draws(term), draws(term)
    assert [d.shape for d in first] == [(3, 2), (4,), (4, 3), (4, 3)]
    assert all(not np.array_equal(a, b) for a, b in zip(first, second))


def test_the_same_seed_before_compile_gives_the_same_draws():
    keras.utils.set_random_seed(7)
    first = [draws(term) for term in [lossdsl.compile(DRAWS, models.sequential())] for _ in range(2)]
    keras.utils.set_random_seed(7)
    again = [draws(term) for term in [lossdsl.compile(DRAWS, models.sequential())] for _ in range(2)]
    keras.utils.set_random_seed(8)
    other = draws(lossdsl.compile(DRAWS, models.sequential()))
    for step, step_again in zip(first, again):
        for a, b in zip(step, step_again):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], other[0])


def test_two_calls_written_alike_are_two_draws():
    lowered = lower(lossdsl.parse("sum(square(normal(5) - normal(5)))"))
    assert float(lowered({})[""]) > 0
    assert len([op for op in lowered.ops if "keras.random.normal" in op]) == 2


def test_the_distributions():
    values = lower(lossdsl.parse("n = normal(20000)\nu = uniform_like(n)\nsum(n) + sum(u)"))({})
    normal, uniform = values["n"].numpy(), values["u"].numpy()
    assert abs(normal.mean()) < 0.05 and abs(normal.std() - 1) < 0.05
    assert uniform.min() >= 0 and uniform.max() < 1 and abs(uniform.mean() - 0.5) < 0.02


def test_a_random_formula_trains_in_fit_with_a_new_draw_each_step():
    keras.utils.set_random_seed(3)
    model = lossdsl.attach(models.sequential(), "mse(y_true, y_pred) + 0.01 * sum(square(dense_1.kernel "
                                                "+ 0.1 * normal_like(dense_1.kernel)))")
    model.compile(optimizer="sgd")
    x, y = np.ones((8, 4), np.float32), np.zeros((8, 2), np.float32)
    history = model.fit(x, y, epochs=3, batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_random_draws_under_xla():
    term = lossdsl.compile("sum(square(normal_like(dense_1.kernel)))", models.sequential(), jit_compile=True)
    first, second = float(term()), float(term())
    assert first > 0 and second > 0 and first != second


SHAPED = [
    ("r = normal(6, 1)\nsum(r)", {"r": (6, 1), "": ()}),
    ("r = uniform(2, 3, 4)\nsum(r)", {"r": (2, 3, 4), "": ()}),
    ("r = normal_like(L1.kernel)\nsum(r)", {"r": (3, 4), "": ()}),
    ("r = uniform_like(y_pred)\nsum(r)", {"r": (None, 2), "": ()}),
]


@pytest.mark.parametrize("src, expected", SHAPED)
def test_shapes(src, expected):
    assert infer_shapes(lossdsl.parse(src), SHAPES) == (expected, [])


MISUSED = [
    ("sum(normal())", ("E202", 1, 5)),
    ("sum(normal(0, 2))", ("E213", 1, 12)),
    ("sum(uniform(2.5))", ("E213", 1, 13)),
    ("sum(uniform(n))", ("E213", 1, 13)),  # the shape is constant
    ("sum(normal(6, shape=1))", ("E203", 1, 15)),
    ("sum(normal_like())", ("E202", 1, 5)),
    ("sum(normal_like(L1.kernel, 2))", ("E202", 1, 28)),
    ("normal(6) + 1", ("E303", 1, 1)),
    ("sum(normal(3) + L1.kernel)", ("E301", 1, 5)),
]


@pytest.mark.parametrize("src, expected", MISUSED)
def test_misuse_is_a_diagnostic_at_its_place(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES) if d.is_error][:1] == [expected]


STABILITY = [
    ("sum(log(uniform(6)))", [("W402", 1, 5)]),  # uniform draws may be 0
    ("sum(log(1 + uniform(6)))", []),
    ("sum(log(normal(6)))", [("W402", 1, 5)]),
    ("sum(sqrt(uniform_like(L1.kernel)))", []),  # >= 0
    ("s * sum(uniform(6))", [("W401", 1, 1)]),  # a draw >= 0 times s: unbounded as s -> -inf
]


@pytest.mark.parametrize("src, expected", STABILITY)
def test_stability(src, expected):
    assert [where(src, d) for d in lossdsl.check(src, shapes=SHAPES)] == expected


def test_latex_hides_the_draw_number():
    assert lossdsl.parse("sum(normal(6, 1)) + sum(uniform_like(L1.kernel))").latex() == (
        r"\operatorname{sum}\left(\operatorname{normal}\left(6, 1\right)\right)"
        r" + \operatorname{sum}\left(\operatorname{uniform\_like}\left(\mathtt{L1.kernel}\right)\right)")


def test_saved_and_loaded_the_draws_go_on_where_they_were(tmp_path):
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = np.random.default_rng(1).normal(size=(16, 2)).astype("float32")

    def attached():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="out")])
        wrapped = lossdsl.attach(model, "mse(y_true, y_pred) + 0.1*sum(out.kernel * normal_like(out.kernel))")
        wrapped.compile(optimizer=keras.optimizers.SGD(0.1))
        return wrapped
    uninterrupted, interrupted = attached(), attached()
    uninterrupted.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    interrupted.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    interrupted.save(tmp_path / "m.keras")
    keras.utils.set_random_seed(123)  # a new generator would draw from elsewhere: the state must come from the file
    loaded = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(loaded.term.seed_generator.state.numpy(),
                                  interrupted.term.seed_generator.state.numpy())
    loaded.compile(optimizer=keras.optimizers.SGD(0.1))
    loaded.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    for ours, theirs in zip(loaded.inner.weights, uninterrupted.inner.weights):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-6)
