"""Patterns over every layer on a real-size model: ``keras.applications.ResNet50(weights=None)`` (issue 15).

    python benchmarks/bench_resnet.py [--rounds 5] [--steps 6] [--size 64] [--batch 16]

- compile: ``lossdsl.compile`` of the L2 pattern and of an orthogonality comprehension over every conv kernel
  (each reshaped to 2-D), each in a new process with TensorFlow and the model loaded, against the 1 s budget;
  and the first call (the trace) against the first call of the same sum written by hand in a tf.function.
- fit: a ``fit()`` step with ``1e-4*sum(square(**.kernel))`` attached against the same ResNet50 with Keras'
  ``L2(1e-4)`` regularizer on every kernel (inputs ``size`` x ``size``, alternating rounds, median ratio), in
  wall time and in the process's CPU time.
- memory: the peak resident memory of a process that builds the model, compiles it (with the formula
  attached, or without lossdsl at all) and runs the first training step; each side a new process, alternating.
- lint: ``lossdsl lint --model saved.keras`` on the saved ResNet50 against loading it with Keras alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import keras

L2 = "1e-4*sum(square(**.kernel))"
# reshape takes a constant shape: 64 columns fit every ResNet50 conv kernel (its size is a multiple of 64)
ORTHOGONALITY = "1e-4*sum(norm(reshape(W, (-1, 64)).T @ reshape(W, (-1, 64)) - I) for W in conv*.kernel)"
FORMULAS = {"l2": L2, "orthogonality": ORTHOGONALITY}
COMPILE_BUDGET = 1.0  # seconds
FIT_GOAL = 1.02  # "at most 1.0x, within 2 %": the noise of a shared machine
MEMORY_GOAL = 1.05


def resnet(size: int = 64, regularized: bool = False):
    """ResNet50, random weights (always the same), ``size`` x ``size`` inputs, 10 classes; with Keras'
    ``L2(1e-4)`` on every kernel if ``regularized`` (what ``kernel_regularizer=`` would have given)."""
    keras.utils.set_random_seed(0)
    model = keras.applications.ResNet50(weights=None, input_shape=(size, size, 3), classes=10)
    if regularized:
        for layer in model.layers:
            if hasattr(layer, "kernel"):
                layer.kernel.regularizer = keras.regularizers.L2(1e-4)
    return model


def _data(size: int, batch: int, steps: int):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * batch, size, size, 3)).astype("float32")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, steps * batch)]
    return x, y


def fit_steps(rounds: int = 5, steps: int = 6, size: int = 64, batch: int = 16, build=resnet) -> list[dict]:
    """Median wall and CPU time per fit() step: the L2 pattern attached against Keras' regularizer on every
    kernel, alternating rounds. The CPU time (every thread of the process) hardly moves with the load of
    other processes, where a round's wall time on a shared machine swings by 10-20 %."""
    import lossdsl
    from bench_fit import _same_loss
    from timing import row

    x, y = _data(size, batch, steps)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        ours = lossdsl.attach(build(size), L2)
    baseline = build(size, regularized=True)
    for model in (ours, baseline):
        model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="categorical_crossentropy", jit_compile=False)
    _same_loss(*(model.evaluate(x, y, batch_size=batch, verbose=0, return_dict=True)["loss"]
                 for model in (ours, baseline)))
    clock = _StepClocks()
    for model in (ours, baseline):  # warm-up: traces the train step
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, callbacks=[clock])
    times: dict[str, list[tuple[float, float]]] = {"ours": [], "baseline": []}
    sides = [("ours", ours), ("baseline", baseline)]
    for round_ in range(rounds):
        for name, model in sides if round_ % 2 == 0 else sides[::-1]:
            model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False, callbacks=[clock])
            times[name].append(clock.per_step())
    rows = []
    for index, what in ((0, "step"), (1, "CPU time per step")):
        ours_times, baseline_times = ([t[index] for t in times[side]] for side in ("ours", "baseline"))
        ratio = statistics.median(a / b for a, b in zip(ours_times, baseline_times))
        rows.append(row(f"fit: {what}, ResNet50 {size}x{size} batch {batch}, {L2} vs L2 regularizers (ms)",
                        statistics.median(ours_times), statistics.median(baseline_times), FIT_GOAL,
                        goal_text="ratio <= 1 (within 2 %)", scale=1e3, ratio=ratio))
    return rows


