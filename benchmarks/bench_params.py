"""Many parameters: 1, 10 and 100 learned scalars, in fit() and in a compiled term's evaluation (issue 15).

    python benchmarks/bench_params.py [--rounds 7] [--steps 30] [--counts 1 10 100]

The formula has ``n`` learned scalars ``c0 .. c{n-1}`` (``real``), each weighting the squared norm of one
of the four kernels of a 4-layer MLP: ``exp(-c_j)*norm(L{j%4}.kernel)**2/n + c_j/n``.

- fit: ``attach(mlp, formula)`` against the hand-written Keras 3 wrapper holding the same ``n`` scalars
  (one ``add_weight`` each) and adding the same sum in ``compute_loss``; both on top of ``mse`` and with
  Adam, the same initial weights, and the same data. Step times come from bench_fit's clock and
  alternation (median of the rounds' ratios).
- eval: ``term()`` in a ``tf.function`` against the same sympy expression through
  ``sympy.lambdify(..., modules="tensorflow")`` in a ``tf.function``, fed the ``n`` scalar variables
  and the four kernels' norms (``tf.norm``); then both again with the gradient with respect to the
  parameters and the kernels (what a training step asks of them).
"""

from __future__ import annotations

import argparse
import warnings

import keras
import sympy
import tensorflow as tf

import lossdsl
from bench_fit import alternating_fits, fit_data
from timing import alternate, print_results, row, timed_row

GOAL = 1.05
LAYERS = 4
COUNTS = (1, 10, 100)


def initial(j: int) -> float:
    """c_j's initial value: all different, so a mixed-up order would change the loss."""
    return round(0.01 * (j % 17) - 0.05, 2)


def formula(n: int) -> str:
    """``n`` weighted squared kernel norms, each with its own learned scalar."""
    terms = " + ".join(f"exp(-c{j})*norm(L{j % LAYERS}.kernel)**2/{n} + c{j}/{n}" for j in range(n))
    return terms + "\nwhere " + ", ".join(f"c{j}: real = {initial(j):g}" for j in range(n))


def mlp(features: int, units: int):
    """Input -> 3 x Dense(units, relu) -> Dense(10): L0 .. L3, always the same initial weights."""
    keras.utils.set_random_seed(0)
    hidden = [keras.layers.Dense(units, activation="relu") for _ in range(LAYERS - 1)]
    return keras.Sequential([keras.Input((features,)), *hidden, keras.layers.Dense(10)])


class HandWritten(keras.Model):
    """The same sum by hand: one ``add_weight`` per scalar, the penalty added in ``compute_loss``."""

    def __init__(self, model, n: int, **kwargs):
        super().__init__(**kwargs)
        self.inner = model
        self.n = n
        self.c = [self.add_weight(name=f"c{j}", shape=(), initializer=keras.initializers.Constant(initial(j)))
                  for j in range(n)]

    def call(self, x, training=None):
        return self.inner(x, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        squares = [tf.square(tf.norm(layer.kernel)) for layer in self.inner.layers]  # each kernel's once
        penalty = tf.add_n([tf.exp(-c) * squares[j % LAYERS] / self.n + c / self.n for j, c in enumerate(self.c)])
        return super().compute_loss(x, y, y_pred, sample_weight, training) + penalty


def attached(model, n: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        return lossdsl.attach(model, formula(n))


def fit_step(n: int, rounds: int = 7, steps: int = 30, features: int = 64, units: int = 256,
             batch: int = 64) -> dict:
    """Median time per training step of attach() against the hand-written wrapper, alternating."""
    x, y = fit_data(steps, batch, features)
    ours, baseline = attached(mlp(features, units), n), HandWritten(mlp(features, units), n)
    for model in (ours, baseline):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse", jit_compile=False)
    ours_time, baseline_time, ratio = alternating_fits(ours, baseline, x, y, batch, rounds)
    return row(f"fit: step, {n} learned scalars, MLP {features}-{units}x{LAYERS - 1}-10, batch {batch} (ms)",
               ours_time, baseline_time, GOAL, scale=1e3, ratio=ratio)


def evaluation(n: int, rounds: int = 51, calls: int = 10, units: int = 256, gradient: bool = False) -> dict:
    """``term()`` against the lambdified sympy expression, each in a tf.function; with ``gradient``, the
    value and its gradient with respect to every scalar and kernel."""
    model = mlp(units, units)
    term = _compiled(formula(n), model)
    scalars = [tf.Variable(initial(j), dtype=tf.float32) for j in range(n)]
    kernels = [layer.kernel for layer in model.layers]
    c = sympy.symbols(f"c0:{n}")
    norms = sympy.symbols(f"n0:{LAYERS}")
    expression = sum(sympy.exp(-c[j]) * norms[j % LAYERS] ** 2 / n + c[j] / n for j in range(n))
    lambdified = sympy.lambdify([c, norms], expression, modules="tensorflow")
    ours = _timed(term, term.trainable_variables + kernels, gradient)
    baseline = _timed(lambda: lambdified([s.value() for s in scalars], [tf.norm(k) for k in kernels]),
                      scalars + kernels, gradient)
    _same_value(float(ours()[0]), float(baseline()[0]))
    what = "value and gradient" if gradient else "eval"
    return timed_row(f"{what}: {n} learned scalars vs sympy.lambdify, 4 kernels {units}x{units} (ms)",
                     alternate(ours, baseline, rounds, calls), GOAL, scale=1e3)


def _timed(evaluate, variables, gradient: bool):
    """``evaluate()`` in a tf.function, with its gradient with respect to ``variables`` if asked."""
    @tf.function
    def function():
        if not gradient:
            return evaluate(), []
        with tf.GradientTape() as tape:
            value = evaluate()
        return value, tape.gradient(value, variables)
    return function


def _compiled(src: str, model):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        return lossdsl.compile(src, model)


def _same_value(ours: float, baseline: float) -> None:
    # The comparison means nothing unless both compute the same number.
    if abs(ours - baseline) > 1e-4 * max(1.0, abs(baseline)):
        raise AssertionError(f"the compiled term gives {ours}, the lambdified expression {baseline}")


def run(rounds: int = 7, steps: int = 30, counts=COUNTS, eval_rounds: int = 51) -> list[dict]:
    """Per parameter count: a fit row, an evaluation row and a value-and-gradient row."""
    return [measure for n in counts for measure in (fit_step(n, rounds, steps), evaluation(n, eval_rounds),
                                                    evaluation(n, eval_rounds, gradient=True))]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--counts", type=int, nargs="+", default=list(COUNTS))
    args = parser.parse_args(argv)
    print_results(run(args.rounds, args.steps, args.counts))


if __name__ == "__main__":
    main()
