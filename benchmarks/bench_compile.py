"""Compile time: parse, check, lower and the first trace of a formula, and how it grows with the formula.

    python benchmarks/bench_compile.py [--rounds 5] [--scaling-rounds 3] [--sizes 10 100 1000]

The classic formula ``a*norm(L1.kernel)+norm(L2.kernel)`` is compiled and called once, in this process
with every cache emptied first (the text's parse, the stability verdicts), and in a new process right
after ``import tensorflow, keras, lossdsl``. Formulas of 10, 100 and 1,000 terms (distinct kernels of
1,000 layers side by side) are timed stage by stage; the goal is growth no faster than linear (1,000 terms at
most 12x the 100-term time).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
import warnings

import keras

import lossdsl
from lossdsl.analysis import stability
from lossdsl.language.frontend import analyze
from lossdsl.lowering.lower import lower
from timing import row

CLASSIC = "a*norm(L1.kernel)+norm(L2.kernel)"
BUDGET_S = 0.3
GROWTH_GOAL = 12.0
STAGES = ("parse", "check", "lower", "trace")


def classic_model():
    """L0 the InputLayer, L1 Dense 16 -> 32, L2 Dense 32 -> 8."""
    inputs = keras.Input((16,))
    hidden = keras.layers.Dense(32)(inputs)
    return keras.Model(inputs, keras.layers.Dense(8)(hidden))


def clear_caches() -> None:
    """Forget every parsed text and stability verdict, so the next compile starts cold."""
    analyze.cache_clear()
    for cache in (getattr(stability, "_check", None), getattr(stability, "_VERDICTS", None)):
        if cache is not None:
            (cache.cache_clear if hasattr(cache, "cache_clear") else cache.clear)()


def compile_and_call(src: str, model) -> float:
    """Seconds for ``lossdsl.compile(src, model)()`` (parse, check, lower, first trace and run)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)  # the classic formula warns (W401)
        start = time.perf_counter()
        lossdsl.compile(src, model)()
        return time.perf_counter() - start


def classic_in_process(rounds: int = 5) -> dict:
    """Median compile-and-call time of the classic formula, caches emptied before each round."""
    model = classic_model()
    times = []
    for _ in range(rounds):
        clear_caches()
        times.append(compile_and_call(CLASSIC, model))
    return row("compile: classic formula, warm process (s)", statistics.median(times), BUDGET_S, 1.0,
               goal_text=f"<= {BUDGET_S:g} s")


NEW_PROCESS = f"""
import json, time, warnings
import tensorflow, keras
start = time.perf_counter()
import lossdsl
imported = time.perf_counter()
inputs = keras.Input((16,)); hidden = keras.layers.Dense(32)(inputs)
model = keras.Model(inputs, keras.layers.Dense(8)(hidden))
warnings.simplefilter("ignore")
begin = time.perf_counter()
term = lossdsl.compile({CLASSIC!r}, model)
compiled = time.perf_counter()
term()
print(json.dumps({{"import": imported - start, "compile": compiled - begin, "first_call": time.perf_counter() - compiled}}))
"""


def classic_new_process(rounds: int = 3) -> dict:
    """Median compile-and-call time of the classic formula in a new process, after importing TF and lossdsl."""
    runs = []
    for _ in range(rounds):
        done = subprocess.run([sys.executable, "-c", NEW_PROCESS], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    total = statistics.median(run["compile"] + run["first_call"] for run in runs)
    result = row("compile: classic formula, new process (s)", total, BUDGET_S, 1.0, goal_text=f"<= {BUDGET_S:g} s")
    result["detail"] = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return result


def formula_of(terms: int) -> str:
    """A sum of ``terms`` distinct kernels L1 .. L{terms} (4 tokens a term: the token limit is 5,000) under a norm."""
    body = " + ".join(f"L{i}.kernel" for i in range(1, terms + 1))
    return f"a * norm({body})\nwhere a: positive = 0.5"


def wide_model(layers: int, units: int = 8):
    """L0 the input, L1 .. L{layers} Dense layers ``units x units`` side by side, then their sum.

    Side by side: Keras cannot build a Sequential of 1,000 layers (RecursionError).
    """
    keras.utils.set_random_seed(0)
    inputs = keras.Input((units,))
    return keras.Model(inputs, keras.layers.Add()([keras.layers.Dense(units)(inputs) for _ in range(layers)]))


def stage_times(src: str, model) -> dict[str, float]:
    """Seconds of each stage, run one after the other from cold caches."""
    clear_caches()
    gc.collect()  # every run starts from the same collector state (a full collection walks every object)
    times, start = {}, time.perf_counter()
    formula = lossdsl.parse(src)
    times["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    lossdsl.check(src, model=model)  # stability, names and shapes against the model
    times["check"] = time.perf_counter() - start
    start = time.perf_counter()
    lower(formula)
    times["lower"] = time.perf_counter() - start
    term = lossdsl.compile(src, model)  # parse and check are cached now; the first call is the trace
    start = time.perf_counter()
    term()
    times["trace"] = time.perf_counter() - start
    return times


def scaling(sizes=(10, 100, 1000), rounds: int = 3) -> list[dict]:
    """Total and per-stage times for formulas of each size; rows compare each size with the previous one."""
    model = wide_model(max(sizes))
    stage_times(formula_of(2), model)  # the first trace in a process pays TensorFlow's own start-up
    runs: dict[int, list[dict]] = {size: [] for size in sizes}
    for round_ in range(rounds):  # sizes interleaved, so a busy spell on the machine hits every size alike
        for size in sizes if round_ % 2 == 0 else sizes[::-1]:
            runs[size].append(stage_times(formula_of(size), model))
    medians = {}
    for size in sizes:
        medians[size] = {stage: statistics.median(run[stage] for run in runs[size]) for stage in STAGES}
        medians[size]["total"] = statistics.median(sum(run[stage] for stage in STAGES) for run in runs[size])
    results = []
    pairs = list(zip(sizes, sizes[1:]))
    for small, large in pairs:
        goal = GROWTH_GOAL * (large / small) / 10  # 12x for 10x the terms
        # stage by stage for the largest step only: that is where a superlinear stage would show
        for stage in ("total", *STAGES) if (small, large) == pairs[-1] else ("total",):
            results.append(row(f"compile: {large} vs {small} terms, {stage} (s)", medians[large][stage],
                               medians[small][stage], goal if stage == "total" else None))
    return results


def run(rounds: int = 5, scaling_rounds: int = 3, sizes=(10, 100, 1000), new_process_rounds: int = 3) -> list[dict]:
    """Every compile-time row."""
    return [classic_in_process(rounds), classic_new_process(new_process_rounds), *scaling(sizes, scaling_rounds)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scaling-rounds", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    args = parser.parse_args(argv)
    from timing import print_results
    results = run(args.rounds, args.scaling_rounds, tuple(args.sizes))
    print_results(results)
    print("new process, median seconds:", results[1]["detail"])


if __name__ == "__main__":
    main()
