"""Uncertainty weighting of two tasks (Kendall et al.): each task's loss is weighted by exp(-s_i)
and s_i is added, so the learned s_i balance the tasks.

The loss is bounded below only while neither task is fitted perfectly: as a data loss tends to 0,
exp(-s)*loss + s falls with s. The linter says so with a note (I401, severity info): harmless for noisy
data like this, and `+ 0.1*s1**2` would make the formula clean.
Run: python examples/uncertainty_weighting.py
"""

import keras
import numpy as np

import lossdsl
from _data import regression

FORMULA = """
task_a = mse(y_true.height, y_pred.height)
task_b = mae(y_true.weight, y_pred.weight)
exp(-s1) * task_a + s1 + exp(-s2) * task_b + s2
"""


def build_model() -> keras.Model:
    inputs = keras.Input(shape=(8,))
    hidden = keras.layers.Dense(32, activation="relu")(inputs)
    height = keras.layers.Dense(1, name="height")(hidden)
    weight = keras.layers.Dense(1, name="weight")(hidden)
    return keras.Model(inputs, {"height": height, "weight": weight})


def main() -> dict:
    keras.utils.set_random_seed(0)
    x, y = regression(outputs=2)
    targets = {"height": y[:, :1], "weight": 10.0 * y[:, 1:]}  # the second task is ten times noisier
    notes = lossdsl.check(FORMULA)
    for note in notes:
        print("lint:", note.code, note.severity, note.message)
    assert [(n.code, n.severity) for n in notes] == [("I401", "info")] * 2, "one note per task"
    model = lossdsl.attach(build_model(), FORMULA)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    history = model.fit(x, targets, epochs=8, batch_size=64, verbose=2)
    params = model.params
    print("learned log-variances:", {k: round(v, 3) for k, v in params.items()})
    assert params["s2"] > params["s1"], "the noisier task should get the larger s"
    assert np.all(np.isfinite(history.history["loss"]))
    return history.history


if __name__ == "__main__":
    main()
