"""The verdicts of SPEC §5.9 hold in training: one small Keras model per verdict class.

Unbounded (W401 along a = b): the loss falls without bound within a few hundred steps. Collapse (W406): the
parameter runs to its domain's end. Clean: the loss and the parameter settle. And attach() warns for the
warnings, not for the note I401.
"""

import warnings

import keras
import numpy as np
import pytest

import lossdsl
from lossdsl import LossWarning

EPOCHS, BATCHES = 6, 50  # 300 steps: fit()'s cost per epoch (about 0.1 s here) is paid 6 times, not 300


def model_and_data():
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16 * BATCHES, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 1)) + 0.3 * rng.normal(size=(16 * BATCHES, 1))).astype("float32")
    return model, x, y


def train(formula: str, optimizer) -> dict[str, list[float]]:
    """Per epoch of 50 steps: the mean loss, and each parameter's value at the end of the epoch."""
    model, x, y = model_and_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LossWarning)
        model = lossdsl.attach(model, formula)
    model.compile(optimizer=optimizer)
    return model.fit(x, y, epochs=EPOCHS, batch_size=16, verbose=0).history


@pytest.mark.slow
def test_unbounded_along_a_path_the_loss_falls_without_bound():
    formula = "mse(y_true, y_pred) + (a - b)**2 - a - b"  # bounded in a alone and in b alone
    (diagnostic,) = [d for d in lossdsl.check(formula) if d.code.startswith(("W4", "I4"))]
    assert diagnostic.code == "W401" and "as a = b -> +inf" in diagnostic.message
    history = train(formula, keras.optimizers.SGD(0.05))
    # a and b climb together, about 0.05 per step each, and the loss falls with -(a + b), epoch after epoch
    assert all(later < earlier - 3 for earlier, later in zip(history["loss"], history["loss"][1:]))
    assert history["loss"][-1] < -25 and abs(history["a"][-1] - history["b"][-1]) < 1e-3


@pytest.mark.slow
def test_collapse_drives_the_parameter_to_its_end():
    formula = "mse(y_true, y_pred) + a*norm(hidden.kernel)\nwhere a: positive = 1.0"
    assert [d.code for d in lossdsl.check(formula)] == ["W406"]
    history = train(formula, keras.optimizers.Adam(0.05))
    # from 1.0 toward 0, every epoch: the penalty is being switched off
    assert all(later < earlier for earlier, later in zip(history["a"], history["a"][1:]))
    assert history["a"][-1] < 0.05


@pytest.mark.slow
def test_a_clean_formula_settles():
    formula = "exp(-s)*mse(y_true, y_pred) + s + 0.1*s**2"
    assert lossdsl.check(formula) == []
    history = train(formula, keras.optimizers.Adam(0.05))
    # at the optimum exp(-s)*mse = 1 + 0.2*s: s stops moving, finite, and so does the loss
    assert np.all(np.isfinite(history["loss"])) and abs(history["s"][-1] - history["s"][-2]) < 0.05
    assert -5 < history["s"][-1] < 5 and abs(history["loss"][-1] - history["loss"][-2]) < 0.05


def test_attach_warns_for_warnings_and_not_for_notes():
    for formula, warned in [("exp(-s)*mse(y_true, y_pred) + s", False),
                            ("mse(y_true, y_pred) + a*norm(hidden.kernel)\nwhere a: positive", True)]:
        model, _, _ = model_and_data()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lossdsl.attach(model, formula)
        assert any(issubclass(w.category, LossWarning) for w in caught) == warned, formula
