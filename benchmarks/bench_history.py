"""Training speed: the cost of training progress and history (SPEC §5.5-5.6) in a fit() step.

    python benchmarks/bench_history.py [--rounds 9] [--steps 30]

Two attach() models train bench_fit's MLP from the same weights on the same data: the baseline formula is
``data + 1e-3*norm(L0.kernel)``; ours adds a schedule over ``step`` and every history function of ``data``
(``start``, ``epoch_start``, ``previous``, ``ema``), whose values the term layer reads and updates at every
step (and fit()'s epoch hook closes each epoch). Written so that both evaluate to the same loss before
training (a history value that does not exist yet is the term's own value), as ``alternating_fits`` checks.
"""

from __future__ import annotations

import warnings

import keras

import lossdsl
from bench_fit import alternating_fits, command_line, fit_data, mlp
from timing import row

HISTORY_GOAL = 1.02
BASELINE = "data = mse(y_true, y_pred)\ndata + 1e-3*norm(L0.kernel)"
#: A schedule alone (KL annealing's form), written to start at the baseline's weight.
WITH_SCHEDULE = "data = mse(y_true, y_pred)\ndata + minimum(1, (step + 1000)/1000)*1e-3*norm(L0.kernel)"
WITH_HISTORY = ("data = mse(y_true, y_pred)\n"
                "data*previous(data)/epoch_start(data) + minimum(1, (step + 1000)/1000)*1e-3*norm(L0.kernel)"
                " + 1e-3*(ema(data, 0.9) - start(data)) + 0*epoch")


def history_step(rounds: int = 9, steps: int = 30, features: int = 256, units: int = 512, batch: int = 128,
                 formula: str = WITH_HISTORY) -> dict:
    """Median time per training step with history and a schedule against the same formula without them."""
    x, y = fit_data(steps, batch, features)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)  # W403: epoch_start(data) may be 0
        ours = lossdsl.attach(mlp(features, units), formula)
        baseline = lossdsl.attach(mlp(features, units), BASELINE)
    for model in (ours, baseline):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    ours_time, baseline_time, ratio = alternating_fits(ours, baseline, x, y, batch, rounds)
    what = "step/epoch and start, epoch_start, previous, ema of a term" if formula == WITH_HISTORY else \
        "a schedule, minimum(1, step/1000)*reg,"
    return row(f"fit: step with {what} vs without, MLP {features}-{units}-{units}-10, batch {batch} (ms)",
               ours_time, baseline_time, HISTORY_GOAL, scale=1e3, ratio=ratio)


def same_formula_twice(rounds: int = 9, steps: int = 30, features: int = 256, units: int = 512,
                       batch: int = 128) -> dict:
    """The baseline against an identical model: how far from 1 noise alone moves the ratio in this run."""
    x, y = fit_data(steps, batch, features)
    first, second = (lossdsl.attach(mlp(features, units), BASELINE) for _ in range(2))
    for model in (first, second):
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    first_time, second_time, ratio = alternating_fits(first, second, x, y, batch, rounds)
    return row(f"fit: step, the formula without history vs itself (the run's noise), MLP {features}-{units}-{units}-10,"
               f" batch {batch} (ms)", first_time, second_time, None, scale=1e3, ratio=ratio)


def run(rounds: int = 9, steps: int = 30) -> list[dict]:
    """The history and schedule rows, and the same measure of two identical models (the noise they are read
    against)."""
    return [history_step(rounds, steps), history_step(rounds, steps, formula=WITH_SCHEDULE),
            same_formula_twice(rounds, steps)]


def main(argv: list[str] | None = None) -> None:
    command_line(run, __doc__, argv)


if __name__ == "__main__":
    main()
