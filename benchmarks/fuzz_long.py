"""Long fuzzing run of the front end (outside CI): formulas derived from the grammar, and mutations of them.

    python benchmarks/fuzz_long.py [--count 100000] [--seed 0] [--failures fuzz_failures.jsonl]

Every input goes through ``lossdsl.check`` (without and with a table of shapes), and a formula without
errors through ``lossdsl.parse``, ``.latex()`` and ``.expanded()``. The invariants: no exception but
lossdsl's own (``LossError`` from ``parse`` of a formula with errors), every diagnostic has a known
code, a message, a hint and a span inside the text, and no input takes more than a second of CPU time.
One input in ten is a ``--shapes`` file or a Python file for ``lossdsl lint`` (deep JSON, numbers of
thousands of digits, Python nested past its parser): it must be read, or refused with one line (InputError).
A violation is written to the failures file (one JSON object a line) and the run goes on. Prints a
progress line every 5,000 inputs and a summary: inputs, time, slowest input (CPU and wall), codes seen.
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import signal
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import lossdsl  # noqa: E402
from lossdsl import CODES, LossError  # noqa: E402
from grammar_formulas import (REFERENCE_SHAPES as SHAPES, derive, hostile_python_text,  # noqa: E402
                              hostile_shapes_text, mutate, read_as_input_file)
BUDGET_CPU_SECONDS = 1.0
HANG_CPU_SECONDS = 30  # a watchdog on CPU time, by a signal of its own (the stability check uses none)


class Hang(Exception):
    """The input used more than HANG_CPU_SECONDS of CPU."""


def _watchdog(signum, frame):
    raise Hang(f"more than {HANG_CPU_SECONDS} s of CPU")


def problems_with(text: str) -> tuple[list[str], bool]:
    """Invariant violations for one input (empty when it is handled well), and whether it is a valid formula."""
    found, checked = [], {}
    for shapes in (None, SHAPES):
        checked[shapes is None] = lossdsl.check(text, shapes=shapes)
        for d in checked[shapes is None]:
            if d.code not in CODES or not d.message or not d.hint:
                found.append(f"malformed diagnostic {d!r}")
            if not 0 <= d.span.start <= d.span.end <= len(text):
                found.append(f"span {d.span} outside the text of {len(text)} characters ({d.code})")
    # the first result, not a third check: a verdict cut short by sympy's time budget is not cached
    valid = not any(d.is_error for d in checked[True])
    try:
        formula = lossdsl.parse(text)
        formula.latex()
        formula.expanded()
        if not valid:
            found.append("parse() accepted a formula that check() reports errors for")
    except LossError as error:
        if valid:
            found.append(f"parse() raised for a formula without errors: {error}")
        if not error.diagnostics:
            found.append("LossError without diagnostics")
    return found, valid


def input_file_problems(kind: str, text: str) -> tuple[list[str], bool]:
    """Violations for a shapes or Python file (and False: it is no formula): read and usable, or refused
    with one line."""
    from lossdsl.cli.inputs import InputError
    read = read_as_input_file(kind.split()[0], text)
    if isinstance(read, InputError):
        return ([] if str(read) and "\n" not in str(read) else [f"InputError of several lines: {read}"]), False
    if kind.startswith("shapes"):
        lossdsl.check("norm(L1.kernel)", shapes=read)
    else:
        read.lint()
    return [], False  # "valid formulas" counts formulas only


def _where(error: Exception) -> str:
    """The traceback's lossdsl frames and its last three: enough to find the cause, short enough to log."""
    frames = traceback.extract_tb(error.__traceback__)
    kept = [f for f in frames if "/lossdsl/" in f.filename] + frames[-3:]
    return "".join(traceback.format_list(kept))


def generate(rng: random.Random) -> tuple[str, str]:
    """(kind, text): a grammar derivation, a mutation of one, a mutation of a mutation, or (one in 20 each) a
    shapes file or a Python file for the command line."""
    roll = rng.random()
    if roll > 0.95:
        return "shapes file", hostile_shapes_text(rng)
    if roll > 0.90:
        return "python file", hostile_python_text(rng)
    text = derive(rng, max_depth=rng.choice([2, 4, 6, 8]), hostile=rng.random() < 0.5)
    roll = rng.random()
    if roll < 0.3:
        return "derived", text
    if roll < 0.85:
        return "mutated", mutate(rng, text)
    return "mutated twice", mutate(rng, mutate(rng, text))


def run(count: int, seed: int, failures_path: Path) -> dict:
    rng = random.Random(seed)
    signal.signal(signal.SIGVTALRM, _watchdog)
    kinds, codes, valid_count, failures = collections.Counter(), collections.Counter(), 0, 0
    slowest_cpu, slowest_wall = (0.0, ""), (0.0, "")
    over_budget = 0
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    with failures_path.open("w", encoding="utf-8") as failure_log:
        for index in range(count):
            kind, text = generate(rng)
            kinds[kind] += 1
            lossdsl.language.frontend.analyze.cache_clear()  # time each input from scratch
            cpu, wall = time.process_time(), time.perf_counter()
            signal.setitimer(signal.ITIMER_VIRTUAL, HANG_CPU_SECONDS)
            try:
                found, valid = input_file_problems(kind, text) if kind.endswith("file") else problems_with(text)
            except Exception as error:  # noqa: BLE001 -- any exception is the finding
                found, valid = [f"{type(error).__name__}: {str(error)[:500]}\n{_where(error)}"], False
            finally:
                signal.setitimer(signal.ITIMER_VIRTUAL, 0)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            valid_count += valid
            codes.update({d.code for d in lossdsl.check(text)} if not found and not kind.endswith("file") else ())
            if cpu > slowest_cpu[0]:
                slowest_cpu = (cpu, text)
            if wall > slowest_wall[0]:
                slowest_wall = (wall, text)
            if cpu > BUDGET_CPU_SECONDS:
                over_budget += 1
                found.append(f"took {cpu:.2f} s of CPU ({wall:.2f} s wall)")
            if found:
                failures += 1
                failure_log.write(json.dumps({"index": index, "kind": kind, "text": text, "problems": found}) + "\n")
                failure_log.flush()
            if (index + 1) % 5000 == 0:
                print(f"{index + 1:,} inputs, {time.perf_counter() - started_wall:,.0f} s, {failures} failures, "
                      f"slowest {slowest_cpu[0]:.3f} s CPU / {slowest_wall[0]:.3f} s wall", flush=True)
    return {
        "inputs": count, "seed": seed, "kinds": dict(kinds), "valid formulas": valid_count,
        "failures": failures, "over the 1 s CPU budget": over_budget,
        "wall seconds": round(time.perf_counter() - started_wall, 1),
        "cpu seconds": round(time.process_time() - started_cpu, 1),
        "slowest input (CPU s)": round(slowest_cpu[0], 3), "slowest input (wall s)": round(slowest_wall[0], 3),
        "slowest input (first 200 characters)": slowest_cpu[1][:200],
        "slowest input (characters)": len(slowest_cpu[1]),
        "codes seen": dict(sorted(codes.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--failures", type=Path, default=Path("fuzz_failures.jsonl"))
    options = parser.parse_args(argv)
    summary = run(options.count, options.seed, options.failures)
    print(json.dumps(summary, indent=2))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
