"""The classic nested model: a subclassed ``sub_model`` (dense1..dense3) inside a Functional model,
with a weight ``a`` on one kernel's norm, three ways.

- ``a`` real: the loss is linear in ``a``, so gradient descent drives ``a`` and the loss to -inf (the
  TF 2.3 report: loss -53 after 5 epochs). The linter says W401 before training.
- ``a: positive``: the loss is bounded, but it still decreases as ``a`` falls, whatever the weights are:
  ``a`` has no optimum and training drives it toward 0, switching the penalty off. The linter says W406.
- ``a: const``: a weight on a penalty cannot be learned from the same loss; fixed, it is well posed (clean)
  and tuned like any hyper-parameter.
Run: python examples/nested_learned_weight.py
"""

import warnings

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
COLLAPSING = DIVERGENT + "\nwhere a: positive = 1.0"
FIXED = DIVERGENT + "\nwhere a: const = 1.0"


def train(formula: str, epochs: int = 5):
    """The loss per epoch and ``a`` at the end of each epoch."""
    keras.utils.set_random_seed(0)
    x, y = regression()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)  # the findings are printed by main()
        model = lossdsl.attach(build_model(), formula)
    model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(x, y, epochs=epochs, batch_size=32, verbose=0).history
    return history["loss"], history["a"] if "a" in history else [model.params["a"]] * epochs


def main() -> dict:
    results = {}
    for label, formula, expected in (("a: real", DIVERGENT, ["W401"]), ("a: positive", COLLAPSING, ["W406"]),
                                     ("a: const", FIXED, [])):
        findings = lossdsl.check(formula)
        for diagnostic in findings:
            print(f"lint {label}:", diagnostic.code, diagnostic.message, "| hint:", diagnostic.hint)
        assert [d.code for d in findings] == expected
        losses, a = train(formula)
        results[label] = (losses, a)
        print(f"{label:12s} loss per epoch {[round(v, 2) for v in losses]}  a per epoch {[round(v, 4) for v in a]}")
    assert results["a: real"][1][-1] < 0 and results["a: real"][0][-1] < 0  # diverged
    collapsing = results["a: positive"][1]
    assert all(later < earlier for earlier, later in zip(collapsing, collapsing[1:])) and collapsing[-1] < 1.0
    assert min(results["a: const"][0]) > 0 and results["a: const"][1][-1] == 1.0
    return results


if __name__ == "__main__":
    main()
