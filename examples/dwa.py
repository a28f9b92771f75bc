"""Dynamic Weight Average (Liu et al., 2019) with previous(L) (SPEC §5.6): two regression tasks of very
different scales, each weighted by how fast its loss fell over the last two epochs,
w_k = K * softmax(r / T)_k with r_k = L_k(e-1) / L_k(e-2). The weights logged in each epoch are checked
against the same rule applied by hand to the losses a Keras callback recorded.
Run: python examples/dwa.py
"""

import keras
import numpy as np

import lossdsl
from _data import regression

T, EPOCHS = 2.0, 6
FORMULA = f"""t1 = mse(y_true[:, 0:1], y_pred[:, 0:1])
t2 = mse(y_true[:, 1:2], y_pred[:, 1:2])
# a loss can be 0 (W403 says so): the small constant keeps the ratio finite then
w = 2*softmax(stack(previous(t1)/(previous(t1, 2) + 1e-9), previous(t2)/(previous(t2, 2) + 1e-9))/{T})
w1 = w[0]
w2 = w[1]
w1*t1 + w2*t2"""


def main() -> None:
    x, y = regression(samples=512, outputs=2)
    y = y * np.array([1.0, 10.0], "float32")  # the second task's loss is 100 times the first's
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2)(keras.layers.Dense(16, activation="tanh")(inputs)))
    model = lossdsl.attach(model, FORMULA)
    model.compile(optimizer=keras.optimizers.SGD(0.001))
    recorded = []
    model.fit(x, y, batch_size=64, epochs=EPOCHS, shuffle=False, verbose=0,
              callbacks=[keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: recorded.append(logs))])
    for epoch, logs in enumerate(recorded):
        print(f"epoch {epoch + 1}: t1 {logs['t1']:.3f}  t2 {logs['t2']:8.3f}  w1 {logs['w1']:.4f}  w2 {logs['w2']:.4f}")
        if epoch >= 2:  # two epochs back exist: the weights are constant over the epoch, DWA's
            rates = np.array([recorded[epoch - 1][t] / recorded[epoch - 2][t] for t in ("t1", "t2")])
            expected = 2 * np.exp(rates / T) / np.sum(np.exp(rates / T))
            assert np.allclose([logs["w1"], logs["w2"]], expected, rtol=1e-5), (logs, expected)
    assert recorded[0]["w1"] == recorded[0]["w2"] == 1.0  # no history yet: every ratio is 1
    assert recorded[-1]["t2"] < recorded[0]["t2"] and recorded[-1]["t1"] < recorded[0]["t1"]


if __name__ == "__main__":
    main()
