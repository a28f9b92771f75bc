"""Patterns over many variables (SPEC §5.2): as cheap as Keras' per-layer regularizers, no weight copied.

    python benchmarks/bench_patterns.py [--rounds 5] [--steps 20] [--units 4096]

- fit: ``1e-4*sum(square(**.kernel))`` attached to a 50-layer CNN against the same CNN with Keras'
  ``kernel_regularizer=L2(1e-4)`` on every layer (same weights, same loss), alternating rounds.
- compile: ``lossdsl.compile`` of that formula on ``keras.applications.ResNet50(weights=None)``, TensorFlow
  and the model already loaded, against the 1 s budget.
- norm: ``norm(**.kernel)`` over ~100M weights against one read of as many float32 values, without XLA;
  and the process's peak resident memory while it runs, against before (a copy of the weights would
  add their size).
"""

from __future__ import annotations

import argparse
import resource
import time
import warnings

import keras
import numpy as np
import tensorflow as tf

import lossdsl
from bench_bandwidth import big_model
from bench_fit import alternating_fits
from timing import alternate, print_results, row, timed_row

FORMULA = "1e-4*sum(square(**.kernel))"
FIT_GOAL = 1.02  # "at most 1.0x, within 2 %": the noise of a shared machine
COMPILE_BUDGET = 1.0
NORM_GOAL = 1.5


def cnn(layers: int, channels: int, size: int, regularizer=None):
    """``layers`` 3x3 convolutions (same padding, ReLU), then a Dense head: always the same initial weights."""
    keras.utils.set_random_seed(0)
    stack = [keras.Input((size, size, channels))]
    stack += [keras.layers.Conv2D(channels, 3, padding="same", activation="relu", kernel_regularizer=regularizer)
              for _ in range(layers - 1)]
    stack += [keras.layers.Flatten(), keras.layers.Dense(10, kernel_regularizer=regularizer)]
    return keras.Sequential(stack)


def regularizer_fit(rounds: int = 5, steps: int = 20, layers: int = 50, channels: int = 16, size: int = 8,
                    batch: int = 32) -> dict:
    """Median time per fit() step: the pattern against Keras' L2 regularizer on every layer."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * batch, size, size, channels)).astype("float32")
    y = rng.normal(size=(steps * batch, 10)).astype("float32")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        ours = lossdsl.attach(cnn(layers, channels, size), FORMULA)
    baseline = cnn(layers, channels, size, keras.regularizers.L2(1e-4))
    for model in (ours, baseline):
        model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="mse", jit_compile=False)
    ours_time, baseline_time, ratio = alternating_fits(ours, baseline, x, y, batch, rounds)
    return row(f"fit: step, {layers}-layer CNN, {FORMULA} vs L2 regularizers (ms)", ours_time, baseline_time,
               FIT_GOAL, goal_text="ratio <= 1 (within 2 %)", scale=1e3, ratio=ratio)


def resnet_compile() -> dict:
    """Seconds to compile the pattern on ResNet50 (analysis, members, lowering), against the 1 s budget."""
    model = keras.applications.ResNet50(weights=None)
    start = time.perf_counter()
    term = lossdsl.compile(FORMULA, model)
    seconds = time.perf_counter() - start
    members = len(term.analysis.members["**.kernel"])
    return row(f"compile: {FORMULA} on ResNet50 ({members} kernels) vs the budget (s)", seconds, COMPILE_BUDGET,
               1.0, goal_text="< 1 s")


def pattern_norm(rounds: int = 5, units: int = 4096, layers: int = 6, calls: int = 2) -> list[dict]:
    """norm(**.kernel) against one read of as many bytes (no XLA); and peak memory while it runs."""
    model = big_model(units, layers)
    count = sum(int(tf.size(layer.kernel)) for layer in model.layers)
    flat = tf.Variable(tf.ones([count]))
    term = lossdsl.compile("norm(**.kernel)", model)
    ours, read = tf.function(lambda: term()), tf.function(lambda: tf.reduce_sum(flat))
    read(), ours.get_concrete_function()
    before = _peak_rss()
    if abs(float(ours()) - count ** 0.5) > 1e-3 * count ** 0.5:  # every weight is 1
        raise AssertionError(f"norm(**.kernel) is {float(ours())}, expected {count ** 0.5}")
    grown = _peak_rss() - before
    size = f"{count / 1e6:.0f}M weights"
    speed = timed_row(f"norm(**.kernel) of {size} vs one read, no XLA (ms)", alternate(ours, read, rounds, calls, 1),
                      NORM_GOAL, scale=1e3)
    weights_mb = 4 * count / 2**20
    memory = row(f"norm(**.kernel) of {size}: peak memory added vs the weights' size (MB)", max(grown, 1e-3),
                 weights_mb, 0.25, goal_text="no copy: < 1/4 of the weights")
    return [speed, memory]


def _peak_rss() -> float:
    """The process's peak resident memory so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(rounds: int = 5, steps: int = 20, units: int = 4096) -> list[dict]:
    """The pattern rows."""
    return [regularizer_fit(rounds, steps), resnet_compile(), *pattern_norm(rounds, units)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--units", type=int, default=4096)
    args = parser.parse_args(argv)
    print_results(run(args.rounds, args.steps, args.units))


if __name__ == "__main__":
    main()
