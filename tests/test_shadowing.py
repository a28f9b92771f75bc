"""W502: a parameter named like a variable that the model keeps as a plain attribute (the seed's
``self.a = tf.Variable(...)``, which Keras 3 neither trains nor saves)."""

import keras
import pytest
import tensorflow as tf

from lossdsl.analysis.resolve import resolve_formula
from lossdsl.language.frontend import analyze
from lossdsl.language.source import Source


class Scale(keras.layers.Layer):
    def build(self, input_shape):
        self.alpha = self.add_weight(shape=(), initializer="ones", name="alpha")

    def call(self, x):
        return self.alpha * x


class SeedModel(keras.Model):
    """The seed question's model: a raw tf.Variable as an attribute beside its layers."""

    def __init__(self):
        super().__init__()
        self.a = tf.Variable(1.0)
        self.units = 3  # a number is not a variable: never a W502
        self.dense = keras.layers.Dense(3, name="dense")
        self.scale = Scale(name="scale")

    def call(self, x):
        return self.scale(self.dense(x))


@pytest.fixture(scope="module")
def model():
    built = SeedModel()
    built(tf.zeros((1, 4)))
    return built


@pytest.mark.parametrize("src, expected", [
    ("mse(y_true, y_pred) + a * norm(dense.kernel)", [("W502", 1, 23, "the model has an attribute 'a'")]),
    ("alpha * norm(dense.kernel)", [("W501", 1, 1, "implicit parameter 'alpha' looks like the variable")]),
    ("a * norm(dense.kernel) - log(a)\nwhere a: positive", []),  # declared: a new parameter on purpose
    ("units * norm(dense.kernel)", []),
    ("dense.a * 2", [("E211", 1, 1, "layer 'dense' has no variable 'a'")]),
    ("b * norm(dense.kernel)", []),
    ("norm(scale.alpha) + norm(dense.kernel)", []),  # the weight referred to properly
])
def test_parameters_named_like_model_attributes(model, src, expected):
    formula, problems = analyze(src)
    assert formula is not None, problems
    _, _, diagnostics = resolve_formula(formula, model)
    source = Source(src)
    found = [(d.code, source.position(d.span.start).line, source.position(d.span.start).column, d.message)
             for d in diagnostics]
    assert [f[:3] for f in found] == [e[:3] for e in expected]
    for (*_, message), (*_, start) in zip(found, expected):
        assert message.startswith(start)


def test_the_hint_says_how_to_refer_to_a_model_variable(model):
    formula, _ = analyze("a * norm(dense.kernel)")
    (warning,) = resolve_formula(formula, model)[2]
    assert warning.message == "the model has an attribute 'a' that the formula does not use: 'a' here is a new trainable scalar"
    assert "add_weight() in a layer and write <layer>.<weight name>" in warning.hint and "where a: real" in warning.hint
