"""I sized through broadcasting: in ``R @ R.T * (1 - I)`` the identity takes the size of R @ R.T, though
it first meets the scalar 1 (Keras' OrthogonalRegularizer written naturally)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
from lossdsl.lowering.lower import lower
from lossdsl.language.source import Source

W = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
M = np.random.default_rng(1).normal(size=(4, 4)).astype("float32")
EYE = np.eye(4, dtype="float32")

# (formula over M = L0.kernel (4, 4), numpy reference)
VALUES = [
    ("sum(L0.kernel * (1 - I))", (M * (1 - EYE)).sum()),
    ("sum((1 - I) * L0.kernel)", ((1 - EYE) * M).sum()),
    ("sum(L0.kernel - (1 - I))", (M - (1 - EYE)).sum()),
    ("sum(abs(L0.kernel + 2*(1 - I)))", np.abs(M + 2 * (1 - EYE)).sum()),
    ("sum((2 - I) * (1 + I) * L0.kernel)", ((2 - EYE) * (1 + EYE) * M).sum()),
    ("sum(L0.kernel * (1 - I) + 3 * (L0.kernel - I))", (M * (1 - EYE) + 3 * (M - EYE)).sum()),
    ("norm(L0.kernel.T @ L0.kernel - I)", np.linalg.norm(M.T @ M - EYE)),  # the direct partner, as before
]


@pytest.mark.parametrize("src, expected", VALUES)
def test_identity_expressions_take_the_size_of_what_they_meet(src, expected):
    assert [d for d in lossdsl.check(src, shapes={"L0.kernel": [4, 4]}) if d.is_error] == []
    value = lower(lossdsl.parse(src))({"L0.kernel": tf.constant(M)})[""]
    np.testing.assert_allclose(float(value), expected, rtol=1e-5)


@pytest.mark.parametrize("src, expected", [
    ("norm(1 - I)", ("E307", 1, 6)),                               # nothing to take a size from
    ("sum((1 - I) * L1.kernel)", ("E307", 1, 5)),                  # (6, 4) is not square
    ("sum((1 - I) * y_pred)", ("E307", 1, 5)),                     # square for one batch size only
])
def test_identity_expressions_without_a_square_partner(src, expected):
    found = [d for d in lossdsl.check(src, shapes={"L1.kernel": [6, 4], "y_pred": [None, 4]}) if d.is_error]
    where = Source(src).position(found[0].span.start)
    assert (found[0].code, where.line, where.column) == expected


def test_keras_orthogonal_regularizer_written_naturally():
    src = ("R = (L0.kernel.T / sqrt(sum(square(L0.kernel), axis=1))).T\n"
           "0.01 * 0.5 * sum(abs(R @ R.T * (1 - I))) / (6 * 5 / 2)")
    assert [d.code for d in lossdsl.check(src, shapes={"L0.kernel": [6, 4]}) if d.is_error] == []
    value = lower(lossdsl.parse(src))({"L0.kernel": tf.constant(W)})[""]
    expected = keras.regularizers.OrthogonalRegularizer(factor=0.01, mode="rows")(tf.constant(W))
    np.testing.assert_allclose(float(value), float(expected), rtol=1e-5)
