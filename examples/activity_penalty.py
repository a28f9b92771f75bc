"""An activity penalty on a layer inside a nested subclassed model, sub_model.dense1.output, trained with
fit(): the same losses and weights as a hand-written loop that exposes the layer's output, the same again
under MirroredStrategy on two replicas (activations are kept per replica), and saved and reloaded.
Run: python examples/activity_penalty.py
"""

import tempfile

import tensorflow as tf

# Two logical CPUs, configured before anything initialises TensorFlow's devices.
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import lossdsl  # noqa: E402
from _data import regression  # noqa: E402

# The second term pairs each replica's targets with its own activations: read from another replica, it would differ.
FORMULA = ("mse(y_true, y_pred) + a*mean(square(sub_model.dense1.output))"
           " + 0.1*mean(square(y_true - sub_model.dense1.output[:, 0:1])) where a: const = 0.01")
EPOCHS, BATCH, RATE = 3, 64, 0.05


@keras.saving.register_keras_serializable(package="examples")
class SubModel(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = keras.layers.Dense(16, activation="relu")
        self.dense2 = keras.layers.Dense(1)

    def call(self, x):
        return self.dense2(self.dense1(x))


def nested() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    return keras.Model(inputs, SubModel(name="sub_model")(inputs))


def train(strategy) -> tuple[list[float], list[np.ndarray], keras.Model]:
    x, y = regression(samples=256)
    with strategy.scope():
        model = lossdsl.attach(nested(), FORMULA)
        model.compile(optimizer=keras.optimizers.SGD(RATE))
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    return history.history["loss"], [w.numpy() for w in model.inner.weights], model


def by_hand() -> tuple[list[float], list[np.ndarray]]:
    """The same training written out: the layer's output taken in the forward pass, no lossdsl."""
    x, y = regression(samples=256)
    model, optimizer, losses = nested(), keras.optimizers.SGD(RATE), []
    sub = model.get_layer("sub_model")
    for _ in range(EPOCHS):
        epoch = []
        for start in range(0, len(x), BATCH):
            xb, yb = x[start:start + BATCH], y[start:start + BATCH]
            with tf.GradientTape() as tape:
                hidden = sub.dense1(xb)
                loss = (tf.reduce_mean(tf.square(yb - sub.dense2(hidden))) + 0.01 * tf.reduce_mean(tf.square(hidden))
                        + 0.1 * tf.reduce_mean(tf.square(yb - hidden[:, 0:1])))
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
            epoch.append(float(loss))
        losses.append(float(np.mean(epoch)))
    return losses, [w.numpy() for w in model.weights]


def largest_difference(a, b) -> float:
    return max(max(abs(p - q) for p, q in zip(a[0], b[0])),
               max(float(np.max(np.abs(p - q))) for p, q in zip(a[1], b[1])))


def main() -> None:
    one_device = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
    two_replicas = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
    written_out = by_hand()
    print("fit()            :", [round(v, 5) for v in one_device[0]])
    print("by hand          :", [round(v, 5) for v in written_out[0]])
    print("two replicas     :", [round(v, 5) for v in two_replicas[0]])
    print(f"fit() vs by hand : {largest_difference(one_device, written_out):.2e}")
    print(f"one vs two       : {largest_difference(one_device, two_replicas):.2e}")
    assert largest_difference(one_device, written_out) < 1e-5
    assert largest_difference(one_device, two_replicas) < 1e-5

    x, y = regression(samples=256)
    trained = one_device[2]
    with tempfile.TemporaryDirectory() as folder:
        trained.save(f"{folder}/activity.keras")
        loaded = keras.models.load_model(f"{folder}/activity.keras", safe_mode=True)
    loaded.compile(optimizer=keras.optimizers.SGD(RATE))
    before, after = (m.evaluate(x, y, verbose=0, return_dict=True)["loss"] for m in (trained, loaded))
    print(f"saved and reloaded: loss {before:.6f} -> {after:.6f}")
    assert abs(before - after) < 1e-6


if __name__ == "__main__":
    main()
