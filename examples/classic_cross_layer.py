"""The classic cross-layer loss: the data term plus a weight on one kernel's norm and another's.

The old answer was ``model.add_loss(lambda: a * tf.norm(l1.kernel) + tf.norm(l2.kernel))`` with a raw
``tf.Variable a``: it raises in Keras 3, is not saved, and drives ``a`` to -inf. Here it is a formula.
The weight is fixed (``const``): a weight on a penalty cannot be learned from the same loss, since with
``a: positive`` the loss still decreases as ``a`` falls, so training drives it to 0 (W406).
Run: python examples/classic_cross_layer.py
"""

import os
import tempfile

import keras
import numpy as np

import lossdsl
from _data import regression

FORMULA = """
data = mse(y_true, y_pred)                       # logged as a metric during fit
reg  = a * norm(hidden.kernel) + norm(out.kernel)
data + 0.01 * reg
where a: const = 1.0
"""


def build_model() -> keras.Model:
    inputs = keras.Input(shape=(8,))
    hidden = keras.layers.Dense(16, activation="relu", name="hidden")(inputs)
    outputs = keras.layers.Dense(1, name="out")(hidden)
    return keras.Model(inputs, outputs)


def main() -> dict:
    keras.utils.set_random_seed(0)
    x, y = regression()
    assert lossdsl.check(FORMULA) == [], "a fixed weight is well posed"
    learned = FORMULA.replace("a: const", "a: positive")
    print("lint with a learned weight:", [(d.code, d.message) for d in lossdsl.check(learned)])
    model = lossdsl.attach(build_model(), FORMULA)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    history = model.fit(x, y, epochs=5, batch_size=64, verbose=2)
    print("parameters:", {k: round(v, 4) for k, v in model.params.items()})

    path = os.path.join(tempfile.mkdtemp(), "classic.keras")
    model.save(path)
    restored = keras.models.load_model(path)  # safe_mode=True: the formula is stored as text
    same = np.allclose(restored.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))
    print(f"saved and reloaded from {path}: same predictions {same}, parameters {restored.params}")
    assert same and restored.params == model.params
    return history.history


if __name__ == "__main__":
    main()