class _StepClocks(keras.callbacks.Callback):
    """Stamps the wall clock and the process's CPU clock at the end of every training step."""

    def on_epoch_begin(self, epoch, logs=None):
        self.stamps = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append((time.perf_counter(), time.process_time()))

    def per_step(self) -> tuple[float, float]:
        """Median wall and CPU seconds between consecutive steps of the last epoch, the first excluded."""
        gaps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(self.stamps, self.stamps[1:])]
        return statistics.median(g[0] for g in gaps), statistics.median(g[1] for g in gaps)


# ------------------------------------------------------------------ measured in new processes
def _hand_written(name: str, model):
    """The formula written by hand over the model's kernels, as a tf.function."""
    import tensorflow as tf
    if name == "l2":
        kernels = [layer.kernel for layer in model.layers if hasattr(layer, "kernel")]
        return tf.function(lambda: 1e-4 * tf.add_n([tf.reduce_sum(tf.square(k)) for k in kernels]))
    convs = [layer.kernel for layer in model.layers if layer.name.startswith("conv") and hasattr(layer, "kernel")]

    def orthogonality():
        eye = tf.eye(64)
        return 1e-4 * tf.add_n([tf.norm(tf.matmul(tf.reshape(k, (-1, 64)), tf.reshape(k, (-1, 64)), transpose_a=True)
                                        - eye) for k in convs])
    return tf.function(orthogonality)


def compile_child(name: str) -> dict:
    """In a new process: seconds to compile formula ``name`` on ResNet50 (224 x 224, 1000 classes), and the
    first call's against the first call of the hand-written tf.function (both trace there)."""
    import lossdsl
    model = keras.applications.ResNet50(weights=None)
    start = time.perf_counter()
    term = lossdsl.compile(FORMULAS[name], model)
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    ours = float(term())
    first_call = time.perf_counter() - start
    hand_written = _hand_written(name, model)
    start = time.perf_counter()
    theirs = float(hand_written())
    baseline_first_call = time.perf_counter() - start
    if abs(ours - theirs) > 1e-4 * abs(theirs):
        raise AssertionError(f"{FORMULAS[name]} is {ours}, written by hand {theirs}")
    members = len(next(iter(term.analysis.members.values())))
    return {"compile": compiled, "first_call": first_call, "baseline_first_call": baseline_first_call,
            "members": members}


def memory_child(side: str, size: int, batch: int) -> dict:
    """In a new process: the peak resident memory (MB) after building, compiling and one training step,
    with the L2 pattern attached (``ours``), with Keras' L2 regularizers (``keras_l2``) or the model alone
    (``plain``); lossdsl is imported by ``ours`` only."""
    model = resnet(size, regularized=side == "keras_l2")
    if side == "ours":
        import lossdsl
        model = lossdsl.attach(model, L2)
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss="categorical_crossentropy", jit_compile=False)
    model.train_on_batch(*_data(size, batch, 1))
    return {"peak_mb": _peak_rss_mb()}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (MB): VmHWM, which starts afresh at exec. (getrusage's ru_maxrss
    does not: on Linux a child inherits its parent's peak, the benchmark's own ResNet50 fit.)"""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def _child(*arguments: str) -> dict:
    """Run this script with ``--child``: the JSON it prints last."""
    run = subprocess.run([sys.executable, __file__, "--child", *arguments], capture_output=True, text=True,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False)
    if run.returncode:
        raise RuntimeError(f"bench_resnet --child {' '.join(arguments)} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def compile_rows(rounds: int = 3) -> list[dict]:
    """Compile time of each formula (median of ``rounds`` new processes) and its first call's."""
    from timing import row
    results = []
    for name, formula in FORMULAS.items():
        runs = [_child("compile", name) for _ in range(rounds)]
        members = runs[0]["members"]
        results.append(row(f"compile: {formula} on ResNet50 ({members} kernels), new process, vs the budget (s)",
                           statistics.median(r["compile"] for r in runs), COMPILE_BUDGET, 1.0, goal_text="< 1 s"))
        ratios = [r["first_call"] / r["baseline_first_call"] for r in runs]
        results.append(row(f"first call (trace) of the {name} formula vs the same sum in a hand-written tf.function (s)",
                           statistics.median(r["first_call"] for r in runs),
                           statistics.median(r["baseline_first_call"] for r in runs), None,
                           ratio=statistics.median(ratios)))
    return results


