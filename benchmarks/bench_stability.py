"""Cost of the stability checks (W401-W405) on parsed formulas, against the per-formula budget of the linter.

    python benchmarks/bench_stability.py [--formulas 2000] [--rounds 5]

Prints one line per measure: measure, ours, baseline, ratio, goal, met. Times are CPU time of this process
(the machine is shared), parsing excluded: the formulas are parsed before the clock starts.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).parent), str(Path(__file__).parent.parent / "tests")]

from bench_lint import RATE_GOAL, format_result, generate_formulas  # noqa: E402

LINT_BUDGET_US = 1e6 / RATE_GOAL  # microseconds per formula for all of lint
SHARE_GOAL = 0.25  # the stability checks may take a quarter of it
BIG_GOAL_S = 1.0  # a formula of 50 terms and 10 parameters
HARD_GOAL_MS = 50.0  # the slowest formula of the verdict tables, nothing remembered (SPEC §5.9, issue 14)
PATHOLOGICAL_GOAL_S = 1.0  # a valley through 16 coupled parameters: a verdict within the work limits


def _forget() -> None:
    from lossdsl.analysis import joint, stability
    stability._check.cache_clear()
    stability._VERDICTS.clear()
    joint._SEARCHED.clear()


def typical(count: int, rounds: int) -> list[dict]:
    """Microseconds per formula: the first pass (nothing remembered) and the best later pass."""
    import lossdsl
    from lossdsl.analysis.stability import check_stability
    formulas = [lossdsl.parse(text) for text in generate_formulas(count)]
    check_stability(lossdsl.parse("a*norm(L0.kernel)"))  # sympy's own first-use costs
    passes = []
    for round_ in range(rounds):
        from lossdsl.analysis import stability
        stability._check.cache_clear()  # each pass checks every formula again...
        if round_ == 0:
            _forget()  # ...and the first one also without the verdicts remembered by shape
        start = time.process_time()
        for formula in formulas:
            check_stability(formula)
        passes.append((time.process_time() - start) / count * 1e6)
    budget = LINT_BUDGET_US * SHARE_GOAL
    return [{"measure": f"stability {label} (us)", "ours": us, "baseline": LINT_BUDGET_US,
             "ratio": us / LINT_BUDGET_US, "goal": f"<= {budget:g} us", "met": us <= budget}
            for label, us in (("first pass", passes[0]), ("later pass", min(passes[1:] or passes)))]


def _seconds(text: str, rounds: int) -> list[float]:
    """CPU seconds of check_stability on ``text`` in each round, nothing remembered: lossdsl's memos and
    sympy's own are cleared before each, as for a formula seen for the first time."""
    import sympy

    import lossdsl
    from lossdsl.analysis.stability import check_stability
    formula = lossdsl.parse(text)
    times = []
    for _ in range(rounds):
        _forget()
        sympy.core.cache.clear_cache()
        start = time.process_time()
        check_stability(formula)
        times.append(time.process_time() - start)
    return times


def _limit_row(measure: str, seconds: float, goal: float) -> dict:
    return {"measure": measure, "ours": seconds, "baseline": goal, "ratio": seconds / goal,
            "goal": f"< {goal:g} s", "met": seconds < goal}


def big(rounds: int) -> dict:
    """Seconds for the 50-term, 10-parameter formula of the tests, nothing remembered."""
    from test_stability import big_formula
    return _limit_row("stability 50 terms (s)", max(_seconds(big_formula(broken=True), rounds)), BIG_GOAL_S)


def verdict_tables(rounds: int) -> list[dict]:
    """The slowest formula of the stability test tables (nothing remembered), and how many are decided (no W405)."""
    import lossdsl
    import test_joint_stability as joint
    import test_stability as first
    texts = [src for src, _ in joint.JOINT + joint.GROWING + joint.NOTES + joint.COLLAPSE] + joint.CLEAN
    texts += first.BOUNDED + [src for src, _ in first.UNBOUNDED]
    for text in ("exp(-s)*norm(L0.kernel) + s", "a**2*b**2 - a*b", "1/a\nwhere a: positive", "a*cos(a)"):
        _seconds(text, 1)  # sympy's one-time costs (imports of Poly, diff, limit)
    # the best of the rounds per formula: each forgets every memo, the best also skips Python's one-time
    # costs (a regex compiled on first use) that land on whichever formula comes first
    slowest, slowest_text = max((min(_seconds(text, rounds)) * 1e3, text) for text in texts)
    decided = sum("W405" not in [d.code for d in lossdsl.check(text)] for text in texts)
    return [{"measure": f"stability slowest case (ms): {slowest_text!r}", "ours": slowest, "baseline": HARD_GOAL_MS,
             "ratio": slowest / HARD_GOAL_MS, "goal": f"<= {HARD_GOAL_MS:g} ms", "met": slowest <= HARD_GOAL_MS},
            {"measure": "table cases decided", "ours": decided, "baseline": len(texts),
             "ratio": decided / len(texts), "goal": "all", "met": decided == len(texts)}]


def pathological(rounds: int) -> dict:
    """Seconds for a valley along 16 coupled parameters, sum((a_i - a_i+1)**2) - a_0 - ... - a_15."""
    names = [f"a{i}" for i in range(16)]
    text = " + ".join(f"({x} - {y})**2" for x, y in zip(names, names[1:])) + " - " + " - ".join(names)
    return _limit_row("stability 16-param valley (s)", max(_seconds(text, rounds)), PATHOLOGICAL_GOAL_S)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formulas", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    results = [*typical(args.formulas, args.rounds), big(args.rounds), *verdict_tables(min(args.rounds, 3)),
               pathological(min(args.rounds, 3))]
    for result in results:
        print(format_result(result))


if __name__ == "__main__":
    main()
