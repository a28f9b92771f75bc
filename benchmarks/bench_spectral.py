"""spectral_norm(W) of a 1024 x 1024 kernel against TensorFlow's SVD computing only what it needs (issue 13).

    python benchmarks/bench_spectral.py [--rounds 7] [--units 1024]

The goal row: the compiled formula ``spectral_norm(L0.kernel)`` against ``tf.linalg.svd(W,
compute_uv=False)[0]`` (the singular values only), both in a ``tf.function``. A reference row: the value
and its gradient, ours against the hand-written ``tf.linalg.svd(W)[0][0]`` with TensorFlow's gradient.
"""

from __future__ import annotations

import argparse

import keras
import tensorflow as tf

import lossdsl
from timing import alternate, print_results, timed_row

SPECTRAL_GOAL = 1.1


def run(rounds: int = 7, units: int = 1024) -> list[dict]:
    """The spectral-norm rows: the value (the goal) and the value with its gradient (a reference)."""
    model = keras.Sequential([keras.Input((units,)), keras.layers.Dense(units)])
    kernel = model.layers[0].kernel
    term = lossdsl.compile("spectral_norm(L0.kernel)", model)
    ours = tf.function(lambda: term())
    baseline = tf.function(lambda: tf.linalg.svd(kernel, compute_uv=False)[0])

    @tf.function
    def ours_with_gradient():
        with tf.GradientTape() as tape:
            value = term()
        return value, tape.gradient(value, kernel)

    @tf.function
    def hand_written_with_gradient():
        with tf.GradientTape() as tape:
            value = tf.linalg.svd(kernel)[0][0]
        return value, tape.gradient(value, kernel)

    if abs(float(ours()) - float(baseline())) > 1e-4 * float(baseline()):
        raise AssertionError(f"spectral_norm is {float(ours())}, the SVD says {float(baseline())}")
    size = f"{units}x{units}"
    return [
        timed_row(f"spectral_norm of a {size} kernel vs tf.linalg.svd(compute_uv=False) (ms)",
                  alternate(ours, baseline, rounds), SPECTRAL_GOAL, scale=1e3),
        timed_row(f"spectral_norm of a {size} kernel with its gradient vs tf.linalg.svd with its gradient (ms)",
                  alternate(ours_with_gradient, hand_written_with_gradient, rounds), None, scale=1e3),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--units", type=int, default=1024)
    args = parser.parse_args(argv)
    print_results(run(args.rounds, args.units))


if __name__ == "__main__":
    main()
