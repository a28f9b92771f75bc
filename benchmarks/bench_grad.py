"""Training speed with a gradient penalty on the inputs (SPEC §5.7): ``grad(y_pred, inputs)`` attached to a
model against the same penalty in a hand-written ``train_step`` with nested tapes (issue 13, item 3).

    python benchmarks/bench_grad.py [--rounds 9] [--steps 30]

The hand-written model is the WGAN-GP recipe: an inner tape watches the inputs around the forward pass, its
gradient is penalized, and an outer tape differentiates the whole loss (double backprop). Both train the
same MLP from the same weights with the same optimizer; a round's time per step is the median gap between
step ends (bench_fit's clock), and rounds alternate.
"""

from __future__ import annotations

import keras
import tensorflow as tf

import lossdsl
from bench_activations import mlp
from bench_fit import alternating_fits, command_line, fit_data
from timing import row

GRAD_GOAL = 1.1
FORMULA = "mse(y_true, y_pred) + 10*mean(square(norm(grad(y_pred, inputs), axis=1) - 1))"


def penalized_loss(model, x, y, training: bool):
    """The formula written by hand: nested tapes, the inner one watching the inputs."""
    with tf.GradientTape() as inner:
        inner.watch(x)
        prediction = model(x, training=training)
    slopes = tf.norm(inner.gradient(prediction, x), axis=1)
    return tf.reduce_mean(tf.square(y - prediction)) + 10 * tf.reduce_mean(tf.square(slopes - 1))


class PenaltyByHand(keras.Model):
    """The gradient penalty in a hand-written train_step (and test_step, for the starting-loss check)."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.net = model
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, x, training=None):
        return self.net(x, training=training)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as outer:
            loss = penalized_loss(self.net, x, y, training=True)
        gradients = outer.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_variables))
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        x, y = data
        self.loss_tracker.update_state(penalized_loss(self.net, x, y, training=False))
        return {"loss": self.loss_tracker.result()}


def penalty_step(rounds: int = 9, steps: int = 30, features: int = 256, units: int = 512, batch: int = 128) -> dict:
    """Median time per training step with the gradient penalty, ours against the hand-written train_step."""
    x, y = fit_data(steps, batch, features)
    ours, baseline = lossdsl.attach(mlp(features, units), FORMULA), PenaltyByHand(mlp(features, units))
    for model in (ours, baseline):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    ours_time, baseline_time, ratio = alternating_fits(ours, baseline, x, y, batch, rounds)
    return row(f"fit: gradient penalty on inputs vs nested tapes in train_step, MLP {features}-{units}-{units}-10, "
               f"batch {batch} (ms)", ours_time, baseline_time, GRAD_GOAL, scale=1e3, ratio=ratio)


def run(rounds: int = 9, steps: int = 30) -> list[dict]:
    """The gradient penalty row."""
    return [penalty_step(rounds, steps)]


def main(argv: list[str] | None = None) -> None:
    command_line(run, __doc__, argv)


if __name__ == "__main__":
    main()
