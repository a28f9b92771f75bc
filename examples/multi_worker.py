"""Two worker processes train with tf.distribute.MultiWorkerMirroredStrategy in the custom loop of
TensorFlow's multi-worker guide, and end with the parameters, weights and per-epoch losses of one process
with the same global batch. Then one worker dies mid-epoch, both restart from the last checkpoint, and the
run still ends where the uninterrupted one did.
Run: python examples/multi_worker.py

Keras' own fit() cannot run under MultiWorkerMirroredStrategy (keras-team/keras#20585), so the loop is
written by hand: ``term.per_replica(...)`` is each replica's share of the formula (docs/distribution.md).
The workers are this script started again with ``--worker`` and their own ``TF_CONFIG``.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# A learned weight, a pattern, and a history term (SPEC 5.6): the data term's weight grows with its moving
# average relative to its first value (GradNorm's L/L(0) on one task). History is global over the workers.
FORMULA = """data = mse(y_true, y_pred)
data*exp(-s)*(1 + 0.5*ema(data, 0.9)/(start(data) + 1e-6)) + s + 1e-3*sum(square(**.kernel))
where s: real = 0"""
EPOCHS, SAMPLES, GLOBAL_BATCH = 3, 128, 32
STEPS_PER_EPOCH = SAMPLES // GLOBAL_BATCH
CHECKPOINT_EVERY = 3  # steps: mid-epoch, so a restart resumes inside an epoch
EXIT_AT_STEP = "MULTI_WORKER_EXIT_AT_STEP"  # a worker given this ends its process before that step
KILLED = 17  # the exit status of a worker that ended itself


def train(out: Path, checkpoints: Path | None = None) -> None:
    """Train in this process (one worker of TF_CONFIG's cluster, or alone) and write the results to ``out``."""
    import tensorflow as tf  # the strategy must exist before any other TensorFlow op: created first

    strategy = tf.distribute.MultiWorkerMirroredStrategy() if "TF_CONFIG" in os.environ \
        else tf.distribute.get_strategy()
    import keras
    import numpy as np

    import lossdsl
    from _data import regression

    x, y = regression(samples=SAMPLES)
    with strategy.scope():
        inputs = keras.Input((8,))
        hidden = keras.layers.Dense(16, activation="tanh", name="hidden")(inputs)
        model = keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))
        # The same initial weights in every process (the chief's would be broadcast anyway).
        rng = np.random.default_rng(0)
        model.set_weights([0.3 * rng.normal(size=w.shape).astype("float32") for w in model.weights])
        term = lossdsl.compile(FORMULA, model)
        optimizer = keras.optimizers.Adam(0.01)
    # The loop's own state, read and written outside the replicas: plain variables, outside the scope.
    step = tf.Variable(0, dtype=tf.int64)
    step_losses = tf.Variable(tf.zeros([EPOCHS * STEPS_PER_EPOCH]))
    variables = model.trainable_variables + term.trainable_variables

    manager = None
    if checkpoints is not None:
        # Everything the loop needs to go on exactly where it was: the model, the optimizer's slots, the
        # term's parameters (and its state), the step (where the input is) and the losses logged so far.
        # Each worker keeps its own checkpoint (the guide lets non-chiefs write to a directory of their own).
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, term=term, step=step,
                                         step_losses=step_losses)
        manager = tf.train.CheckpointManager(checkpoint, checkpoints / f"worker{_worker_index()}", max_to_keep=2)
        checkpoint.restore(manager.latest_checkpoint)
        print(f"starting at step {int(step)}", flush=True)

    def worker_batches(context: tf.distribute.InputContext) -> tf.data.Dataset:
        # Every worker batches the same global batches and takes its own slice of each: together they hold
        # exactly the batch one process trains on (no shuffling, so the order is the same too).
        share = context.get_per_replica_batch_size(GLOBAL_BATCH)
        start = context.input_pipeline_id * share
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).repeat(EPOCHS).batch(GLOBAL_BATCH, drop_remainder=True)
        # A distributed iterator cannot be checkpointed (TensorFlow 2.21: it is not trackable), so a restart
        # skips the batches the restored step has trained on.
        return dataset.skip(int(step)).map(lambda xb, yb: (xb[start:start + share], yb[start:start + share]))

    iterator = iter(strategy.distribute_datasets_from_function(worker_batches))

    @tf.function
    def train_step(batch):
        def replica_step(xb, yb):
            with tf.GradientTape() as tape:
                # training=True: a training step, which moves the term's history
                loss = term.per_replica(yb, model(xb, training=True), training=True)
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss
        # The shares of the replicas add up to the formula's value over the global batch.
        return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(replica_step, args=batch), axis=None)

    exit_at = int(os.environ.get(EXIT_AT_STEP, -1))
    while int(step) < EPOCHS * STEPS_PER_EPOCH:
        if int(step) == exit_at:
            os._exit(KILLED)  # a crash: nothing saved, nothing closed; the other worker is left waiting
        step_losses[int(step)].assign(train_step(next(iterator)))
        step.assign_add(1)
        if int(step) % STEPS_PER_EPOCH == 0:
            term.end_epoch()  # epoch_start() and previous() move on; fit() does this itself
        if manager is not None and int(step) % CHECKPOINT_EVERY == 0:
            manager.save(checkpoint_number=int(step))
    epoch_losses = tf.reduce_mean(tf.reshape(step_losses, [EPOCHS, STEPS_PER_EPOCH]), axis=1)
    history = np.concatenate([np.ravel(w.numpy()) for w in term.state.weights.values()])
    np.savez(out, epoch_losses=epoch_losses.numpy(), s=term.params["s"], history=history,
             *[w.numpy() for w in model.weights])


