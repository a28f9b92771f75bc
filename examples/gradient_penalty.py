"""A gradient penalty on the inputs (WGAN-GP style), grad(y_pred, inputs), trained with fit(): the same losses
and weights as a hand-written loop with nested tapes, the input gradients' norms nearer 1 than without it,
evaluate() including the penalty, and the model saved and reloaded.
Run: python examples/gradient_penalty.py
"""

import tempfile

import keras
import numpy as np
import tensorflow as tf

import lossdsl
from _data import regression

FORMULA = "mse(y_true, y_pred) + lam*mean(square(norm(grad(y_pred, inputs), axis=1) - 1)) where lam: const = 1"
EPOCHS, BATCH, RATE = 5, 64, 0.02


def mlp() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(16, activation="tanh", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(hidden))


def penalized(model, x, y):
    """The formula written out: an inner tape watches the inputs, the outer one (the caller's) sees it all."""
    with tf.GradientTape() as inner:
        inner.watch(x)
        prediction = model(x, training=True)
    slopes = tf.norm(inner.gradient(prediction, x), axis=1)
    return tf.reduce_mean(tf.square(y - prediction)) + tf.reduce_mean(tf.square(slopes - 1))


def by_hand(x, y) -> tuple[list[float], keras.Model]:
    model, optimizer, losses = mlp(), keras.optimizers.SGD(RATE), []
    for _ in range(EPOCHS):
        epoch = []
        for start in range(0, len(x), BATCH):
            xb, yb = tf.constant(x[start:start + BATCH]), tf.constant(y[start:start + BATCH])
            with tf.GradientTape() as tape:
                loss = penalized(model, xb, yb)
            optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
            epoch.append(float(loss))
        losses.append(float(np.mean(epoch)))
    return losses, model


def slope_norms(model, x) -> np.ndarray:
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        prediction = model(x)
    return tf.norm(tape.gradient(prediction, x), axis=1).numpy()


def main() -> None:
    x, y = regression(samples=512)
    model = lossdsl.attach(mlp(), FORMULA)
    model.compile(optimizer=keras.optimizers.SGD(RATE))
    history = model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    losses, reference = by_hand(x, y)
    gap = max(float(np.max(np.abs(a.numpy() - b.numpy()))) for a, b in zip(model.inner.weights, reference.weights))
    print("fit() losses:        ", [round(v, 4) for v in history.history["loss"]])
    print("hand-written losses: ", [round(v, 4) for v in losses])
    print(f"largest weight difference from the hand-written loop: {gap:.1e}")
    assert np.allclose(history.history["loss"], losses, rtol=1e-4) and gap < 1e-5
    plain = lossdsl.attach(mlp(), "mse(y_true, y_pred)")
    plain.compile(optimizer=keras.optimizers.SGD(RATE))
    plain.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    penalized_gap, plain_gap = (float(np.mean(np.square(slope_norms(m.inner, x) - 1))) for m in (model, plain))
    print(f"mean (|grad| - 1)^2 over the data: {penalized_gap:.4f} with the penalty, {plain_gap:.4f} without")
    assert penalized_gap < plain_gap

    evaluated = model.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)["loss"]
    expected = float(penalized(model.inner, tf.constant(x), tf.constant(y)))
    print(f"evaluate() = {evaluated:.5f}, the formula by hand = {expected:.5f} (the penalty included)")
    assert abs(evaluated - expected) < 1e-4 * max(1.0, abs(expected))

    with tempfile.TemporaryDirectory() as directory:
        path = f"{directory}/penalty.keras"
        model.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)
        loaded.compile(optimizer=keras.optimizers.SGD(RATE))
        again = loaded.evaluate(x, y, batch_size=len(x), verbose=0, return_dict=True)["loss"]
    print(f"after save and load, evaluate() = {again:.5f}")
    assert abs(again - evaluated) < 1e-5 * max(1.0, abs(evaluated))


if __name__ == "__main__":
    main()
