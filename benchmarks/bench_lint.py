"""Linter speed: start-up of ``lossdsl lint`` and ``lossdsl explain`` against importing their own dependencies,
and formulas per second.

    python benchmarks/bench_lint.py [--rounds 7] [--formulas 2000] [--model-rounds 3]

Prints one line per measure: measure, ours, baseline, ratio, goal, met. ``startup()``, ``explain_startup()``,
``lint_rate()`` and ``lint_with_model()`` return the same as dictionaries, for a runner that collects every
benchmark (``run()`` returns all four). ``explain`` without a model shows the lowered program without importing
TensorFlow; its formula has several functions, a pattern, a random draw and reductions over the batch.
``lint --model`` imports TensorFlow: its wall time is shown beside the time of ``import tensorflow, keras``
alone, with no goal.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINT_COMMAND = [sys.executable, "-m", "lossdsl", "lint", "a*norm(L0.kernel)+norm(L1.kernel)"]
IMPORT_COMMAND = [sys.executable, "-c", "import sympy, lark"]
STARTUP_GOAL = 1.3  # lint may take at most 30 % longer than importing sympy and lark
EXPLAINED = ("data = mse(y_true, y_pred) + 0.1*mean(normal_like(y_pred))\n"
             "reg = 1e-4*sum(square(**.kernel)) + spectral_norm(L1.kernel)\n"
             "data + reg + cosine(y_true, y_pred) + log1p(norm(L2.kernel, 1)) + max(y_pred) / batch_size")
EXPLAINED_SHAPES = {"L1.kernel": [10, 16], "L2.kernel": [10, 4], "y_true": [None, 4], "y_pred": [None, 4]}
RATE_GOAL = 2000.0  # formulas per second, checked in one process


def _wall_time(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - start


def startup(rounds: int = 7, command: list[str] = LINT_COMMAND, measure: str = "lint start-up (s)") -> dict:
    """Median wall time of one ``command`` process (``lossdsl lint``) against ``python -c "import sympy, lark"``."""
    _wall_time(IMPORT_COMMAND)  # warm the file cache for both, so the first round is not an outlier
    _wall_time(command)
    ours, baseline = [], []
    for _ in range(rounds):  # alternating, so a busy moment on the machine hits both sides alike
        ours.append(_wall_time(command))
        baseline.append(_wall_time(IMPORT_COMMAND))
    ours_s, baseline_s = statistics.median(ours), statistics.median(baseline)
    ratio = ours_s / baseline_s
    return {"measure": measure, "ours": ours_s, "baseline": baseline_s, "ratio": ratio,
            "goal": f"ratio <= {STARTUP_GOAL}", "met": ratio <= STARTUP_GOAL}


def explain_startup(rounds: int = 7) -> dict:
    """``lossdsl explain --shapes`` of :data:`EXPLAINED` (its lowered program included) against importing sympy
    and lark."""
    with tempfile.TemporaryDirectory() as directory:
        shapes = Path(directory) / "shapes.json"
        shapes.write_text(json.dumps(EXPLAINED_SHAPES))
        command = [sys.executable, "-m", "lossdsl", "explain", "--shapes", str(shapes), EXPLAINED]
        # no goal of its own: explain does lint's work and more (LaTeX, the program); it must not import
        # TensorFlow (tests/test_cli.py), which took 7.7x this baseline
        return {**startup(rounds, command, "explain start-up, no model (s)"), "goal": "-", "met": None}


TERMS = [
    "norm(L{i}.kernel)",
    "norm(L{i}.kernel, 1)",
    "mean(square(L{i}.kernel))",
    "sum(abs(L{i}.bias))",
    "norm(L{i}.kernel.T @ L{j}.kernel - I)",
    "exp(-{p})*norm(L{i}.kernel) + {p}",
    "mse(y_true, y_pred)",
    "sqrt(sum(L{i}.kernel**2) + 1e-6)",
]


def generate_formulas(count: int, seed: int = 0) -> list[str]:
    """``count`` distinct valid formulas: weighted sums of norms and penalties over layers ``L<i>``."""
    rng = random.Random(seed)
    formulas: dict[str, None] = {}
    while len(formulas) < count:
        parts = []
        for _ in range(rng.randint(1, 4)):
            term = rng.choice(TERMS).format(i=rng.randrange(30), j=rng.randrange(30), p=f"s{rng.randrange(5)}")
            weight = rng.choice(["", f"{rng.choice([0.1, 0.01, 2, 1e-3])}*", f"a{rng.randrange(5)}*"])
            parts.append(f"{weight}({term})" if weight else term)
        formula = " + ".join(parts)
        weights = sorted({p.split("*")[0] for p in parts if p.startswith("a")})
        if weights and rng.random() < 0.5:
            formula += "\nwhere " + ", ".join(f"{w}: positive = 1.0" for w in weights)
        formulas[formula] = None
    return list(formulas)


def lint_rate(count: int = 2000, seed: int = 0) -> dict:
    """Formulas checked per second by ``lossdsl.check`` in one process, every text distinct (no cache hits)."""
    import lossdsl
    from lossdsl.language.frontend import analyze
    formulas = generate_formulas(count, seed)
    lossdsl.check("norm(L0.kernel)")  # builds the parser once, as any long-running process would
    analyze.cache_clear()  # a second run in the same process must not find the texts cached
    start = time.perf_counter()
    errors = sum(d.is_error for formula in formulas for d in lossdsl.check(formula))
    elapsed = time.perf_counter() - start
    analyze.cache_clear()  # 2,000 cached formulas would slow whatever a runner measures next (a larger heap to collect)
    if errors:
        raise AssertionError(f"the generated formulas should be valid; {errors} errors found")
    rate = count / elapsed
    return {"measure": "formulas linted per second", "ours": rate, "baseline": RATE_GOAL, "ratio": rate / RATE_GOAL,
            "goal": f">= {RATE_GOAL:g}/s", "met": rate >= RATE_GOAL}


TF_IMPORT_COMMAND = [sys.executable, "-c", "import tensorflow, keras"]


def _saved_model(directory: str) -> str:
    """A small Sequential model (L0 Dense 8 -> 16, L1 Dense 16 -> 4) saved as .keras; imports Keras."""
    import keras
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(4)])
    path = str(Path(directory) / "saved.keras")
    model.save(path)
    return path


def lint_with_model(rounds: int = 3) -> dict:
    """Median wall time of ``lossdsl lint --model saved.keras FORMULA`` beside ``import tensorflow, keras``."""
    with tempfile.TemporaryDirectory() as directory:
        command = [*LINT_COMMAND[:4], "--model", _saved_model(directory), LINT_COMMAND[-1]]
        ours, baseline = [], []
        for _ in range(rounds):  # alternating; each side is a new process importing TensorFlow
            ours.append(_wall_time(command))
            baseline.append(_wall_time(TF_IMPORT_COMMAND))
    ours_s, baseline_s = statistics.median(ours), statistics.median(baseline)
    return {"measure": "lint --model, vs import tensorflow+keras (s)", "ours": ours_s, "baseline": baseline_s,
            "ratio": ours_s / baseline_s, "goal": "-", "met": None}


def run(rounds: int = 7, formulas: int = 2000, model_rounds: int = 3) -> list[dict]:
    """Every linting row: start-up of lint and explain, formulas per second, lint against a saved model."""
    return [startup(rounds), explain_startup(rounds), lint_rate(formulas), lint_with_model(model_rounds)]


def format_result(result: dict) -> str:
    return (f"{result['measure']:<28} ours={result['ours']:<10.4g} baseline={result['baseline']:<10.4g} "
            f"ratio={result['ratio']:<6.3f} goal={result['goal']:<14} met={ {True: 'yes', False: 'NO', None: '-'}[result['met']]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--formulas", type=int, default=2000)
    parser.add_argument("--model-rounds", type=int, default=3)
    args = parser.parse_args(argv)
    for result in run(args.rounds, args.formulas, args.model_rounds):
        print(format_result(result))


if __name__ == "__main__":
    main()
