"""References resolved against real Keras models: diagnostics by (code, line, column), shapes, identity."""

import warnings

import keras
import pytest

import lossdsl
from lossdsl.language.formula import Parameter
from lossdsl.language.frontend import analyze
from lossdsl.analysis.resolve import reference_names, resolve_formula, resolve_references, similar_name_warnings
from lossdsl.analysis.shapes import check_shapes
from lossdsl.language.source import Source

import models


@pytest.fixture(scope="module")
def zoo():
    return models.build_all()


def formula_of(src):
    formula, problems = analyze(src)
    assert formula is not None, problems
    return formula


def where(src, diagnostics):
    source = Source(src)
    return sorted((d.code, *vars(source.position(d.span.start)).values()) for d in diagnostics)


# (model, formula, expected (code, line, column) from resolving against the model, W501 included)
RESOLUTION = [
    # Sequential: L0 dense_1 (4 -> 3), L1 dropout, L2 dense_2 (3 -> 2); no InputLayer in model.layers
    ("seq", "norm(L0.kernel) + norm(L2.bias)", []),
    ("seq", "norm(L1.kernel)", [("E211", 1, 6)]),
    ("seq", "norm(L3.kernel)", [("E209", 1, 6)]),
    ("seq", "norm(dense_1.kernel) + norm(dropout.rate)", [("E211", 1, 29)]),
    ("seq", "norm(dense_1)", [("W501", 1, 6)]),
    ("seq", "norm(dense_1.kernal)", [("E211", 1, 6)]),
    ("seq", "norm(dense_3.kernel)", [("E210", 1, 6)]),
    ("seq", "mse(y_true, y_pred) + norm(dense_2.kernel)", []),
    ("seq", "mse(y_true.dense_2, y_pred.out0)", []),
    ("seq", "mse(y_true, y_pred.out1)", [("E219", 1, 13)]),
    ("seq", "norm(L0.kernel.x)", [("E216", 1, 6)]),
    ("seq", "norm(dense_1.L0)", [("E209", 1, 6)]),
    # Functional: L0 InputLayer x, L1 hidden (5 -> 4), L2 `dense-1` (4 -> 4), L3 out (4 -> 1)
    ("func", "norm(L0.kernel)", [("E211", 1, 6)]),
    ("func", "norm(L1.kernel @ L2.kernel @ L3.kernel)", []),
    ("func", "norm(`dense-1`.kernel) + norm(`dense-1`.bias)", []),
    ("func", "norm(hiden.kernel)", [("E210", 1, 6)]),
    ("func", "norm(`dense-2`.kernel)", [("E210", 1, 6)]),
    ("func", "t = norm(hidden.kernel)\nt + norm(out.gamma)", [("E211", 2, 10)]),
    ("func", "norm(x.kernel)", [("E211", 1, 6)]),
    ("func", "hiden * norm(hidden.kernel)", [("W501", 1, 1)]),
    ("func", "hiden * norm(hidden.kernel)\nwhere hiden: positive", []),
    ("func", "norm(L1.kernel.T @ L1.kernel - I) + kernal", [("W501", 1, 37)]),
    ("func", "data = mse(y_true, y_pred)\ndata + a * norm(L9.bias)\nwhere a: positive", [("E209", 2, 17)]),
    # Subclassed: self.dense1 (4 -> 3), self.dense2 (3 -> 3), self.dense3 (3 -> 1), automatic layer names
    ("sub", "norm(dense1.kernel @ dense2.kernel @ dense3.kernel)", []),
    ("sub", "norm(L0.kernel) + norm(L2.bias)", []),
    ("sub", "norm(dense4.kernel)", [("E210", 1, 6)]),
    ("sub", "norm(dense1)", [("W501", 1, 6)]),
    ("sub", "mse(y_true, y_pred)", []),
    # Nested: Functional L0 InputLayer, L1 sub_model holding dense1..dense3 (8 -> 3 -> 3 -> 1)
    ("nested", "norm(sub_model.dense1.kernel) + norm(sub_model.dense2.kernel)", []),
    ("nested", "norm(L1.L0.kernel) + norm(sub_model.L2.bias)", []),
    ("nested", "norm(sub_model.dense1)", [("E212", 1, 6)]),
    ("nested", "norm(sub_model.kernel)", [("E218", 1, 6)]),
    ("nested", "norm(L1.kernel)", [("E218", 1, 6)]),
    ("nested", "norm(sub_model.dense4.kernel)", [("E210", 1, 6)]),
    ("nested", "norm(sub_model.L3.kernel)", [("E209", 1, 6)]),
    ("nested", "norm(L0.kernel)", [("E211", 1, 6)]),
    ("nested", "norm(sub_model)", [("W501", 1, 6)]),
    # Two nested blocks each with a layer named proj
    ("twins", "norm(proj.kernel)", [("E218", 1, 6)]),
    ("twins", "norm(block_a.proj.kernel - block_b.proj.kernel)", []),
    ("twins", "norm(block_a.L0.kernel)", []),
    ("twins", "norm(sum.kernel)", [("E211", 1, 6)]),
    # Conv2D + BatchNormalization (moving statistics are non-trainable but readable)
    ("conv", "norm(conv.kernel) + norm(bn.gamma) + norm(bn.beta)", []),
    ("conv", "sum(bn.moving_mean) + sum(bn.moving_variance)", []),
    ("conv", "norm(bn.moving_avg)", [("E211", 1, 6)]),
    ("conv", "norm(flatten.kernel)", [("E211", 1, 6)]),
    ("conv", "gamma * norm(conv.kernel)", [("W501", 1, 1)]),
    ("conv", "gamma * norm(conv.kernel)\nwhere gamma: nonneg", []),
    # Embedding + LSTM: the LSTM's variables live in its cell
    ("rnn", "norm(embed.embeddings) + norm(lstm.kernel) + norm(lstm.recurrent_kernel)", []),
    ("rnn", "norm(lstm.cell.kernel) + norm(lstm.lstm_cell.bias)", []),
    ("rnn", "norm(lstm.embeddings)", [("E211", 1, 6)]),
    ("rnn", "norm(lstm.cell)", [("E212", 1, 6)]),
    ("rnn", "norm(embed.embedding)", [("E211", 1, 6)]),
    # Multi-output Functional, dict outputs: out0 = height (None, 1), out1 = weight (None, 2)
    ("multi", "mse(y_true.height, y_pred.height) + mae(y_true.weight, y_pred.weight)", []),
    ("multi", "mse(y_true, y_pred)", [("E219", 1, 5), ("E219", 1, 13)]),
    ("multi", "mse(y_true.out0, y_pred.out1)", []),
    ("multi", "mse(y_true.heigth, y_pred.height)", [("E219", 1, 5)]),
    ("multi", "mse(y_true.out2, y_pred.out2)", [("E219", 1, 5), ("E219", 1, 18)]),
    ("multi", "norm(y_pred.height.x)", [("E216", 1, 6)]),
    ("multi", "norm(trunk.kernel) + norm(height.kernel)", []),
    # List outputs [out1, b]: the output named out1 wins over position 1
    ("listed", "mse(y_true.out1, y_pred.out1) + mse(y_true.b, y_pred.b)", []),
    ("listed", "norm(y_pred)", [("E219", 1, 6)]),
    # Subclassed model returning {"right": ..., "left": ...}
    ("heads", "mse(y_true.left, y_pred.left) + mse(y_true.right, y_pred.right)", []),
    ("heads", "mse(y_true.left_head, y_pred.left)", [("E219", 1, 5)]),
    ("heads", "norm(left.kernel) + norm(right_head.kernel)", []),
    # Unbuilt Sequential (no Input), and a subclassed model whose input shape is known from build()
    ("unbuilt", "norm(first.kernel)", [("E217", 1, 6)]),
    ("unbuilt", "mse(y_true, y_pred) + norm(L2.kernel)", [("E209", 1, 28)]),
    ("unbuilt", "mse(y_true.out0, y_pred)", [("E217", 1, 5)]),
    ("declared", "norm(dense1.kernel @ dense2.kernel)", []),
]


