"""An orthogonality penalty: keep a layer's kernel close to orthonormal columns, norm(W.T @ W - I).
Run: python examples/orthogonality.py
"""

import keras
import numpy as np

import lossdsl
from _data import regression

FORMULA = "mse(y_true, y_pred) + 0.1 * norm(proj.kernel.T @ proj.kernel - I)"


def build_model() -> keras.Model:
    inputs = keras.Input(shape=(8,))
    projected = keras.layers.Dense(8, use_bias=False, name="proj")(inputs)
    outputs = keras.layers.Dense(1, name="out")(projected)
    return keras.Model(inputs, outputs)


def orthogonality_gap(model) -> float:
    w = model.get_layer("proj").kernel.numpy()
    return float(np.linalg.norm(w.T @ w - np.eye(w.shape[1])))


def main() -> tuple[float, float]:
    keras.utils.set_random_seed(0)
    x, y = regression()
    inner = build_model()
    before = orthogonality_gap(inner)
    model = lossdsl.attach(inner, FORMULA)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(x, y, epochs=10, batch_size=64, verbose=0)
    after = orthogonality_gap(inner)
    print(f"||W^T W - I|| before {before:.3f}, after {after:.3f}")
    assert after < before
    return before, after


if __name__ == "__main__":
    main()
