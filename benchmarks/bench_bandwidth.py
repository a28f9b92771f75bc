"""Close to the machine's limit: the norm of every weight of a ~100M-parameter model, against one read of as many bytes.

    python benchmarks/bench_bandwidth.py [--rounds 7] [--units 4096] [--layers 6]

Ours is the compiled formula ``sqrt(norm(L0.kernel)**2 + norm(L0.bias)**2 + ...)`` with XLA. The
baseline reads the same number of float32 values once: ``tf.reduce_sum`` over one flat variable, also
with XLA. Two reference rows: ours against the same norm hand-written in TensorFlow (both XLA), and
ours against the read without XLA. Memory: 2 x 4 bytes per parameter (800 MB at the default size).
"""

from __future__ import annotations

import argparse
import warnings

import keras
import tensorflow as tf

import lossdsl
from timing import alternate, print_results, timed_row

BANDWIDTH_GOAL = 1.5


def big_model(units: int, layers: int):
    """``layers`` Dense layers ``units x units`` (ones: initializing 100M random values takes seconds)."""
    return keras.Sequential([keras.Input((units,))] + [
        keras.layers.Dense(units, kernel_initializer="ones", bias_initializer="ones") for _ in range(layers)])


def global_norm_formula(layers: int) -> str:
    """The Euclidean norm of every kernel and bias of L0 .. L{layers-1}."""
    squares = " + ".join(f"norm(L{i}.kernel)**2 + norm(L{i}.bias)**2" for i in range(layers))
    return f"sqrt({squares})"


def weight_norm(rounds: int = 7, units: int = 4096, layers: int = 6, calls: int = 2) -> list[dict]:
    """The compiled global norm against one read of as many bytes (the goal, with XLA), and two references."""
    model = big_model(units, layers)
    count = sum(int(tf.size(v)) for v in model.weights)
    flat = tf.Variable(tf.ones([count]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        term = lossdsl.compile(global_norm_formula(layers), model, jit_compile=True)

    def hand_written():
        return tf.sqrt(tf.add_n([tf.reduce_sum(tf.square(v)) for v in model.weights]))

    ours_xla, ours_tf = (tf.function(lambda: term(), jit_compile=jit) for jit in (True, False))
    read_xla, read_tf = (tf.function(lambda: tf.reduce_sum(flat), jit_compile=jit) for jit in (True, False))
    hand_xla = tf.function(hand_written, jit_compile=True)
    for ours in (ours_xla, ours_tf, hand_xla):
        _check_norm(ours, count)
    size = f"{count / 1e6:.0f}M weights"
    results = [
        timed_row(f"norm of {size}, XLA, vs one read, XLA (ms)", alternate(ours_xla, read_xla, rounds, calls, 1),
                  BANDWIDTH_GOAL, scale=1e3),
        timed_row(f"norm of {size}, XLA, vs hand-written tf, XLA (ms)", alternate(ours_xla, hand_xla, rounds, calls, 1),
                  None, scale=1e3),
        timed_row(f"norm of {size} vs one read, both without XLA (ms)", alternate(ours_tf, read_tf, rounds, calls, 1),
                  None, scale=1e3),
    ]
    for result in results:
        result["bytes_per_second"] = 4 * count / (result["ours"] / 1e3)
    return results


def _check_norm(norm, count: int) -> None:
    expected = float(count) ** 0.5  # every weight is 1
    if abs(float(norm()) - expected) > 1e-3 * expected:
        raise AssertionError(f"the norm is {float(norm())}, expected {expected}")


def run(rounds: int = 7, units: int = 4096, layers: int = 6) -> list[dict]:
    """The bandwidth rows."""
    return weight_norm(rounds, units, layers)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--units", type=int, default=4096)
    parser.add_argument("--layers", type=int, default=6)
    args = parser.parse_args(argv)
    results = run(args.rounds, args.units, args.layers)
    print_results(results)
    for result in results:
        print(f"{result['measure']}: ours reads {result['bytes_per_second'] / 1e9:.2f} GB/s")


if __name__ == "__main__":
    main()
