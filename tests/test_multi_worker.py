"""A compiled term under tf.distribute.MultiWorkerMirroredStrategy (issue 15, items 1-2): two local worker
processes in the custom loop of TensorFlow's multi-worker guide end with the per-epoch losses, the parameter,
the term's history (step, epoch, start(data), ema(data, 0.9)) and the weights of one process with the same global batch, also when one worker dies mid-epoch and both
restart from the last checkpoint. The processes are examples/multi_worker.py's.
"""

import signal
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))

import multi_worker  # noqa: E402

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("multi_worker")


@pytest.fixture(scope="module")
def one_process(folder):
    """The reference run, one process alone (the default strategy), run once for the module, at the same
    time as the uninterrupted two-worker run (the processes mostly wait for TensorFlow to import)."""
    two = multi_worker.start(folder / "two")
    assert multi_worker.run(folder / "one", workers=0) == [0]
    assert multi_worker.finish(two)[0] == [0, 0]
    reference = multi_worker.results(folder / "one" / "worker0.npz")
    # the run trained: the loss fell every epoch and the parameter moved off its initial 0
    assert np.all(np.diff(reference["epoch_losses"]) < 0) and abs(float(reference["s"])) > 1e-2
    return reference


def test_two_workers_train_like_one_process(folder, one_process):
    for index in range(2):
        worker = multi_worker.results(folder / "two" / f"worker{index}.npz")
        assert multi_worker.largest_difference(worker, one_process) < TOLERANCE


def test_a_worker_killed_mid_epoch_and_both_restarted_end_like_one_process(folder, one_process):
    checkpoints, restarted = folder / "checkpoints", folder / "restarted"
    # worker 1 ends itself before step 5 (the second epoch's second step); worker 0, left waiting in the
    # step's all-reduce, is killed
    codes, outputs = multi_worker.finish(multi_worker.start(restarted, checkpoints=checkpoints, exit_at={1: 5}))
    assert codes == [-signal.SIGKILL, multi_worker.KILLED], outputs
    assert not (restarted / "worker0.npz").exists()
    codes, outputs = multi_worker.finish(multi_worker.start(restarted, checkpoints=checkpoints))
    assert codes == [0, 0], outputs
    # both went on from the checkpoint saved after step 3, not from the start
    assert all("starting at step 3" in output for output in outputs), outputs
    for index in range(2):
        worker = multi_worker.results(restarted / f"worker{index}.npz")
        assert multi_worker.largest_difference(worker, one_process) < TOLERANCE
