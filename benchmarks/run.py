"""Every speed measure of lossdsl in one run, printed as one markdown table (issue 5).

    python benchmarks/run.py [--quick] [--markdown FILE] [--only lint compile eval fit activations grad history bandwidth memory spectral patterns params resnet]

Each measure lives in its own module (bench_lint, bench_compile, bench_eval, bench_fit, bench_grad, bench_history,
bench_bandwidth, bench_memory, bench_spectral, bench_patterns, bench_params, bench_resnet), runnable alone. Every
ratio is measured within this run: ours and the baseline
alternate over several rounds and the medians are compared, because the machine is shared and noisy.
``--quick`` runs fewer rounds (about a third of the time). The full run takes about 5 minutes on 2 cores,
plus about 10 for the ResNet50 rows (``--only resnet``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter would bury the table
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_activations  # noqa: E402  (after the path and the environment are set)
import bench_bandwidth  # noqa: E402
import bench_compile  # noqa: E402
import bench_eval  # noqa: E402
import bench_fit  # noqa: E402
import bench_grad  # noqa: E402
import bench_history  # noqa: E402
import bench_lint  # noqa: E402
import bench_params  # noqa: E402
import bench_memory  # noqa: E402
import bench_spectral  # noqa: E402
import bench_patterns  # noqa: E402
import bench_resnet  # noqa: E402
from timing import markdown_table  # noqa: E402

#: name -> (full run, quick run): each returns a list of result rows.
MEASURES = {
    "lint": (lambda: bench_lint.run(rounds=7, formulas=2000, model_rounds=3),
             lambda: bench_lint.run(rounds=3, formulas=1000, model_rounds=1)),
    "compile": (lambda: bench_compile.run(rounds=7, scaling_rounds=7, new_process_rounds=3),
                lambda: bench_compile.run(rounds=3, scaling_rounds=1, new_process_rounds=1)),
    "eval": (lambda: bench_eval.run(rounds=101, calls=4), lambda: bench_eval.run(rounds=21, calls=4)),
    "fit": (lambda: bench_fit.run(rounds=9, steps=30), lambda: bench_fit.run(rounds=3, steps=20)),
    "activations": (lambda: bench_activations.run(rounds=9, steps=30), lambda: bench_activations.run(rounds=3, steps=20)),
    "grad": (lambda: bench_grad.run(rounds=9, steps=30), lambda: bench_grad.run(rounds=3, steps=20)),
    "history": (lambda: bench_history.run(rounds=31, steps=60), lambda: bench_history.run(rounds=5, steps=20)),
    "bandwidth": (lambda: bench_bandwidth.run(rounds=7), lambda: bench_bandwidth.run(rounds=3)),
    "memory": (lambda: bench_memory.run(formulas=200, rounds=30), lambda: bench_memory.run(formulas=60, rounds=10)),
    "spectral": (lambda: bench_spectral.run(rounds=7), lambda: bench_spectral.run(rounds=3)),
    "patterns": (lambda: bench_patterns.run(rounds=7, steps=20), lambda: bench_patterns.run(rounds=5, steps=10)),
    "params": (lambda: bench_params.run(rounds=7, steps=30), lambda: bench_params.run(rounds=3, steps=20, eval_rounds=15)),
    "resnet": (lambda: bench_resnet.run(rounds=7, steps=8, process_rounds=3),
               lambda: bench_resnet.run(rounds=3, steps=4, process_rounds=1)),
}


def machine() -> str:
    """One line describing where the numbers were measured."""
    import tensorflow as tf
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
        with open("/proc/meminfo", encoding="utf-8") as info:
            memory = f"{int(next(line.split()[1] for line in info if line.startswith('MemTotal'))) / 2**20:.0f} GB"
    except (OSError, StopIteration):
        memory = "unknown memory"
    return (f"{os.cpu_count()} cores ({cpu}), {memory}; Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}; load average at start {os.getloadavg()[0]:.1f}")


def run(names: list[str], quick: bool) -> list[dict]:
    """The rows of the chosen measures, in order, each printed to stderr as it completes."""
    results = []
    for name in names:
        start = time.perf_counter()
        rows = MEASURES[name][1 if quick else 0]()
        print(f"{name}: {len(rows)} rows in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        results += rows
    return results


def report(results: list[dict], header: str, seconds: float) -> str:
    """The markdown report: the machine, the table, the run's duration."""
    return f"{header}\n\n{markdown_table(results)}\n\nMeasured in {seconds:.0f} s.\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    parser.add_argument("--markdown", metavar="FILE", help="also write the report to FILE")
    parser.add_argument("--only", nargs="+", choices=list(MEASURES), default=list(MEASURES))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    header = machine()
    text = report(run(args.only, args.quick), header, time.perf_counter() - start)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
