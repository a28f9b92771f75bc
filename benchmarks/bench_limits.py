"""Front-end time at and beyond the resource limits: CPU seconds of ``lossdsl.check`` per input, against 1 s.

    python benchmarks/bench_limits.py

Prints one line per input: name, characters, CPU seconds, ratio to the 1 s budget, the error codes.
``measure()`` returns the same as dictionaries, for a runner that collects every benchmark.
"""

from __future__ import annotations

import time

import lossdsl
from lossdsl.language.extent import MAX_EXPANDED_DEPTH
from lossdsl.language.parser import MAX_NESTING, MAX_SOURCE_CHARS, MAX_TOKENS

BUDGET = 1.0  # CPU seconds for one formula


def _terms(template: str, count: int, joiner: str = " + ") -> str:
    return joiner.join(template.format(i) for i in range(count))


def inputs() -> dict[str, str]:
    """The pathological inputs, each at or just beyond a limit."""
    half = MAX_TOKENS // 2
    return {
        "a million unary minus": "-" * 1_000_000 + "a",
        f"{MAX_SOURCE_CHARS - 1:,} unary minus": "-" * (MAX_SOURCE_CHARS - 1) + "a",
        f"{MAX_TOKENS - 1:,} unary minus": "-" * (MAX_TOKENS - 1) + "a",
        "a ** a ** ... (33,333 levels)": "a**" * 33_333 + "a",
        f"a ** a ** ... ({half - 1:,} levels)": "a**" * (half - 1) + "a",
        "a 50,000-term sum": "+".join(["a"] * 50_000),
        f"a {half:,}-term sum of one parameter": "+".join(["a"] * half),
        f"a {half:,}-term sum of {half:,} parameters": _terms("a{}", half, "+"),
        f"a {half:,}-term product": _terms("a{}", half, "*"),
        f"{MAX_TOKENS // 7:,} norms": _terms("norm(L{}.kernel)", MAX_TOKENS // 7),
        f"{MAX_TOKENS // 12:,} uncertainty weights": _terms("exp(-s{0})*a{0} + s{0}", MAX_TOKENS // 12),
        f"{MAX_TOKENS // 20:,} weighted named terms": _terms("t{0} = exp(-s{0}) * mse(y_true, y_pred) + s{0}",
                                                              MAX_TOKENS // 20, "\n") + "\n"
        + _terms("t{}", MAX_TOKENS // 20),
        "10,000 nested parentheses": "(" * 10_000 + "a" + ")" * 10_000,
        f"{MAX_NESTING} nested calls": "exp(" * MAX_NESTING + "a" + ")" * MAX_NESTING,
        f"terms {MAX_EXPANDED_DEPTH + 40} calls deep written out":
            "\n".join(f"t{i} = " + "exp(" * 40 + (f"t{i - 1}" if i else "a") + ")" * 40
                      for i in range((MAX_EXPANDED_DEPTH + 40) // 40)) + f"\nt{(MAX_EXPANDED_DEPTH + 40) // 40 - 1}",
        "1,000 terms doubling": "t0 = a * norm(L1.kernel)\n" + "\n".join(
            f"t{i} = t{i - 1} + t{i - 1} * b" for i in range(1, 1000)) + "\nt999",
    }


def measure() -> list[dict]:
    """CPU seconds of lossdsl.check for each input, from a cold cache."""
    lossdsl.check("a")  # the parser's tables, sympy's imports
    rows = []
    for name, text in inputs().items():
        lossdsl.language.frontend.analyze.cache_clear()
        started = time.process_time()
        diagnostics = lossdsl.check(text)
        seconds = time.process_time() - started
        rows.append({"measure": name, "characters": len(text), "cpu_seconds": seconds, "ratio": seconds / BUDGET,
                     "codes": sorted({d.code for d in diagnostics if d.is_error}), "met": seconds <= BUDGET})
    return rows


def main() -> None:
    print(f"{'input':45s} {'chars':>9s} {'cpu s':>7s} {'ratio':>6s}  codes")
    for row in measure():
        print(f"{row['measure']:45s} {row['characters']:9,d} {row['cpu_seconds']:7.3f} {row['ratio']:6.2f}  "
              f"{' '.join(row['codes']) or '-'}")


if __name__ == "__main__":
    main()
