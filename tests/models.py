"""Tiny Keras models of every kind, shared by tests. Layer names are explicit so tests do not depend on
Keras' global name counters, except where a test is about attribute names (``self.dense1``)."""

import warnings

import keras


class SubModel(keras.Model):
    """The classic nested block: dense1..dense3 as attributes, with Keras' automatic layer names."""

    def __init__(self, units: int = 3, **kwargs):
        super().__init__(**kwargs)
        self.dense1 = keras.layers.Dense(units, activation="relu")
        self.dense2 = keras.layers.Dense(units, activation="relu")
        self.dense3 = keras.layers.Dense(1)

    def call(self, x):
        return self.dense3(self.dense2(self.dense1(x)))


class TwoHeads(keras.Model):
    """A subclassed model returning a dict of two outputs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trunk = keras.layers.Dense(3, name="trunk")
        self.left = keras.layers.Dense(1, name="left_head")
        self.right = keras.layers.Dense(2, name="right_head")

    def call(self, x):
        hidden = self.trunk(x)
        return {"right": self.right(hidden), "left": self.left(hidden)}


def sequential() -> keras.Model:
    """L0 dense_1 (4 -> 3), L1 dropout, L2 dense_2 (3 -> 2); Sequential hides its InputLayer."""
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="dense_1"),
                             keras.layers.Dropout(0.1, name="dropout"), keras.layers.Dense(2, name="dense_2")],
                            name="seq")


def functional() -> keras.Model:
    """L0 the InputLayer x, L1 hidden (5 -> 4), L2 `dense-1` (4 -> 4), L3 out (4 -> 1)."""
    inputs = keras.Input((5,), name="x")
    hidden = keras.layers.Dense(4, name="hidden")(inputs)
    odd = keras.layers.Dense(4, name="dense-1")(hidden)
    return keras.Model(inputs, keras.layers.Dense(1, name="out")(odd), name="func")


def hidden_out() -> keras.Model:
    """The docs' model: Input(4) -> Dense(8, name="hidden") -> Dense(2, name="out"); L0 is the InputLayer."""
    inputs = keras.Input((4,))
    hidden = keras.layers.Dense(8, name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))


class RawAttribute(keras.Model):
    """The pattern Keras 3 broke: a learned weight kept as a plain ``tf.Variable`` attribute beside a layer."""

    def __init__(self, **kwargs):
        import tensorflow as tf
        super().__init__(**kwargs)
        self.a = tf.Variable(1.0)  # neither tracked nor trained by Keras 3
        self.dense = keras.layers.Dense(3, name="dense")

    def call(self, x):
        return self.dense(x)


def raw_attribute() -> keras.Model:
    """A RawAttribute model called once on a batch of 4 features."""
    model = RawAttribute(name="raw_attribute")
    model(keras.ops.ones((1, 4)))
    return model


def subclassed() -> keras.Model:
    """A subclassed SubModel called once on a batch of 4 features: dense1 (4 -> 3), dense2, dense3."""
    model = SubModel(name="subclassed")
    model(keras.ops.ones((1, 4)))
    return model


def nested() -> keras.Model:
    """Functional: L0 InputLayer, L1 sub_model (SubModel 8 -> 3 -> 3 -> 1)."""
    inputs = keras.Input((8,), name="features")
    return keras.Model(inputs, SubModel(name="sub_model")(inputs), name="nested")


def twin_blocks() -> keras.Model:
    """Two nested Sequential blocks each holding a layer named 'proj': the name alone is ambiguous."""
    inputs = keras.Input((3,))
    a = keras.Sequential([keras.layers.Dense(2, name="proj")], name="block_a")(inputs)
    b = keras.Sequential([keras.layers.Dense(2, name="proj")], name="block_b")(inputs)
    return keras.Model(inputs, keras.layers.Add(name="sum")([a, b]), name="twins")


def shared_layer() -> keras.Model:
    """One Dense layer called twice in the forward pass: it has no single output."""
    inputs = keras.Input((4,))
    shared = keras.layers.Dense(4, name="shared")
    return keras.Model(inputs, shared(shared(inputs)), name="shared_twice")


def conv_bn() -> keras.Model:
    """conv (3x3, 1 -> 2), bn (gamma, beta trainable; moving_mean, moving_variance not), flatten, head."""
    return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                             keras.layers.BatchNormalization(name="bn"), keras.layers.Flatten(name="flatten"),
                             keras.layers.Dense(1, name="head")], name="convnet")


def embedding_lstm() -> keras.Model:
    """embed (10 words x 4), lstm (4 -> 3 units, its variables live in lstm.cell), head (3 -> 1)."""
    return keras.Sequential([keras.Input((5,), dtype="int32"), keras.layers.Embedding(10, 4, name="embed"),
                             keras.layers.LSTM(3, name="lstm"), keras.layers.Dense(1, name="head")],
                            name="recurrent")


def multi_output() -> keras.Model:
    """Functional with dict outputs {'weight': (None, 2), 'height': (None, 1)}: model.outputs sorts them,
    so output 0 is height and output 1 is weight."""
    inputs = keras.Input((4,), name="x")
    trunk = keras.layers.Dense(3, name="trunk")(inputs)
    weight = keras.layers.Dense(2, name="weight")(trunk)
    height = keras.layers.Dense(1, name="height")(trunk)
    return keras.Model(inputs, {"weight": weight, "height": height}, name="multi")


def list_outputs() -> keras.Model:
    """Functional with list outputs [out1 (None, 1), b (None, 2)]: the output *named* out1 is position 0."""
    inputs = keras.Input((4,), name="x")
    return keras.Model(inputs, [keras.layers.Dense(1, name="out1")(inputs), keras.layers.Dense(2, name="b")(inputs)],
                       name="listed")


def unbuilt_sequential() -> keras.Model:
    """A Sequential without an Input: no variables exist and the input shape is unknown."""
    return keras.Sequential([keras.layers.Dense(3, name="first"), keras.layers.Dense(1, name="second")])


def declared_shape_subclassed() -> keras.Model:
    """A subclassed model given ``build((None, 4))``: marked built, but its layers have no variables until
    someone calls it. The input shape is known, so resolving builds it."""
    model = SubModel(name="declared")
    with warnings.catch_warnings():  # Keras warns that build() leaves the sublayers unbuilt: that is the point
        warnings.simplefilter("ignore")
        model.build((None, 4))
    return model


def subclassed_two_heads() -> keras.Model:
    model = TwoHeads(name="two_heads")
    model(keras.ops.ones((1, 4)))
    return model


BUILDERS = {
    "seq": sequential, "func": functional, "sub": subclassed, "nested": nested, "twins": twin_blocks,
    "conv": conv_bn, "rnn": embedding_lstm, "multi": multi_output, "listed": list_outputs,
    "unbuilt": unbuilt_sequential, "declared": declared_shape_subclassed, "heads": subclassed_two_heads,
}


def build_all() -> dict:
    """Every model above by its short key."""
    keras.utils.set_random_seed(0)
    return {key: build() for key, build in BUILDERS.items()}
