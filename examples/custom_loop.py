"""A custom training loop: the compiled term is a Keras layer usable inside tf.GradientTape.
Run: python examples/custom_loop.py
"""

import keras
import tensorflow as tf

import lossdsl
from _data import regression

# A Sequential model lists no InputLayer: L0 and L1 are its two Dense layers.
FORMULA = "mse(y_true, y_pred) + lam * (norm(L0.kernel) + norm(L1.kernel))\nwhere lam: (0, 0.1) = 0.01"


def main() -> list[float]:
    keras.utils.set_random_seed(0)
    x, y = regression()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)])
    term = lossdsl.compile(FORMULA, model)
    optimizer = keras.optimizers.Adam(0.01)
    variables = model.trainable_variables + term.trainable_variables

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = term(yb, model(xb, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(64)
    losses = []
    for epoch in range(5):
        epoch_losses = [float(step(xb, yb)) for xb, yb in dataset]
        losses.append(sum(epoch_losses) / len(epoch_losses))
        print(f"epoch {epoch + 1}: loss {losses[-1]:.4f}  lam {term.params['lam']:.4f}")
    assert losses[-1] < losses[0]
    return losses


if __name__ == "__main__":
    main()
