"""Shared by the benchmarks: A/B timing in alternating rounds, result rows, and the table they print.

The machine is shared and noisy, so every ratio is measured within one process: ours and the baseline
take turns (the order flips each round, so neither always runs just after the other), each round times
a few calls of each, and the ratio is the median over rounds of the round's ratio (the two sides of a
round ran moments apart, under the same load); the times shown are the medians of each side.
"""

from __future__ import annotations

import statistics
import time
from typing import Callable, NamedTuple

COLUMNS = ("measure", "ours", "baseline", "ratio", "goal", "met")


def seconds_per_call(fn: Callable[[], object], calls: int) -> float:
    """Mean wall time of ``calls`` consecutive calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


class Timing(NamedTuple):
    """Median seconds per call of each side, and the median of the rounds' ratios ours / baseline."""

    ours: float
    baseline: float
    ratio: float


def alternate(ours: Callable[[], object], baseline: Callable[[], object], rounds: int,
              calls: int = 1, warmup: int = 2) -> Timing:
    """``ours`` against ``baseline``, timed in alternating rounds of ``calls`` calls each."""
    for _ in range(warmup):  # traces, XLA compilations, caches and page faults happen here, untimed
        ours(), baseline()
    times: dict[str, list[float]] = {"ours": [], "baseline": []}
    sides = [("ours", ours), ("baseline", baseline)]
    for round_ in range(rounds):
        for name, fn in sides if round_ % 2 == 0 else sides[::-1]:
            times[name].append(seconds_per_call(fn, calls))
    ratios = [a / b for a, b in zip(times["ours"], times["baseline"])]
    return Timing(statistics.median(times["ours"]), statistics.median(times["baseline"]), statistics.median(ratios))


def row(measure: str, ours: float, baseline: float, goal: float | None, *, at_most: bool = True,
        goal_text: str | None = None, scale: float = 1.0, ratio: float | None = None) -> dict:
    """One result: ``ratio`` (by default ``ours / baseline``) compared with ``goal`` (``None``: no goal).

    ``scale`` converts seconds to the unit named in ``measure`` (1e3 for ms).
    """
    ratio = ours / baseline if ratio is None else ratio
    met = None if goal is None else (ratio <= goal if at_most else ratio >= goal)
    text = goal_text or ("-" if goal is None else f"ratio {'<=' if at_most else '>='} {goal:g}")
    return {"measure": measure, "ours": ours * scale, "baseline": baseline * scale, "ratio": ratio,
            "goal": text, "met": met}


def timed_row(measure: str, timing: Timing, goal: float | None, **options) -> dict:
    """A row from an alternating A/B timing: its medians and its median ratio."""
    return row(measure, timing.ours, timing.baseline, goal, ratio=timing.ratio, **options)


def cells(result: dict) -> list[str]:
    """A result's table cells as text."""
    met = {True: "yes", False: "**NO**", None: "-"}[result["met"]]
    return [result["measure"], f"{result['ours']:.4g}", f"{result['baseline']:.4g}", f"{result['ratio']:.3f}",
            result["goal"], met]


def markdown_table(results: list[dict]) -> str:
    """The results as one markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(result)) + " |" for result in results]
    return "\n".join(lines)


def print_results(results: list[dict]) -> None:
    """Print results as a markdown table (what each module does when run alone)."""
    print(markdown_table(results), flush=True)
