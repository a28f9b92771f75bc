"""Training speed: fit() with lossdsl.attach() against the best hand-written Keras 3 equivalent.

    python benchmarks/bench_fit.py [--rounds 9] [--steps 30]

The hand-written model is the wrapper Keras 3 needs for a loss over weights and a new trainable
scalar: a ``keras.Model`` owning ``a`` through ``add_weight`` and calling ``self.add_loss(...)`` in
``call()``. Both train the same MLP from the same weights with the same optimizer and the same formula
``a*norm(L0.kernel) + norm(L1.kernel)`` (``a`` positive) on top of ``mse``. A callback stamps the end of
every step; a round's time per step is the median gap between stamps, the first step excluded.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

import lossdsl
from lossdsl.language.formula import Parameter
from lossdsl.lowering.parameters import unconstrain
from timing import print_results, row

FIT_GOAL = 1.03
FORMULA = "a*norm(L0.kernel) + norm(L1.kernel)\nwhere a: positive = 0.5"


def mlp(features: int, units: int):
    """Input -> Dense(units, relu) -> Dense(units, relu) -> Dense(10), always the same initial weights."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((features,)), keras.layers.Dense(units, activation="relu"),
                             keras.layers.Dense(units, activation="relu"), keras.layers.Dense(10)])


class Regularized(keras.Model):
    """``a*norm(W0) + norm(W1)`` by hand: ``a = softplus(raw)`` owned through add_weight, add_loss in call()."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.inner = model
        start = unconstrain(Parameter("a", kind="positive"), 0.5)
        self.a = self.add_weight(name="a", shape=(), initializer=keras.initializers.Constant(start))

    def call(self, x, training=None):
        first, second = self.inner.layers[0].kernel, self.inner.layers[1].kernel
        self.add_loss(tf.math.softplus(self.a) * tf.norm(first) + tf.norm(second))
        return self.inner(x, training=training)


class StepClock(keras.callbacks.Callback):
    """Stamps the end of every training step."""

    def on_epoch_begin(self, epoch, logs=None):
        self.stamps = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(time.perf_counter())

    def seconds_per_step(self) -> float:
        """The median gap between consecutive steps of the last epoch."""
        return statistics.median(b - a for a, b in zip(self.stamps, self.stamps[1:]))


def fit_data(steps: int, batch: int, features: int) -> tuple:
    """The same regression data for every fit() benchmark: ``steps`` batches of ``batch`` samples, 10 targets."""
    x = np.random.default_rng(0).normal(size=(steps * batch, features)).astype("float32")
    y = np.random.default_rng(1).normal(size=(steps * batch, 10)).astype("float32")
    return x, y


def fit_step(rounds: int = 9, steps: int = 30, features: int = 256, units: int = 512, batch: int = 128) -> dict:
    """Median time per training step of attach() against the hand-written wrapper, alternating."""
    x, y = fit_data(steps, batch, features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        ours = lossdsl.attach(mlp(features, units), FORMULA)
    baseline = Regularized(mlp(features, units))
    for model in (ours, baseline):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=False)
    ours_time, baseline_time, ratio = alternating_fits(ours, baseline, x, y, batch, rounds)
    return row(f"fit: step, MLP {features}-{units}-{units}-10, batch {batch} (ms)", ours_time, baseline_time,
               FIT_GOAL, scale=1e3, ratio=ratio)


def alternating_fits(ours, baseline, x, y, batch: int, rounds: int) -> tuple[float, float, float]:
    """Median seconds per step of two compiled models fitting the same data in alternating rounds, and
    the median of each round's ratio (a round's pair ran back to back). They must start at the same loss."""
    _same_loss(*(model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)["loss"]
                 for model in (ours, baseline)))
    clock = StepClock()
    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    sides = [("ours", ours), ("baseline", baseline)]
    for model in (ours, baseline):  # warm-up: traces the train step
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=[clock])
    for round_ in range(rounds):
        for name, model in sides if round_ % 2 == 0 else sides[::-1]:
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
            times[name].append(clock.seconds_per_step())
    ratios = [a / b for a, b in zip(times["ours"], times["baseline"])]
    return statistics.median(times["ours"]), statistics.median(times["baseline"]), statistics.median(ratios)


def _same_loss(ours: float, baseline: float) -> None:
    # Both models start from the same weights: a different loss would mean different math is timed.
    if abs(ours - baseline) > 1e-4 * max(1.0, abs(baseline)):
        raise AssertionError(f"attach() evaluates to {ours}, the hand-written model to {baseline}")


def run(rounds: int = 9, steps: int = 30) -> list[dict]:
    """The fit row."""
    return [fit_step(rounds, steps)]


def command_line(run_rounds, doc: str, argv: list[str] | None = None) -> None:
    """``--rounds`` and ``--steps`` from the command line, then the rows of ``run_rounds`` printed."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args(argv)
    print_results(run_rounds(args.rounds, args.steps))


def main(argv: list[str] | None = None) -> None:
    command_line(run, __doc__, argv)


if __name__ == "__main__":
    main()
