"""keras.callbacks.TensorBoard sees every logged named term and parameter (the `tensorboard` extra)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
import models

pytest.importorskip("tensorboard", reason='TensorBoard is an extra: pip install "lossdsl[tensorboard]"')


def _scalar_tags(log_dir) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {}
    for path in tf.io.gfile.glob(f"{log_dir}/train/events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(float(tf.make_ndarray(value.tensor)))
    return found


def test_tensorboard_event_files_hold_the_terms_and_parameters(tmp_path):
    keras.utils.set_random_seed(0)
    model = lossdsl.attach(models.sequential(), "data = mse(y_true, y_pred)\nreg = norm(dense_1.kernel)\n"
                                                "data + c * reg - log(c)\nwhere c: positive = 0.5")
    model.compile(optimizer="sgd")
    x, y = np.random.default_rng(0).normal(size=(32, 4)), np.random.default_rng(1).normal(size=(32, 2))
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=str(tmp_path))])
    tags = _scalar_tags(tmp_path)
    for name in ("data", "reg", "c", "loss"):
        assert tags[f"epoch_{name}"] == pytest.approx(history.history[name], rel=1e-6), name