@pytest.mark.parametrize("key, src, expected", RESOLUTION)
def test_resolution_diagnostics(zoo, key, src, expected):
    formula = formula_of(src)
    _, _, diagnostics = resolve_formula(formula, zoo[key])
    assert where(src, diagnostics) == sorted(expected)


# (model, formula, expected {reference text: shape})
SHAPES = [
    ("seq", "norm(L0.kernel) + norm(L2.bias) + mse(y_true, y_pred)",
     {"L0.kernel": (4, 3), "L2.bias": (2,), "y_true": (None, 2), "y_pred": (None, 2)}),
    ("func", "norm(`dense-1`.kernel) + norm(L1.kernel) + norm(out.bias)",
     {"`dense-1`.kernel": (4, 4), "L1.kernel": (5, 4), "out.bias": (1,)}),
    ("sub", "norm(dense1.kernel) + norm(dense3.bias) + mse(y_true, y_pred)",
     {"dense1.kernel": (4, 3), "dense3.bias": (1,), "y_true": (None, 1), "y_pred": (None, 1)}),
    ("nested", "norm(sub_model.dense1.kernel) + norm(L1.L1.kernel) + norm(sub_model.dense3.kernel)",
     {"sub_model.dense1.kernel": (8, 3), "L1.L1.kernel": (3, 3), "sub_model.dense3.kernel": (3, 1)}),
    ("twins", "norm(block_b.proj.kernel)", {"block_b.proj.kernel": (3, 2)}),
    ("conv", "norm(conv.kernel) + sum(bn.moving_mean) + norm(head.kernel)",
     {"conv.kernel": (3, 3, 1, 2), "bn.moving_mean": (2,), "head.kernel": (32, 1)}),
    ("rnn", "norm(embed.embeddings) + norm(lstm.kernel) + norm(lstm.recurrent_kernel) + norm(lstm.bias)",
     {"embed.embeddings": (10, 4), "lstm.kernel": (4, 12), "lstm.recurrent_kernel": (3, 12), "lstm.bias": (12,)}),
    ("multi", "mse(y_true.height, y_pred.height) + mse(y_true.weight, y_pred.out1)",
     {"y_true.height": (None, 1), "y_pred.height": (None, 1), "y_true.weight": (None, 2), "y_pred.out1": (None, 2)}),
    ("listed", "mse(y_pred.out1, y_pred.out0) + norm(y_pred.b)",
     {"y_pred.out1": (None, 1), "y_pred.out0": (None, 1), "y_pred.b": (None, 2)}),
    ("heads", "norm(y_pred.right) + norm(y_pred.out0)", {"y_pred.right": (None, 2), "y_pred.out0": (None, 1)}),
    ("declared", "norm(dense2.kernel) + mse(y_true, y_pred)",
     {"dense2.kernel": (3, 3), "y_true": (None, 1), "y_pred": (None, 1)}),
    ("unbuilt", "mse(y_true, y_pred)", {"y_true": None, "y_pred": None}),
    ("func", "norm(L0.kernel) + norm(L1.kernel)", {"L0.kernel": None, "L1.kernel": (5, 4)}),  # unresolved: unknown
]


