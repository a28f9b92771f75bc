"""Save and load: the formula is stored as its text, the parameters as weights; no code is pickled."""

import json
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

import lossdsl
import lossdsl.keras

FORMULA = "data = mse(y_true, y_pred)\ndata + a * norm(hidden.kernel) + 0.1 * norm(out.kernel)\nwhere a: positive = 0.5"


def build_and_train(path):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.normal(size=(64, 2)).astype("float32")
    inputs = keras.Input(shape=(4,))
    hidden = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    model = lossdsl.attach(keras.Model(inputs, keras.layers.Dense(2, name="out")(hidden)), FORMULA)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    model.save(path)
    return model, x, y


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("saved") / "model.keras"
    model, x, y = build_and_train(str(path))
    return path, model, x, y


LOAD_IN_FRESH_PROCESS = textwrap.dedent("""
    import json, sys
    import numpy as np
    import keras
    import lossdsl  # enough: it registers its Keras classes once Keras is loaded
    path, data = sys.argv[1], np.load(sys.argv[2])
    model = keras.models.load_model(path)  # safe_mode=True is the default
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    loss = model.evaluate(data["x"], data["y"], batch_size=64, verbose=0, return_dict=True)["loss"]
    before, prediction = model.params, model.predict(data["x"][:4], verbose=0).tolist()
    model.fit(data["x"], data["y"], epochs=1, batch_size=16, verbose=0)  # training can continue
    print(json.dumps({"formula": model.term.source, "params": before, "loss": loss, "prediction": prediction,
                      "params_after_more_training": model.params}))
""")


def test_a_fresh_process_loads_the_formula_and_the_learned_parameters(saved, tmp_path):
    path, model, x, y = saved
    np.savez(tmp_path / "data.npz", x=x, y=y)
    run = subprocess.run([sys.executable, "-c", LOAD_IN_FRESH_PROCESS, str(path), str(tmp_path / "data.npz")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded["formula"] == FORMULA
    assert loaded["params"] == model.params
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    expected_loss = model.evaluate(x, y, batch_size=64, verbose=0, return_dict=True)["loss"]
    assert loaded["loss"] == pytest.approx(expected_loss, rel=1e-6)
    np.testing.assert_allclose(loaded["prediction"], model.predict(x[:4], verbose=0), rtol=1e-6)
    assert loaded["params_after_more_training"]["a"] != loaded["params"]["a"]


def test_the_saved_file_holds_the_formula_text_and_no_code(saved):
    path, model, x, y = saved
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        config_text = archive.read("config.json").decode()
    assert not [n for n in names if n.endswith((".pkl", ".pickle", ".py"))]
    assert json.dumps(FORMULA)[1:-1] in config_text
    assert "lambda" not in config_text and "__lambda__" not in config_text


def test_checkpoints_keep_the_parameters(saved, tmp_path):
    path, model, x, y = saved
    learned = model.params
    checkpoint = tf.train.Checkpoint(model=model)
    saved_path = checkpoint.save(str(tmp_path / "ckpt"))
    model.term.set_param("a", 3.0)
    checkpoint.restore(saved_path).assert_existing_objects_matched()
    assert model.params == pytest.approx(learned, rel=1e-7)

    callback = keras.callbacks.ModelCheckpoint(str(tmp_path / "best.weights.h5"), save_weights_only=True)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[callback])
    after_fit = model.params
    model.term.set_param("a", 3.0)
    model.load_weights(str(tmp_path / "best.weights.h5"))
    assert model.params == pytest.approx(after_fit, rel=1e-7)
