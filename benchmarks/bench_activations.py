"""Training speed with an activity term: ``0.01*mean(square(hidden.output))`` by lossdsl.attach() against
the hand-written Keras 3 equivalent (issue 12).

    python benchmarks/bench_activations.py [--rounds 9] [--steps 30]

The hand-written model exposes the layer as an extra output of the Functional model and adds the
penalty with ``add_loss`` in a wrapper's ``call()``: one forward pass gives the prediction and the
activation. Both train the same MLP from the same weights with ``mse`` and the same optimizer; a round's
time per step is the median gap between step ends (bench_fit's clock), and rounds alternate.
"""

from __future__ import annotations

import keras
import tensorflow as tf

import lossdsl
from bench_fit import alternating_fits, command_line, fit_data
from timing import row

ACTIVITY_GOAL = 1.05
FORMULA = "0.01*mean(square(hidden.output))"


def mlp(features: int, units: int) -> keras.Model:
    """Input -> Dense(units, relu) -> Dense(units, relu, name="hidden") -> Dense(10), fixed initial weights."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((features,))
    first = keras.layers.Dense(units, activation="relu")(inputs)
    hidden = keras.layers.Dense(units, activation="relu", name="hidden")(first)
    return keras.Model(inputs, keras.layers.Dense(10)(hidden))


class ActivityByHand(keras.Model):
    """The penalty by hand: the model with 'hidden' as an extra output, add_loss in call()."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.exposed = keras.Model(model.inputs, [model.outputs[0], model.get_layer("hidden").output])

    def call(self, x, training=None):
        prediction, hidden = self.exposed(x, training=training)
        self.add_loss(0.01 * tf.reduce_mean(tf.square(hidden)))
        return prediction


def activity_step(rounds: int = 9, steps: int = 30, features: int = 256, units: int = 512, batch: int = 128) -> dict:
    """Median time per training step with the activity term, ours against the hand-written model."""
    x, y = fit_data(steps, batch, features)
    ours, baseline = lossdsl.attach(mlp(features, units), FORMULA), ActivityByHand(mlp(features, units))
    for model in (ours, baseline):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=False)
    ours_time, baseline_time, ratio = alternating_fits(ours, baseline, x, y, batch, rounds)
    return row(f"fit: activity term, MLP {features}-{units}-{units}-10, batch {batch} (ms)",
               ours_time, baseline_time, ACTIVITY_GOAL, scale=1e3, ratio=ratio)


def run(rounds: int = 9, steps: int = 30) -> list[dict]:
    """The activity row."""
    return [activity_step(rounds, steps)]


def main(argv: list[str] | None = None) -> None:
    command_line(run, __doc__, argv)


if __name__ == "__main__":
    main()
