"""Training under tf.distribute.MirroredStrategy on two logical CPU devices gives the same losses,
weights and parameters as one device: reductions over the batch (the data loss, max) are computed over
the global batch, and the formula is counted once, not once per replica.
Run: python examples/mirrored_strategy.py
"""

import tensorflow as tf

# Two logical CPUs, configured before anything initialises TensorFlow's devices.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import lossdsl  # noqa: E402
from _data import regression  # noqa: E402

FORMULA = """data = mse(y_true, y_pred)
data + 0.1 * max(abs(y_true - y_pred)) + a * norm(hidden.kernel) + 0.1 * norm(out.kernel)
where a: positive = 0.5"""


def train(strategy) -> tuple[list[float], list[np.ndarray], dict]:
    keras.utils.set_random_seed(0)
    x, y = regression(samples=256)
    with strategy.scope():
        inputs = keras.Input(shape=(8,))
        hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
        outputs = keras.layers.Dense(1, name="out")(hidden)
        model = lossdsl.attach(keras.Model(inputs, outputs), FORMULA)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(x, y, epochs=3, batch_size=64, shuffle=False, verbose=0)
    return history.history["loss"], [w.numpy() for w in model.inner.weights], model.params


def main() -> float:
    one_device = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two_replicas = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    worst = max(
        max(abs(a - b) for a, b in zip(one_device[0], two_replicas[0])),
        max(float(np.max(np.abs(a - b))) for a, b in zip(one_device[1], two_replicas[1])),
        max(abs(one_device[2][k] - two_replicas[2][k]) for k in one_device[2]),
    )
    print("one device  :", [round(v, 5) for v in one_device[0]], one_device[2])
    print("two replicas:", [round(v, 5) for v in two_replicas[0]], two_replicas[2])
    print(f"largest difference in loss, weights and parameters: {worst:.2e}")
    assert worst < 1e-5
    return worst


if __name__ == "__main__":
    main()
