"""KL annealing (SPEC §5.5): a small variational autoencoder whose KL term is switched on gradually,
beta = minimum(1, step/ANNEAL). The logged beta of each epoch is the mean of the schedule over that epoch's
steps, computed here by hand; the schedule's state is saved with the model and continues after load_model.
Run: python examples/kl_annealing.py
"""

import tempfile

import keras
import numpy as np

import lossdsl
from _data import regression

ANNEAL, EPOCHS, BATCH = 40, 6, 64  # 16 steps an epoch: beta reaches 1 in the third epoch
FORMULA = """recon = mse(y_true, y_pred)
kl = 0.5*mean(sum(exp(log_var.output) + square(mu.output) - 1 - log_var.output, axis=1))
beta = minimum(1, step/%d)
recon + beta*kl""" % ANNEAL


@keras.saving.register_keras_serializable(package="examples")
class Sampling(keras.layers.Layer):
    """z = mu + exp(log_var/2) * noise: the reparametrization trick."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed = keras.random.SeedGenerator(0)

    def call(self, inputs):
        mu, log_var = inputs
        noise = keras.random.normal(keras.ops.shape(mu), seed=self.seed)
        return mu + keras.ops.exp(0.5 * log_var) * noise


def autoencoder() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    mu = keras.layers.Dense(2, name="mu")(hidden)
    log_var = keras.layers.Dense(2, name="log_var")(hidden)
    z = Sampling()([mu, log_var])
    return keras.Model(inputs, keras.layers.Dense(8)(keras.layers.Dense(16, activation="relu")(z)))


def main() -> None:
    x, _ = regression(samples=1024)
    model = lossdsl.attach(autoencoder(), FORMULA)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    logs = model.fit(x, x, batch_size=BATCH, epochs=EPOCHS, shuffle=False, verbose=0).history
    steps = len(x) // BATCH
    for epoch in range(EPOCHS):
        schedule = np.minimum(1, np.arange(epoch * steps, (epoch + 1) * steps) / ANNEAL).mean()
        print(f"epoch {epoch + 1}: beta {logs['beta'][epoch]:.3f} (by hand {schedule:.3f})  "
              f"recon {logs['recon'][epoch]:.3f}  kl {logs['kl'][epoch]:.3f}")
        assert abs(logs["beta"][epoch] - schedule) < 1e-6
    assert logs["recon"][-1] < logs["recon"][0]

    with tempfile.TemporaryDirectory() as directory:  # the step count is saved: the schedule goes on from it
        model.save(f"{directory}/vae.keras")
        loaded = keras.models.load_model(f"{directory}/vae.keras")
    assert int(loaded.term.state.step.numpy()) == EPOCHS * steps
    more = loaded.fit(x, x, batch_size=BATCH, epochs=EPOCHS + 1, initial_epoch=EPOCHS, verbose=0).history
    assert more["beta"] == [1.0]
    print(f"after load_model: step {int(loaded.term.state.step.numpy())}, beta {more['beta'][0]:.3f}")


if __name__ == "__main__":
    main()
