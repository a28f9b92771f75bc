"""Numbers are judged against float32, the type the lowering computes in: what float32 cannot hold is an
error (E110 in the formula, E205 in a declaration) with the representable range in the hint, never a bare
ValueError in compile() or a loss that trains into inf or NaN. Tensors the formula creates by itself
(eye(n), I) are limited to MAX_CREATED_ENTRIES entries."""

from pathlib import Path

import keras
import numpy as np
import pytest

import lossdsl
from lossdsl.language.constant_parts import MAX_CREATED_ENTRIES
from lossdsl.language.floats import FLOAT32_RANGE

from conftest import where

DATA = "mse(y_true, y_pred) + "

# formula, its errors as (code, line, column), the message of the first
REFUSED = [
    (DATA + "a**2\nwhere a: real = 1e300", [("E205", 2, 17)], "the initial value 1e+300 of 'a' is beyond float32"),
    (DATA + "a**2\nwhere a: positive = 1e39", [("E205", 2, 21)], "the initial value 1e+39 of 'a' is beyond float32"),
    (DATA + "a**2\nwhere a: nonneg = -1e300", [("E205", 2, 19)], "initial value -1e+300 of 'a' is not >= 0"),
    ("a**2\nwhere a: const = -1e39", [("E205", 2, 18)], "the initial value -1e+39 of 'a' is beyond float32"),
    (DATA + "a**2\nwhere a: (-1e308, 1e308)", [("E205", 2, 10)],
     "the interval (-1e+308, 1e+308) has a bound beyond float32"),
    (DATA + "a**2\nwhere a: (0, 1.7e308)", [("E205", 2, 10)], "the interval (0, 1.7e+308) has a bound beyond float32"),
    (DATA + "a**2\nwhere a: (-3e38, 3e38)", [("E205", 2, 10)],
     "the interval (-3e+38, 3e+38) is wider than float32 holds (upper - lower > 3.403e+38)"),
    (DATA + "a**2\nwhere a: (1, 1.00000001)", [("E205", 2, 10)],
     "the interval (1, 1.00000001) is empty in float32 (its bounds round to the same number)"),
    (DATA + "a**2\nwhere a: positive = 1e-320", [("E205", 2, 21)],
     "the initial value 9.99989e-321 of 'a' is 0 in float32, which a positive parameter never reaches"),
    (DATA + "a**2\nwhere a: nonneg = 0", [("E205", 2, 19)],
     "the initial value 0 of 'a' is 0, which a nonneg parameter never reaches"),
    ("mse(y_true, y_pred) + 1e300*norm(out.kernel)", [("E110", 1, 23)], "the constant 1e300 is too large for float32"),
    ("mse(y_true, y_pred) + exp(100)*norm(out.kernel)", [("E110", 1, 23)],
     "the constant exp(100) is too large for float32"),
    ("mse(y_true, y_pred) + 1e-50*norm(out.kernel)", [("E110", 1, 23)], "the constant 1e-50 is too small for float32"),
    ("mse(y_true, y_pred) + a*(1e-30*1e-30)", [("E110", 1, 26)], "the constant 1e-30*1e-30 is too small for float32"),
    (DATA + "a**2\nwhere a: positive = 1e-40", [("E205", 2, 21)],  # subnormal: TensorFlow flushes it to 0
     "the initial value 1e-40 of 'a' is 0 in float32, which a positive parameter never reaches"),
]


@pytest.mark.parametrize("src, expected, message", REFUSED, ids=[s.split("+ ", 1)[-1][:40] for s, *_ in REFUSED])
def test_what_float32_cannot_hold_is_an_error(src, expected, message):
    errors = [d for d in lossdsl.check(src) if d.is_error]
    assert [where(src, d) for d in errors] == expected
    assert errors[0].message == message
    if "float32" in message and "never reaches" not in message:
        assert FLOAT32_RANGE in errors[0].hint  # "... holds magnitudes from about 1.2e-38 to 3.4e38 ..."


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="out")])


@pytest.mark.parametrize("src", [src for src, *_ in REFUSED])
def test_compile_raises_the_loss_error_not_a_value_error(model, src):
    with pytest.raises(lossdsl.LossError):
        lossdsl.compile(src, model)


# formula at the edge of float32 that is accepted, and its value from numpy in float32
ACCEPTED = [
    ("a**2\nwhere a: real = 1e19", lambda w: np.float32(1e19) ** 2),
    ("a\nwhere a: positive = 1.2e-38", lambda w: np.float32(1.2e-38)),
    ("a\nwhere a: (0, 3e38) = 1.5e38", lambda w: np.float32(1.5e38)),
    ("3.4e38 * (a - 1)\nwhere a: (0, 2) = 1.5", lambda w: np.float32(3.4e38) * np.float32(0.5)),
    ("2**-126 * 2**100 * norm(out.kernel)", lambda w: 2.0**-26 * np.linalg.norm(w)),
]


@pytest.mark.parametrize("src, expected", ACCEPTED)
def test_what_float32_holds_is_computed_finite(model, src, expected):
    assert not [d for d in lossdsl.check(src) if d.is_error]
    value = float(lossdsl.compile(src, model)())
    assert np.isfinite(value)
    np.testing.assert_allclose(value, expected(model.get_layer("out").kernel.numpy()), rtol=1e-5)


# ------------------------------------------------------------------- sizes of created tensors
LARGEST_EYE = int(MAX_CREATED_ENTRIES ** 0.5)  # 10,000

# formula, the shape of L1.kernel (None: no shapes table), its errors as (code, line, column)
CREATED = [
    (f"norm(eye({LARGEST_EYE}))", None, []),
    (f"norm(eye({LARGEST_EYE + 1}))", None, [("E213", 1, 6)]),
    ("norm(eye(100000))", None, [("E213", 1, 6)]),  # exhausted memory when called
    ("a * sum(eye(3000000000))", None, [("E213", 1, 9)]),  # a negative dimension inside TensorFlow
    ("norm(L1.kernel.T @ L1.kernel - I)", [LARGEST_EYE, LARGEST_EYE], []),
    ("norm(L1.kernel.T @ L1.kernel - I)", [LARGEST_EYE + 1, LARGEST_EYE + 1], [("E307", 1, 6)]),
    ("norm(L1.kernel - 2*I)", [3_000_000_000] * 2, [("E307", 1, 6)]),
    ("norm(I @ L1.kernel)", [3_000_000_000] * 2, []),  # I @ x is x: nothing is created
]


@pytest.mark.parametrize("src, shape, expected", CREATED)
def test_tensors_the_formula_creates_are_limited(diagnose, src, shape, expected):
    found, errors = diagnose(src, **({"shapes": {"L1.kernel": shape}} if shape else {}))
    assert found == expected
    if errors:
        assert errors[0].message.endswith(f"entries; a tensor the formula creates holds at most "
                                          f"{MAX_CREATED_ENTRIES:,} entries")


def test_an_identity_within_the_limit_runs(model):
    np.testing.assert_allclose(float(lossdsl.compile("norm(eye(300)) + 0*norm(out.kernel)", model)()),
                               np.sqrt(300), rtol=1e-6)


def test_the_reliability_page_states_the_limit():
    page = (Path(__file__).resolve().parents[1] / "docs" / "reliability.md").read_text(encoding="utf-8")
    row = f"| a tensor the formula creates (`eye(n)`, an `I` sized by context) | {MAX_CREATED_ENTRIES:,} entries"
    assert row in page
