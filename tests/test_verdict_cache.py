"""Stability verdicts do not depend on the thread that computed them, and a verdict that depends on the
time sympy had (W405 after its budget ran out) is never remembered."""

import threading
import time

import pytest

import lossdsl
from lossdsl.analysis import stability
from lossdsl.analysis.limit_fallback import OutOfTime, _time_limit

# formula, its stability codes: the same from the main thread and from a worker thread
VERDICTS = [
    ("mse(y_true, y_pred) + relu(b) - 2*b", ["W401"]),  # decided by sympy.limit: was W405 in a thread
    ("mse(y_true, y_pred) + relu(c) - 2*c", ["W401"]),
    # sympy cannot tell in a alone (W405), in any thread; jointly, norm(W.kernel) -> 0 leaves a**3*sin(a), which falls
    ("a*cos(a)*norm(W.kernel) + a**3*sin(a)", ["W405", "W401"]),
    ("softplus(a) - a + norm(W.kernel)", []),
]


def forget_everything():
    lossdsl.language.frontend.analyze.cache_clear()
    stability._check.cache_clear()
    stability._VERDICTS.clear()


def codes(src: str) -> list[str]:
    return [d.code for d in lossdsl.check(src)]


def in_a_thread(function):
    result = []
    worker = threading.Thread(target=lambda: result.append(function()))
    worker.start()
    worker.join()
    return result[0]


@pytest.mark.parametrize("thread_first", [True, False])
@pytest.mark.parametrize("src, expected", VERDICTS)
def test_a_worker_thread_and_the_main_thread_get_the_same_verdict(src, expected, thread_first):
    forget_everything()
    if thread_first:
        assert (in_a_thread(lambda: codes(src)), codes(src)) == (expected, expected)
    else:
        assert (codes(src), in_a_thread(lambda: codes(src))) == (expected, expected)


def test_four_threads_agree_with_one():
    texts = [f"mse(y_true, y_pred) + relu(b{i}) - {i + 2}*b{i}" for i in range(6)] + [src for src, _ in VERDICTS]
    forget_everything()
    alone = [codes(text) for text in texts]
    forget_everything()
    results = [None] * 4
    workers = [threading.Thread(target=lambda k=k: results.__setitem__(k, [codes(t) for t in texts])) for k in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [alone] * 4 and alone[0] == ["W401"]


def test_a_verdict_cut_short_by_the_time_budget_is_not_remembered(monkeypatch):
    src = "mse(y_true, y_pred) + relu(d) - 2*d"
    forget_everything()
    monkeypatch.setattr(stability, "FORMULA_BUDGET", 0.0)  # as if sympy had run out of time on a loaded machine
    assert codes(src) == ["W405"]
    monkeypatch.undo()
    assert codes(src) == ["W401"]


@pytest.mark.parametrize("where", ["main", "worker"])
def test_the_time_limit_stops_a_block_in_any_thread_and_never_fires_late(where):
    def run():
        start = time.perf_counter()
        with pytest.raises(OutOfTime):
            with _time_limit(0.05):
                while True:
                    pass
        stopped = time.perf_counter() - start
        for _ in range(20):  # blocks that end in time are never interrupted, not even just after
            with _time_limit(0.01):
                sum(range(10_000))
        time.sleep(0.05)
        return stopped

    assert (run() if where == "main" else in_a_thread(run)) < 2.0
