"""The classic nested model: a subclassed ``sub_model`` (dense1..dense3) inside a Functional model,
with a learned weight ``a`` on one kernel's norm.

With ``a`` unconstrained the loss is linear in ``a``: gradient descent drives ``a`` and the loss to
-inf (the TF 2.3 report: loss -53 after 5 epochs). lossdsl's linter says so before training, and
``where a: positive`` keeps the loss bounded: ``a`` settles instead of diverging.
Run: python examples/nested_learned_weight.py
"""

import keras

import lossdsl
from _data import regression


class SubModel(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = keras.layers.Dense(16, activation="relu")
        self.dense2 = keras.layers.Dense(16, activation="relu")
        self.dense3 = keras.layers.Dense(1)

    def call(self, x):
        return self.dense3(self.dense2(self.dense1(x)))


def build_model() -> keras.Model:
    inputs = keras.Input(shape=(8,))
    outputs = SubModel(name="sub_model")(inputs)
    return keras.Model(inputs, outputs)


DIVERGENT = "mse(y_true, y_pred) + a * norm(sub_model.dense1.kernel) + norm(sub_model.dense2.kernel)"
BOUNDED = DIVERGENT + "\nwhere a: positive = 1.0"


def train(formula: str, epochs: int = 5):
    keras.utils.set_random_seed(0)
    x, y = regression()
    model = lossdsl.attach(build_model(), formula)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return history.history["loss"], model.params["a"]


def main() -> dict:
    for diagnostic in lossdsl.check(DIVERGENT):
        print("lint:", diagnostic.code, diagnostic.message, "| hint:", diagnostic.hint)
    results = {}
    for label, formula in (("a: real", DIVERGENT), ("a: positive", BOUNDED)):
        losses, a = train(formula)
        results[label] = (losses, a)
        print(f"{label:12s} loss per epoch {[round(v, 2) for v in losses]}  a = {a:.4f}")
    assert results["a: real"][1] < 0 < results["a: positive"][1]
    assert min(results["a: positive"][0]) > 0
    return results


if __name__ == "__main__":
    main()
