"""Saved configs are data anyone may have edited: every field lossdsl reads from one is checked, and a
wrong type or a missing field is a LossError naming the field (never a TypeError, never a truthy string)."""

import json

import keras
import numpy as np
import pytest

import lossdsl
import lossdsl.keras  # noqa: F401  registers lossdsl's classes with Keras

from conftest import saved_attached_model, with_config

FORMULA = "mse(y_true, y_pred) + a * norm(out.kernel)\nwhere a: positive = 0.5"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(path of an attached model saved as .keras, its config.json as a dict)."""
    path, config_text = saved_attached_model(tmp_path_factory.mktemp("saved"), FORMULA)
    return path, json.loads(config_text)


def edited_copy(path, config: dict, target):
    """The saved model with config.json replaced by ``config``."""
    return with_config(path, json.dumps(config), target)


def with_field(config: dict, field: str, value) -> dict:
    """The model's config with one field set to ``value`` (or removed, for ``MISSING``)."""
    edited = json.loads(json.dumps(config))
    if value is MISSING:
        del edited["config"][field]
    else:
        edited["config"][field] = value
    return edited


MISSING = object()


def case_id(field: str, value) -> str:
    return f"{field} missing" if value is MISSING else f"{field}={value!r}"

# field, stored value, what the LossError says
EDITED_FIELDS = [
    ("check_numerics", "false", "'check_numerics' must be true or false, not 'false' (str)"),
    ("check_numerics", {"a": 1}, "'check_numerics' must be true or false, not {'a': 1} (dict)"),
    ("check_numerics", [1], "'check_numerics' must be true or false, not [1] (list)"),
    ("check_numerics", 2, "'check_numerics' must be true or false, not 2 (int)"),
    ("check_numerics", None, "'check_numerics' must be true or false, not None (NoneType)"),
    ("jit_compile_formula", "false", "'jit_compile_formula' must be true or false, not 'false' (str)"),
    ("jit_compile_formula", 1, "'jit_compile_formula' must be true or false, not 1 (int)"),
    ("formula", None, "'formula' must be a string, not None (NoneType)"),
    ("formula", 3, "'formula' must be a string, not 3 (int)"),
    ("formula", ["a"], "'formula' must be a string, not ['a'] (list)"),
    ("formula", MISSING, "has no field 'formula'"),
    ("check_numerics", MISSING, "has no field 'check_numerics'"),
    ("jit_compile_formula", MISSING, "has no field 'jit_compile_formula'"),
    ("model", MISSING, "has no field 'model'"),
    ("model", "x", "field 'model' must be a Keras object's config (a dict), not 'x' (str)"),
]


@pytest.mark.parametrize("field, value, message", EDITED_FIELDS, ids=[case_id(f, v) for f, v, _ in EDITED_FIELDS])
def test_an_edited_field_is_a_loss_error_naming_it(saved, tmp_path, field, value, message):
    path, config = saved
    edited = edited_copy(path, with_field(config, field, value), tmp_path / "edited.keras")
    with pytest.raises(lossdsl.LossError) as raised:
        keras.models.load_model(edited)
    assert message in str(raised.value)


@pytest.mark.parametrize("check_numerics", [False, True])
def test_valid_options_load_as_saved(saved, tmp_path, check_numerics):
    path, config = saved
    edited = edited_copy(path, with_field(config, "check_numerics", check_numerics), tmp_path / "edited.keras")
    loaded = keras.models.load_model(edited)
    assert loaded.term.check_numerics is check_numerics and loaded.term.jit_compile is False
    x, y = np.ones((2, 3), "float32"), np.zeros((2, 1), "float32")
    kernel = loaded.inner.get_layer("out").kernel.numpy()
    expected = np.mean((x @ kernel + loaded.inner.get_layer("out").bias.numpy() - y) ** 2) \
        + 0.5 * np.linalg.norm(kernel)
    np.testing.assert_allclose(float(loaded.term(y, loaded(x))), expected, rtol=1e-5)


# the term layer's own config (a FormulaTerm saved inside a user's model)
TERM_FIELDS = [
    ("check_numerics", "false", "'check_numerics' must be true or false, not 'false' (str)"),
    ("jit_compile", [1], "'jit_compile' must be true or false, not [1] (list)"),
    ("formula", 3, "'formula' must be a string, not 3 (int)"),
    ("formula", MISSING, "has no field 'formula'"),
    ("jit_compile", MISSING, "has no field 'jit_compile'"),
]


@pytest.mark.parametrize("field, value, message", TERM_FIELDS, ids=[case_id(f, v) for f, v, _ in TERM_FIELDS])
def test_the_term_layer_config_is_checked_too(field, value, message):
    config = lossdsl.keras.FormulaTerm("a**2 where a = 1").get_config()
    if value is MISSING:
        del config[field]
    else:
        config[field] = value
    with pytest.raises(lossdsl.LossError) as raised:
        lossdsl.keras.FormulaTerm.from_config(config)
    assert message in str(raised.value)


def test_the_term_layer_config_round_trips():
    term = lossdsl.keras.FormulaTerm("a**2 where a = 3", check_numerics=True)
    copy = lossdsl.keras.FormulaTerm.from_config(term.get_config())
    assert (copy.source, copy.jit_compile, copy.check_numerics) == ("a**2 where a = 3", False, True)


def test_the_python_api_checks_option_types():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="out")])
    with pytest.raises(lossdsl.LossError, match="'check_numerics' must be true or false, not 'false'"):
        lossdsl.attach(model, FORMULA, check_numerics="false")
