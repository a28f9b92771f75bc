"""A saved formula finds its variables again when a reload renames a layer it names (issue 11 item 5).

Keras keeps a subclassed model's name only when its ``__init__`` takes ``name`` or ``**kwargs`` and
passes it on; the seed's ``Pseudo_Model(name="sub_model")`` (``**kw``, not ``**kwargs``) comes back as
``pseudo__model``. The formula is saved with the place of each variable it reads (sublayer positions,
weight index, shape): a name that no longer resolves is found there with one LossWarning naming the
rename; a place that no longer holds a variable of that shape is a clear error.
"""

import json
import subprocess
import sys
import textwrap
import warnings
import zipfile

import keras
import numpy as np
import pytest

import lossdsl
from lossdsl.keras import FormulaModel

FORMULA = "mse(y_true, y_pred) + 0.01*norm(sub_model.dense1.kernel) + 0.1*sum(square(sub_model.dense3.bias))"

#: The seed's model: a subclassed keras.Model with dense1..dense3 inside a Functional model. Its __init__
#: spells the keyword arguments **kw, so Keras' automatic config leaves the name out.
SEED = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np
    import keras
    import lossdsl

    class Pseudo_Model(keras.Model):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.dense1 = keras.layers.Dense(UNITS, activation="relu")
            self.dense2 = keras.layers.Dense(UNITS, activation="relu")
            self.dense3 = keras.layers.Dense(1)

        def call(self, x):
            return self.dense3(self.dense2(self.dense1(x)))
""")

SAVE = SEED.replace("UNITS", "3") + textwrap.dedent("""
    keras.utils.set_random_seed(0)
    data = np.load(sys.argv[2])
    inp = keras.Input((32,))
    model = lossdsl.attach(keras.Model(inp, Pseudo_Model(name="sub_model")(inp)), sys.argv[3])
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(data["x"], data["y"], epochs=1, batch_size=16, verbose=0)
    model.save(sys.argv[1])
    print(json.dumps({"loss": model.evaluate(data["x"], data["y"], batch_size=64, verbose=0)}))