@pytest.mark.parametrize("key, src, expected", SHAPES)
def test_shapes_from_model(zoo, key, src, expected):
    _, shapes, _ = resolve_formula(formula_of(src), zoo[key])
    assert shapes == expected


# (model, formula, expected (code, line, column) from the shape check over the model's shapes)
SHAPE_CHECKS = [
    ("func", "norm(L1.kernel @ L1.kernel)", [("E302", 1, 6)]),
    ("func", "norm(L1.kernel @ L2.kernel) + norm(L2.kernel @ L3.kernel)", []),
    ("func", "sum(L1.kernel + L3.kernel)", [("E301", 1, 5)]),
    ("seq", "L0.kernel", [("E303", 1, 1)]),
    ("conv", "norm(conv.kernel.T)", [("E304", 1, 6)]),
    ("rnn", "sum(lstm.kernel, axis=2)", [("E305", 1, 18)]),
    ("multi", "sum(y_pred.weight @ trunk.kernel)", [("E302", 1, 5)]),
    ("nested", "norm(sub_model.dense1.kernel @ sub_model.dense1.kernel)", [("E302", 1, 6)]),
    ("twins", "norm(block_a.proj.kernel.T @ block_b.proj.kernel - I)", []),
    ("heads", "y_pred.right", [("E303", 1, 1)]),
]