def _worker_index() -> int:
    return json.loads(os.environ.get("TF_CONFIG", '{"task": {"index": 0}}'))["task"]["index"]


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now: bound to port 0, the system picks them."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start(folder: Path, workers: int = 2, checkpoints: Path | None = None, exit_at: dict | None = None) -> list:
    """Run this script as ``workers`` workers on 127.0.0.1 (0: one process alone), each process writing
    ``folder/worker<i>.npz``; ``exit_at`` {worker: step} makes a worker end itself before that step."""
    folder.mkdir(parents=True, exist_ok=True)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(workers)]}
    processes = []
    for index in range(max(workers, 1)):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        if workers:
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        if exit_at and index in exit_at:
            env[EXIT_AT_STEP] = str(exit_at[index])
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", str(folder / f"worker{index}.npz")]
        if checkpoints is not None:
            command += ["--checkpoints", str(checkpoints)]
        processes.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                          text=True, cwd=Path(__file__).parent))
    return processes


def finish(processes: list, timeout: float = 240) -> tuple[list[int], list[str]]:
    """The processes' exit statuses and outputs. A worker that ended early leaves the other waiting in a
    collective op forever: it is ended too (SIGKILL), as a cluster manager would."""
    deadline = time.monotonic() + timeout
    while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
        if any(p.poll() not in (None, 0) for p in processes):
            break
        time.sleep(0.2)
    for process in processes:
        if process.poll() is None:
            process.kill()
    outputs = [process.communicate()[0] for process in processes]
    return [process.returncode for process in processes], outputs


def run(folder: Path, workers: int = 2, checkpoints: Path | None = None, exit_at: dict | None = None) -> list[int]:
    """:func:`start` and :func:`finish`: the exit statuses; the output of a process that failed is printed."""
    codes, outputs = finish(start(folder, workers, checkpoints, exit_at))
    for code, output in zip(codes, outputs):
        if code not in (0, KILLED, -signal.SIGKILL):
            print(output[-4000:])
    return codes


def results(path: Path) -> dict:
    """What a process wrote: ``epoch_losses``, ``s``, the term's ``history`` and the weights (``arr_0``, ...)."""
    import numpy as np
    with np.load(path) as saved:
        return {name: saved[name] for name in saved.files}


def largest_difference(a: dict, b: dict) -> float:
    import numpy as np
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[name] - b[name]))) for name in a)


def main() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        workers = start(folder / "two")
        train(folder / "one.npz")  # the reference, while the workers run: one process, the same global batches
        assert finish(workers)[0] == [0, 0], "a worker failed"
        one, two = results(folder / "one.npz"), results(folder / "two" / "worker0.npz")
        uninterrupted = largest_difference(one, two)
        print("one process :", one["epoch_losses"].round(5), "s =", round(float(one["s"]), 5))
        print("two workers :", two["epoch_losses"].round(5), "s =", round(float(two["s"]), 5))
        print(f"largest difference in losses, weights, s and history: {uninterrupted:.2e}")

        # Worker 1 dies before step 5 (in the second epoch; the last checkpoint is step 3); both restart.
        checkpoints = folder / "checkpoints"
        assert run(folder / "restarted", checkpoints=checkpoints, exit_at={1: 5})[1] == KILLED
        assert run(folder / "restarted", checkpoints=checkpoints) == [0, 0], "a restarted worker failed"
        restarted = largest_difference(one, results(folder / "restarted" / "worker0.npz"))
        print(f"worker 1 killed at step 5, both restarted from step 3: largest difference {restarted:.2e}")
    assert max(uninterrupted, restarted) < 1e-5
    return max(uninterrupted, restarted)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--worker", type=Path, help="train as one process of TF_CONFIG's cluster (or alone)")
    parser.add_argument("--checkpoints", type=Path, help="save every few steps here; restart from the last save")
    args = parser.parse_args()
    if args.worker:
        train(args.worker, args.checkpoints)
    else:
        main()