""")

LOAD = textwrap.dedent("""
    data = np.load(sys.argv[2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = keras.models.load_model(sys.argv[1], custom_objects={"Pseudo_Model": Pseudo_Model})
    sub = model.inner.layers[1]
    resolved = model.term.analysis.resolved
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.save(sys.argv[3])  # saved again: the formula still finds its variables in the next process
    print(json.dumps({
        "name": sub.name,
        "warnings": [str(w.message) for w in caught if issubclass(w.category, lossdsl.LossWarning)],
        "same_variables": resolved["sub_model.dense1.kernel"].variable is sub.dense1.kernel
                          and resolved["sub_model.dense3.bias"].variable is sub.dense3.bias,
        "loss": model.evaluate(data["x"], data["y"], batch_size=64, verbose=0)}))
""")


def run_script(script: str, *args) -> dict:
    run = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("renamed")
    rng = np.random.default_rng(0)
    np.savez(folder / "data.npz", x=rng.normal(size=(64, 32)).astype("float32"),
             y=rng.normal(size=(64, 1)).astype("float32"))
    saved = run_script(SAVE, folder / "model.keras", folder / "data.npz", FORMULA)
    return folder, saved["loss"]


def test_a_fresh_process_finds_the_renamed_submodel_at_its_place_with_one_warning(saved):
    folder, loss = saved
    loaded = run_script(SEED.replace("UNITS", "3") + LOAD, folder / "model.keras", folder / "data.npz",
                        folder / "again.keras")
    assert loaded["name"] == "pseudo__model"  # what Keras does: the test is about lossdsl's answer to it
    assert loaded["same_variables"]
    assert loaded["loss"] == pytest.approx(loss, rel=1e-6)
    [warning] = loaded["warnings"]
    assert "'sub_model' is now 'pseudo__model'" in warning
    assert "sub_model.dense1.kernel, sub_model.dense3.bias are read where they were" in warning
    assert "**kwargs" in warning

    again = run_script(SEED.replace("UNITS", "3") + LOAD, folder / "again.keras", folder / "data.npz",
                       folder / "third.keras")
    assert again["same_variables"] and again["loss"] == pytest.approx(loss, rel=1e-6)
    assert len(again["warnings"]) == 1 and "'sub_model' is now 'pseudo__model'" in again["warnings"][0]


def test_a_place_without_a_variable_of_the_saved_shape_is_a_clear_error(saved):
    folder, _ = saved
    script = SEED.replace("UNITS", "5") + textwrap.dedent("""
        try:
            keras.models.load_model(sys.argv[1], custom_objects={"Pseudo_Model": Pseudo_Model})
        except lossdsl.LossError as error:
            print(json.dumps({"found": [(d.code, d.position.line, d.position.column) for d in error.diagnostics],
                              "hint": error.diagnostics[0].hint}))
    """)
    failed = run_script(script, folder / "model.keras")
    # dense1 now has 5 units: its kernel is (32, 5) where (32, 3) was saved; dense3's bias still matches
    assert failed["found"] == [["E210", 1, 33]]
    assert "no layer named 'sub_model'" not in failed["hint"]  # the message says that; the hint says what was saved
    assert "when the formula was saved it read weight 0 of L1.L0 (sub_model/dense), shape (32, 3)" in failed["hint"]


def test_a_file_saved_before_places_were_recorded_loads_as_before(saved, tmp_path):
    folder, loss = saved
    with zipfile.ZipFile(folder / "model.keras") as source, zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "config.json":
                config = json.loads(content)
                del config["config"]["places"]
                content = json.dumps(config).encode()
            old.writestr(item, content)
    script = SEED.replace("UNITS", "3") + textwrap.dedent("""
        try:
            keras.models.load_model(sys.argv[1], custom_objects={"Pseudo_Model": Pseudo_Model})
        except lossdsl.LossError as error:
            print(json.dumps([d.code for d in error.diagnostics]))
    """)
    assert run_script(script, tmp_path / "old.keras") == ["E210", "E210"]  # the name alone, as before


# ------------------------------------------------------------------ in process
class RenamedOnReload(keras.Model):
    def __init__(self, units=3, **kw):
        super().__init__(**kw)
        self.dense1 = keras.layers.Dense(units, activation="relu")
        self.dense2 = keras.layers.Dense(1)

    def call(self, x):
        return self.dense2(self.dense1(x))


def nested(name: str, units: int = 3) -> keras.Model:
    inp = keras.Input((4,))
    return keras.Model(inp, RenamedOnReload(units, name=name)(inp))


def test_names_that_resolve_are_used_and_their_places_recorded():
    model = lossdsl.attach(nested("sub_model"), "norm(sub_model.dense1.kernel) + sum(L1.dense2.bias)")
    places = model.get_config()["places"]
    assert places == {"sub_model.dense1.kernel": {"layers": [1, 0], "names": ["sub_model", model.inner.layers[1].dense1.name],
                                                  "weight": 0, "shape": [4, 3]},
                      "L1.dense2.bias": {"layers": [1, 1], "names": ["sub_model", model.inner.layers[1].dense2.name],
                                         "weight": 1, "shape": [1]}}
    with warnings.catch_warnings():
        warnings.simplefilter("error", lossdsl.LossWarning)  # a name that resolves is not a rename
        FormulaModel(nested("sub_model"), "norm(sub_model.dense1.kernel)",
                     places={"sub_model.dense1.kernel": places["sub_model.dense1.kernel"]})


BAD_PLACES = [
    ([1, 0], "field 'places': the entry for 'x' must be a dict with the keys layers, names, weight, shape"),
    ({"x": {"layers": [1], "names": ["a"], "weight": "0", "shape": [4]}}, "'weight' of 'x' must be an integer"),
    ({"x": {"layers": [-1], "names": ["a"], "weight": 0, "shape": [4]}}, "'layers' of 'x' holds a value that is not"),
    ({"x": {"layers": [1], "names": [], "weight": 0, "shape": [4]}}, "the place of 'x' is inconsistent"),
]


@pytest.mark.parametrize("places, message", BAD_PLACES)
def test_a_malformed_places_field_is_an_error_naming_it(places, message):
    if isinstance(places, list):
        places = {"x": places}
    with pytest.raises(lossdsl.LossError, match="field 'places'") as raised:
        FormulaModel(nested("sub_model"), "norm(sub_model.dense1.kernel)", places=places)
    assert message.split(": ", 1)[-1] in str(raised.value)