@pytest.mark.parametrize("key, src, expected", SHAPE_CHECKS)
def test_model_shapes_feed_the_shape_check(zoo, key, src, expected):
    formula = formula_of(src)
    _, shapes, problems = resolve_formula(formula, zoo[key])
    assert problems == []
    assert where(src, check_shapes(formula, shapes)) == expected
    # errors only: sum(W) is also unbounded below (W401), which the stability tables cover
    assert where(src, [d for d in lossdsl.check(src, model=zoo[key]) if d.is_error]) == expected


def test_check_with_a_model_reports_warnings_and_shape_errors_together(zoo):
    src = "norm(hidden.kernel @ hidden.kernel) + hiden"
    # hiden is also linear with nothing to stop it going to -inf: W401 beside the W501 typo warning
    assert where(src, lossdsl.check(src, model=zoo["func"])) == [("E302", 1, 6), ("W401", 1, 39), ("W501", 1, 39)]


# (model, reference text, the layer's own variable, its layer_path)
IDENTITY = [
    ("seq", "L0.kernel", lambda m: m.get_layer("dense_1").kernel, lambda m: "dense_1"),
    ("func", "`dense-1`.bias", lambda m: m.get_layer("dense-1").bias, lambda m: "dense-1"),
    ("sub", "dense2.kernel", lambda m: m.dense2.kernel, lambda m: m.dense2.name),
    ("nested", "sub_model.dense1.kernel", lambda m: m.get_layer("sub_model").dense1.kernel,
     lambda m: "sub_model/" + m.get_layer("sub_model").dense1.name),
    ("nested", "L1.L2.bias", lambda m: m.get_layer("sub_model").dense3.bias,
     lambda m: "sub_model/" + m.get_layer("sub_model").dense3.name),
    ("twins", "block_b.proj.kernel", lambda m: m.get_layer("block_b").get_layer("proj").kernel,
     lambda m: "block_b/proj"),
    ("conv", "bn.moving_mean", lambda m: m.get_layer("bn").moving_mean, lambda m: "bn"),
    ("rnn", "lstm.recurrent_kernel", lambda m: m.get_layer("lstm").cell.recurrent_kernel, lambda m: "lstm"),
    ("rnn", "lstm.cell.kernel", lambda m: m.get_layer("lstm").cell.kernel, lambda m: "lstm/lstm_cell"),
    ("rnn", "embed.embeddings", lambda m: m.get_layer("embed").embeddings, lambda m: "embed"),
    ("declared", "dense3.kernel", lambda m: m.dense3.kernel, lambda m: m.dense3.name),
]


@pytest.mark.parametrize("key, text, owned, layer_path", IDENTITY)
def test_the_resolved_variable_is_the_layers_own_object(zoo, key, text, owned, layer_path):
    model = zoo[key]
    resolved, problems = resolve_references(formula_of(f"norm({text})"), model)
    assert problems == []
    found = resolved[text]
    assert found.variable is owned(model)  # captured by reference, never copied
    assert found.variable_name == text.rsplit(".", 1)[1]
    assert found.shape == tuple(owned(model).shape)
    assert found.output_index is None
    assert found.layer_path == layer_path(model)


