"""The last resort of the bounded-below check: ``sympy.limit`` at an end of a parameter's domain, under a
time budget, with every tensor block replaced by a symbol of the same sign.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import threading
import time
from typing import Callable

import sympy

from ..language.kinds import UNDECIDED, kind_of
from .asymptotics import End
from .ranges import RangeFinder

BUDGET = 0.2  # CPU seconds for one sympy.limit, which has no timeout of its own


class OutOfTime(Exception):
    """sympy did not answer within its budget: an answer that depends on the machine, never remembered."""


class _Undecided(Exception):
    """A node of the parameter with no plain-sympy form: sympy.limit cannot be asked."""


def bounded_at(expr: sympy.Expr, param: sympy.Symbol, end: End, contains: Callable, ranges: RangeFinder,
               seconds: float = BUDGET) -> bool | None:
    """True if ``expr`` stays bounded below as ``param`` goes to ``end``, False if it tends to -inf, None if
    sympy cannot tell; OutOfTime if it did not tell within ``seconds`` (or cannot be stopped here).

    ``contains(node, param)`` says whether a node depends on the parameter; ``ranges`` gives block signs.
    """
    try:
        plain = _plain(expr, param, contains, ranges, {})
        target = end.value if math.isfinite(end.value) else end.value * sympy.oo
        with _time_limit(seconds):
            found = sympy.limit(plain, param, target, "+" if end.side > 0 else "-")
    except OutOfTime:
        raise
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
    """Interrupt the block with OutOfTime once this thread has used ``seconds`` of CPU in it.

    A watcher thread raises the exception in this one (CPython's ``PyThreadState_SetAsyncExc``, checked
    between bytecodes like a signal handler). SIGALRM, used before, reaches the main thread only: a check in
    a worker thread skipped sympy and said W405 where the main thread said W401. CPU time, not wall time, so
    that threads checking formulas side by side (sharing the GIL) each get the whole budget.
    """
    if not hasattr(ctypes, "pythonapi"):
        raise OutOfTime  # not CPython: no safe way to stop sympy here, so do not start it
    target, lock, state = threading.get_ident(), threading.Lock(), {"armed": True, "fired": False}
    used, finished = _cpu_clock(target), threading.Event()

    def watch():
        deadline = used() + seconds
        while not finished.wait(max(deadline - used(), 0.001)):  # CPU time never runs ahead of wall time
            if used() >= deadline:
                with lock:
                    if not state["armed"]:
                        return
                    _raise_in(target, OutOfTime)
                    state["fired"] = True
                # Again until the block ends: an exception raised inside a gc callback is swallowed.
                deadline = used() + 0.01

    threading.Thread(target=watch, daemon=True, name="lossdsl-limit-watch").start()
    try:
        yield
    finally:
        finished.set()
        with lock:
            state["armed"] = False
            if state["fired"]:
                _raise_in(target, None)  # withdraw it if not delivered yet: it must never land after the block


def _cpu_clock(thread_id: int):
    """A function giving the CPU seconds the thread has used (wall time where the system cannot tell)."""
    try:
        clock = time.pthread_getcpuclockid(thread_id)
        time.clock_gettime(clock)
    except (AttributeError, OSError):
        return time.perf_counter
    return lambda: time.clock_gettime(clock)


def _raise_in(thread_id: int, exception: type | None) -> None:
    """Schedule ``exception`` in the thread (``None`` withdraws a scheduled one)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exception)
                                               if exception is not None else None)
