"""Trains each formula given on the command line on one device and under MirroredStrategy on two logical
CPUs, with the same global batch, and prints one JSON line per formula: the largest difference in the
logged losses and in the weights and parameters after a few epochs. Run in a fresh process by
test_mirrored.py: the logical devices must be set before anything initialises TensorFlow.

    python tests/mirrored_runner.py FORMULA... [--samples=N] FORMULA... [--custom-loop] FORMULA...

``--samples=N`` trains the formulas after it on N samples (69: a last batch of 5, split 3 + 2);
``--custom-loop`` trains the ones after it with a compiled term in a hand-written loop instead of fit().
"""

import json
import sys

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0], [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import lossdsl  # noqa: E402

EPOCHS, SAMPLES, BATCH = 3, 64, 16  # 4 steps an epoch; each replica gets 8 samples of a step's 16


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 4)).astype("float32")
    y = (x @ rng.normal(size=(4, 2)) + 0.1 * rng.normal(size=(SAMPLES, 2))).astype("float32")
    return x, y


def model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(8, activation="tanh", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden))


def fit(formula: str, strategy) -> tuple[list[float], list[np.ndarray]]:
    x, y = data()
    with strategy.scope():
        attached = lossdsl.attach(model(), formula)
        attached.compile(optimizer=keras.optimizers.SGD(0.05))
    history = attached.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=False, verbose=0)
    return history.history["loss"], [np.array(w) for w in attached.weights]


def custom_loop(formula: str, strategy) -> tuple[list[float], list[np.ndarray]]:
    """A compiled term in a hand-written loop: each replica differentiates its share, term.per_replica."""
    x, y = data()
    with strategy.scope():
        net = model()
        term = lossdsl.compile(formula, net)
        optimizer = keras.optimizers.SGD(0.05)
    variables = net.trainable_variables + term.trainable_variables

    @tf.function
    def step(inputs, targets):
        def replica_step(inputs, targets):
            with tf.GradientTape() as tape:
                # a training step: the term's state moves; per_replica is one replica's share of the loss
                share = term.per_replica(targets, net(inputs, training=True), training=True)
            optimizer.apply_gradients(zip(tape.gradient(share, variables), variables))
            return share * tf.distribute.get_replica_context().num_replicas_in_sync
        return strategy.run(replica_step, args=(inputs, targets))

    dataset = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH))
    losses = []
    for _ in range(EPOCHS):
        for inputs, targets in dataset:
            # the value is global, so every replica holds the same one: read the first replica's
            losses.append(float(strategy.experimental_local_results(step(inputs, targets))[0]))
        term.end_epoch()  # a custom loop closes its epochs itself (SPEC §5.5)
    return losses, [np.array(w) for w in variables]


def largest_differences(train, formula: str, strategies) -> dict:
    one, two = (train(formula, strategy) for strategy in strategies)
    return {"formula": formula, "samples": SAMPLES, "loop": train.__name__,
            "loss": max(abs(a - b) for a, b in zip(one[0], two[0])),
            "weights": max(float(np.max(np.abs(a - b))) for a, b in zip(one[1], two[1])),
            "loss_scale": max(abs(a) for a in one[0])}


def main(argv: list[str]) -> None:
    global SAMPLES
    train = fit
    # one MirroredStrategy for every formula: a second one in the same process reuses collective keys
    strategies = tf.distribute.OneDeviceStrategy("/cpu:0"), tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for argument in argv:
        if argument == "--custom-loop":
            train = custom_loop
        elif argument.startswith("--samples="):
            SAMPLES = int(argument.removeprefix("--samples="))
        else:
            print(json.dumps(largest_differences(train, argument, strategies)), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