def test_an_assignment_is_seen_through_the_resolved_variable(zoo):
    model = zoo["func"]
    resolved, _ = resolve_references(formula_of("norm(hidden.bias)"), model)
    model.get_layer("hidden").bias.assign([1.0, 2.0, 3.0, 4.0])
    assert resolved["hidden.bias"].variable.numpy().tolist() == [1.0, 2.0, 3.0, 4.0]


# (model, reference text, trainable)
TRAINABLE = [
    ("conv", "bn.gamma", True), ("conv", "bn.beta", True),
    ("conv", "bn.moving_mean", False), ("conv", "bn.moving_variance", False),
    ("rnn", "embed.embeddings", True), ("func", "L1.kernel", True),
]


@pytest.mark.parametrize("key, text, trainable", TRAINABLE)
def test_trainable_flags(zoo, key, text, trainable):
    resolved, _ = resolve_references(formula_of(f"sum({text})"), zoo[key])
    assert resolved[text].trainable is trainable


def test_a_frozen_layer_gives_non_trainable_references():
    model = models.functional()
    model.get_layer("hidden").trainable = False
    resolved, _ = resolve_references(formula_of("norm(hidden.kernel) + norm(out.kernel)"), model)
    assert (resolved["hidden.kernel"].trainable, resolved["out.kernel"].trainable) == (False, True)


# (model, reference text, output_index)
OUTPUTS = [
    ("multi", "y_pred.height", 0), ("multi", "y_pred.weight", 1), ("multi", "y_true.out1", 1),
    ("multi", "y_pred.out0", 0), ("listed", "y_pred.out1", 0), ("listed", "y_pred.out0", 0),
    ("listed", "y_true.b", 1), ("heads", "y_pred.left", 0), ("heads", "y_true.right", 1),
    ("func", "y_pred", None), ("func", "y_pred.out", None), ("seq", "y_true.out0", None),
]


@pytest.mark.parametrize("key, text, index", OUTPUTS)
def test_output_selection(zoo, key, text, index):
    model = zoo[key]
    resolved, problems = resolve_references(formula_of(f"sum({text})"), model)
    assert problems == []
    found = resolved[text]
    assert (found.output_index, found.variable, found.layer_path, found.trainable) == (index, None, "", False)
    # output_index is a position in keras.tree.flatten(y_pred): dict outputs are sorted by key there
    batch = keras.ops.ones((2, *model.inputs[0].shape[1:]) if hasattr(model, "inputs") else (2, 4))
    predicted = keras.tree.flatten(model(batch))
    assert tuple(predicted[index or 0].shape)[1:] == found.shape[1:]


# (model, formula, code, text the message or hint must contain)
TEACHING = [
    ("seq", "norm(L3.kernel)", "E209", "the model has 3 layers, L0..L2"),
    ("func", "norm(L0.kernel)", "E211", "the InputLayer 'x'"),
    ("func", "norm(L0.kernel)", "E211", "the first is L1, e.g. L1.kernel"),
    ("func", "norm(hidden.kernal)", "E211", "did you mean 'kernel'? its variables: kernel (5, 4), bias (4,)"),
    ("func", "norm(hiden.kernel)", "E210", "did you mean 'hidden'?"),
    ("conv", "norm(bn.kernel)", "E211", "layers with a 'kernel': L0 conv, L3 head"),
    ("seq", "norm(L1.kernel)", "E211", "layers with a 'kernel': L0 dense_1, L2 dense_2"),
    ("nested", "norm(sub_model.dense1)", "E212", "sub_model.dense1.kernel (8, 3), sub_model.dense1.bias (3,)"),
    ("nested", "norm(sub_model.L3.kernel)", "E209", "'sub_model' has 3 layers, L0..L2"),
    ("twins", "norm(proj.kernel)", "E218", "block_a.proj, block_b.proj"),
    ("multi", "mse(y_true.height, y_pred)", "E219", "height (None, 1), weight (None, 2); write y_pred.height or y_pred.weight"),
    ("multi", "norm(y_pred.heigth)", "E219", "did you mean 'height'?"),
    ("unbuilt", "norm(first.kernel)", "E217", "its input shape is unknown"),
    ("func", "hiden * norm(out.kernel)", "W501", "did you mean hidden.kernel or hidden.bias?"),
    ("nested", "dense_1 * norm(sub_model.dense1.kernel)", "W501", "a free name creates a new trainable scalar"),
]


