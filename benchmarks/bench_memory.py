"""Memory: what a compiled formula, and a round of attach + fit, leave behind once deleted (issue 16 item 7).

    python benchmarks/bench_memory.py [--formulas 200] [--rounds 30]

Each side runs in a new process: a few untimed warm-up iterations, then the resident set size (after a
full collection and ``malloc_trim``, so freed memory is not counted) before and after ``N`` iterations,
divided by ``N``. One iteration is
- compile: ``lossdsl.compile`` of a new formula text, called, its gradient taken, deleted; the baseline
  is the same math as a new plain ``tf.function`` over new ``tf.Variable`` parameters (goal: at most
  0.1 MB a formula; tf.custom_gradient's registry entries made it 0.3-0.6 MB);
- fit: a new MLP, ``lossdsl.attach`` + ``compile`` + one short ``fit``, deleted; the baseline is the same
  model compiled with ``loss="mse"`` and fitted the same way (goal: no more than Keras' own growth,
  within a 0.1 MB margin for the noise of RSS).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import warnings

from timing import print_results, row

FORMULA_BUDGET_MB = 0.1
FIT_MARGIN_MB = 0.1
WARMUP = 10


def rss_mb() -> float:
    """Resident memory after a full collection, with freed heap pages returned to the system."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS then also counts freed pages, the growth stays comparable
        pass
    with open("/proc/self/status", encoding="utf-8") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS")) / 1024


def growth_per_iteration(iteration, count: int) -> float:
    """MB of resident memory each of ``count`` iterations leaves behind, after ``WARMUP`` unmeasured ones."""
    for index in range(WARMUP):
        iteration(10_000 + index)
    before = rss_mb()
    for index in range(count):
        iteration(index)
    return (rss_mb() - before) / count


# ------------------------------------------------------------- the iterations
def formula_iterations(side: str):
    import keras
    import tensorflow as tf

    import lossdsl
    inputs = keras.Input((16,))
    model = keras.Model(inputs, keras.layers.Dense(8)(keras.layers.Dense(32)(inputs)))
    kernel1, kernel2, bias1 = model.layers[1].kernel, model.layers[2].kernel, model.layers[1].bias
    warnings.simplefilter("ignore", lossdsl.LossWarning)

    def ours(index: int):
        term = lossdsl.compile(f"a*norm(L1.kernel) + {index}*norm(L2.kernel) + b*sum(L1.bias)\n"
                               "where a: positive = 0.5", model)
        with tf.GradientTape() as tape:
            value = term()
        tape.gradient(value, model.trainable_weights + term.trainable_weights)

    def plain(index: int):
        a, b = tf.Variable(0.5), tf.Variable(0.0)
        function = tf.function(lambda: tf.nn.softplus(a) * tf.norm(kernel1) + float(index) * tf.norm(kernel2)
                               + b * tf.reduce_sum(bias1))
        with tf.GradientTape() as tape:
            value = function()
        tape.gradient(value, model.trainable_weights + [a, b])

    return ours if side == "ours" else plain


def fit_iterations(side: str):
    import keras
    import numpy as np

    import lossdsl
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 16)).astype("float32"), rng.normal(size=(64, 4)).astype("float32")
    warnings.simplefilter("ignore", lossdsl.LossWarning)

    def mlp():
        return keras.Sequential([keras.Input((16,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(4)])

    def ours(_index: int):
        model = lossdsl.attach(mlp(), "mse(y_true, y_pred) + a*norm(L0.kernel) + norm(L1.kernel)\nwhere a: positive")
        model.compile(optimizer="adam")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)

    def plain(_index: int):
        model = mlp()
        model.compile(optimizer="adam", loss="mse")
        model.fit(x, y, epochs=1, batch_size=16, verbose=0)

    return ours if side == "ours" else plain


ITERATIONS = {"compile": formula_iterations, "fit": fit_iterations}


def measured(kind: str, side: str, count: int) -> float:
    """MB per iteration of one side, measured in a new process."""
    done = subprocess.run([sys.executable, __file__, "--child", kind, side, str(count)], capture_output=True,
                          text=True, check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(formulas: int = 200, rounds: int = 30) -> list[dict]:
    """Both rows: MB per compiled formula, MB per attach + fit round, each against its baseline."""
    ours, plain = measured("compile", "ours", formulas), measured("compile", "plain", formulas)
    compiled = row("memory: compiled, called and deleted formula (MB each)", ours, plain, None,
                   goal_text=f"<= {FORMULA_BUDGET_MB:g} MB")
    compiled["met"] = ours <= FORMULA_BUDGET_MB
    ours, plain = measured("fit", "ours", rounds), measured("fit", "plain", rounds)
    fitted = row("memory: attach + fit round vs plain Keras (MB each)", ours, plain, None,
                 goal_text=f"<= Keras + {FIT_MARGIN_MB:g} MB")
    fitted["met"] = ours <= plain + FIT_MARGIN_MB
    return [compiled, fitted]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formulas", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--child", nargs=3, metavar=("KIND", "SIDE", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, side, count = args.child
        print(json.dumps(growth_per_iteration(ITERATIONS[kind](side), int(count))))
        return
    print_results(run(args.formulas, args.rounds))


if __name__ == "__main__":
    main()
