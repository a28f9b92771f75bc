"""The last resort of the bounded-below check: ``sympy.limit`` at an end of a parameter's domain, under a
time budget, with every tensor block replaced by a symbol of the same sign.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from typing import Callable

import sympy

from ..language.kinds import UNDECIDED, kind_of
from .asymptotics import End
from .ranges import RangeFinder

BUDGET = 0.2  # seconds for one sympy.limit, which has no timeout of its own


class _OutOfTime(Exception):
    pass


class _Undecided(Exception):
    """A node of the parameter with no plain-sympy form: sympy.limit cannot be asked."""


def bounded_at(expr: sympy.Expr, param: sympy.Symbol, end: End, contains: Callable, ranges: RangeFinder,
               seconds: float = BUDGET) -> bool | None:
    """True if ``expr`` stays bounded below as ``param`` goes to ``end``, False if it tends to -inf, None if
    sympy does not tell within ``seconds`` (or cannot be stopped here: outside the main thread, or without
    SIGALRM).

    ``contains(node, param)`` says whether a node depends on the parameter; ``ranges`` gives block signs.
    """
    try:
        plain = _plain(expr, param, contains, ranges, {})
        target = end.value if math.isfinite(end.value) else end.value * sympy.oo
        with _time_limit(seconds):
            found = sympy.limit(plain, param, target, "+" if end.side > 0 else "-")
    except Exception:  # sympy raises many kinds (NotImplementedError, PoleError, ...); a guess would be worse
        return None
    if isinstance(found, sympy.AccumBounds):  # oscillating: what matters is how low it goes
        found = found.min
    if found == -sympy.oo:
        return False
    if not found.free_symbols and (found == sympy.oo or (found.is_extended_real and found.is_finite)):
        return True
    return None


def _plain(node: sympy.Basic, param, contains: Callable, ranges: RangeFinder, blocks: dict) -> sympy.Expr:
    """The expression in plain sympy: blocks become signed symbols, each node its kind's plain form
    (sigmoid(x) is 1/(1 + exp(-x))); a kind with none makes the fallback give up."""
    if not contains(node, param):
        if node.is_Number:
            return node
        if node not in blocks:
            sign = ranges.of(node)
            blocks[node] = sympy.Dummy(positive=True) if sign.positive else sympy.Dummy(negative=True) \
                if sign.negative else sympy.Dummy(nonnegative=True) if sign.nonnegative else sympy.Dummy(real=True)
        return blocks[node]
    if node == param:
        return node
    args = [_plain(arg, param, contains, ranges, blocks) for arg in node.args]
    kind = kind_of(type(node))
    if kind is None or kind.plain is UNDECIDED:
        raise _Undecided
    return kind.plain(*args)


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Interrupt the block after ``seconds`` with _OutOfTime (main thread, no other timer running)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread() \
            or signal.getitimer(signal.ITIMER_REAL)[0] > 0:
        raise _OutOfTime  # no safe way to stop sympy here, so do not start it

    def stop(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