@pytest.mark.parametrize("key, src, code, text", TEACHING)
def test_messages_teach(zoo, key, src, code, text):
    _, _, diagnostics = resolve_formula(formula_of(src), zoo[key])
    assert any(d.code == code and text in f"{d.message} | {d.hint}" for d in diagnostics), diagnostics


def test_resolving_builds_a_model_whose_input_shape_is_known():
    model = models.declared_shape_subclassed()
    assert not model.dense1.built
    resolved, problems = resolve_references(formula_of("norm(dense1.kernel)"), model)
    assert problems == [] and resolved["dense1.kernel"].variable is model.dense1.kernel


class Broken(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2, name="dense")

    def call(self, x):
        raise ValueError("this model cannot be called")


def test_a_model_that_fails_to_build_gives_a_diagnostic_not_a_traceback():
    model = Broken()
    with warnings.catch_warnings():  # Keras warns that build() leaves the Dense unbuilt: that is the point
        warnings.simplefilter("ignore")
        model.build((None, 4))
    src = "norm(dense.kernel) + mse(y_true, y_pred)"
    _, _, diagnostics = resolve_formula(formula_of(src), model)
    assert where(src, diagnostics) == [("E217", 1, 6)]
    assert "raised ValueError: this model cannot be called" in diagnostics[0].hint


def test_reference_names_cover_attributes_and_names(zoo):
    assert reference_names(zoo["func"]) == ["hidden.kernel", "hidden.bias", "`dense-1`.kernel", "`dense-1`.bias",
                                            "out.kernel", "out.bias"]
    assert {"sub_model.dense1.kernel", "sub_model.dense3.bias"} <= set(reference_names(zoo["nested"]))
    assert "block_a.proj.kernel" in reference_names(zoo["twins"])
    assert "bn.moving_mean" in reference_names(zoo["conv"])


# W501 against a --shapes table's keys, without a model: (formula, expected (code, line, column))
TABLE_KEYS = ["L1.kernel", "dense_1.kernel", "dense_1.bias", "`conv-2`.kernel", "y_true", "y_pred"]
SIMILAR = [
    ("dens_1 * norm(L1.kernel)", [("W501", 1, 1)]),
    ("a * norm(L1.kernel) + kernal", [("W501", 1, 23)]),
    ("conv_2 * norm(L1.kernel)", [("W501", 1, 1)]),
    ("dens_1 * norm(L1.kernel)\nwhere dens_1: positive", []),
    ("L_1 * norm(L1.kernel)", []),  # L<i> parts of the table's keys are indices, not names to resemble
    ("alpha * norm(L1.kernel) + beta", []),
]


@pytest.mark.parametrize("src, expected", SIMILAR)
def test_similar_names_from_a_shapes_table(src, expected):
    assert where(src, similar_name_warnings(formula_of(src), TABLE_KEYS)) == expected


def test_similar_name_hint_names_the_reference():
    warning, = similar_name_warnings(formula_of("dens_1 * norm(L1.kernel)"), TABLE_KEYS)
    assert warning.hint.startswith("did you mean dense_1.kernel or dense_1.bias?")
    assert "'dense_1'" in warning.message and "layer" in warning.message


def test_declared_parameters_are_exempt_even_when_equal_to_a_layer_name():
    formula = formula_of("dense_1 * norm(L1.kernel)\nwhere dense_1: positive")
    assert isinstance(formula.params["dense_1"], Parameter) and formula.params["dense_1"].declared
    assert similar_name_warnings(formula, TABLE_KEYS) == []
