"""Long fuzzing run of the lowering (outside CI): formulas the checks accept must run in TensorFlow.

    python benchmarks/fuzz_lower.py [--count 5000] [--seed 0] [--failures fuzz_lower_failures.jsonl]

Formulas derived from the grammar (some mutated) that ``lossdsl.check`` accepts against the grammar's
reference shapes are lowered and evaluated, value and gradients, on random tensors of those shapes
(``tests/formula_runner.py``). Any exception but ``LossError`` is a failure, written one JSON object a line;
so is an exception from ``check`` itself on a derivation (counted as "check raised").
About 10 formulas a second on 2 cores (each is a new TensorFlow computation, and about one derivation
in 11 passes the checks).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from lossdsl import LossError  # noqa: E402
from formula_runner import accepted_formulas, reference_values, run_formula  # noqa: E402


def run(count: int, seed: int, failures_path: Path) -> dict:
    references, outcomes, raised = reference_values(), collections.Counter(), []
    started = time.perf_counter()
    with failures_path.open("w", encoding="utf-8") as failure_log:
        for index, text in enumerate(accepted_formulas(seed, count, raised)):
            for checked, error in raised:
                outcomes["check raised"] += 1
                failure_log.write(json.dumps({"index": index, "text": checked, "problem":
                                              f"check() raised {type(error).__name__}: {str(error)[:500]}"}) + "\n")
            raised.clear()
            try:
                loss, _ = run_formula(text, references)
                outcomes["ran" if loss.shape.num_elements() == 1 else "not a scalar"] += 1
            except LossError as error:  # refused at lowering, with a diagnostic: allowed
                outcomes["LossError " + ",".join(d.code for d in error.diagnostics)] += 1
            except Exception as error:  # noqa: BLE001 -- any other exception is the finding
                outcomes["failed"] += 1
                failure_log.write(json.dumps({"index": index, "text": text,
                                              "problem": f"{type(error).__name__}: {str(error)[:500]}"}) + "\n")
                failure_log.flush()
            if (index + 1) % 500 == 0:
                print(f"{index + 1:,} formulas, {time.perf_counter() - started:,.0f} s, {dict(outcomes)}", flush=True)
    return {"formulas": count, "seed": seed, "seconds": round(time.perf_counter() - started, 1), **outcomes}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", type=Path, default=Path("fuzz_lower_failures.jsonl"))
    options = parser.parse_args(argv)
    summary = run(options.count, options.seed, options.failures)
    print(json.dumps(summary, indent=2))
    return 1 if summary.get("failed") or summary.get("not a scalar") or summary.get("check raised") else 0


if __name__ == "__main__":
    sys.exit(main())