def memory_rows(rounds: int = 3, size: int = 64, batch: int = 16) -> list[dict]:
    """Peak memory of compile + first step with the formula against the model alone and against Keras'
    regularizers on every kernel; the sides alternate, each in a new process."""
    from timing import row
    sides = ["ours", "plain", "keras_l2"]
    peaks: dict[str, list[float]] = {side: [] for side in sides}
    for round_ in range(rounds):
        for side in sides if round_ % 2 == 0 else sides[::-1]:
            peaks[side].append(_child("memory", side, str(size), str(batch))["peak_mb"])
    rows = []
    for baseline, what in (("plain", "no formula"), ("keras_l2", "Keras' L2 regularizers")):
        ratio = statistics.median(a / b for a, b in zip(peaks["ours"], peaks[baseline]))
        rows.append(row(f"peak memory: ResNet50 {size}x{size} compile + first step, {L2} vs {what} (MB)",
                        statistics.median(peaks["ours"]), statistics.median(peaks[baseline]), MEMORY_GOAL,
                        goal_text=f"within {MEMORY_GOAL - 1:.0%}", ratio=ratio))
    return rows


def lint_row(rounds: int = 3, size: int = 64) -> dict:
    """``lossdsl lint --model`` on the saved ResNet50 against ``keras.models.load_model`` of it alone."""
    from timing import row
    with tempfile.TemporaryDirectory() as directory:
        path = str(Path(directory) / "resnet50.keras")
        resnet(size).save(path)
        lint = [sys.executable, "-m", "lossdsl", "lint", "--model", path, ORTHOGONALITY]
        load = [sys.executable, "-c", f"import keras; keras.models.load_model({path!r})"]
        times: dict[str, list[float]] = {"ours": [], "baseline": []}
        for round_ in range(rounds):
            for side in ("ours", "baseline") if round_ % 2 == 0 else ("baseline", "ours"):
                start = time.perf_counter()
                done = subprocess.run(lint if side == "ours" else load, capture_output=True, text=True, check=False)
                times[side].append(time.perf_counter() - start)
                if done.returncode:
                    raise RuntimeError(f"{side} failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    ratio = statistics.median(a / b for a, b in zip(times["ours"], times["baseline"]))
    return row("lint --model on the saved ResNet50 (orthogonality formula) vs keras.models.load_model (s)",
               statistics.median(times["ours"]), statistics.median(times["baseline"]), None, ratio=ratio)


def run(rounds: int = 5, steps: int = 6, size: int = 64, batch: int = 16, process_rounds: int = 3) -> list[dict]:
    """Every ResNet50 row."""
    return [*compile_rows(process_rounds), *fit_steps(rounds, steps, size, batch),
            *memory_rows(process_rounds, size, batch), lint_row(process_rounds, size)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--process-rounds", type=int, default=3, help="new processes per side (compile, memory, lint)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        result = compile_child(*rest) if kind == "compile" else memory_child(rest[0], int(rest[1]), int(rest[2]))
        print(json.dumps(result))
        return
    from timing import print_results
    print_results(run(args.rounds, args.steps, args.size, args.batch, args.process_rounds))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
