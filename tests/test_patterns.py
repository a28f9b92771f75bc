"""Patterns and comprehensions (SPEC §5.2): what they match, how they reduce, and every misuse, against
independent TensorFlow (Keras' own regularizers, tf.linalg.global_norm, a hand-written loop)."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import where

import lossdsl
from lossdsl.cli.main import main
from lossdsl.language.patterns import matches, path_parts


# ------------------------------------------------------------------ the language
@pytest.mark.parametrize("source, parsed", [
    ("sum(square(**.kernel))", "ReduceSum(**.kernel**2, ())"),
    ("norm(*.kernel)", "Norm(*.kernel, 2, ())"),
    ("max(abs(conv*.kernel))", "ReduceMax(Abs(conv*.kernel), ())"),
    ("mean(block?_*.kernel)", "ReduceMean(block?_*.kernel, ())"),
    ("sum(square(encoder.**.bias))", "ReduceSum(encoder.**.bias**2, ())"),
    ("sum(square(`my-block`.*.kernel))", "ReduceSum(`my-block`.*.kernel**2, ())"),
    ("sum(norm(W.T @ W - I) for W in dense*.kernel)",
     "SumOver(Norm(-I + MatrixProduct(Transposed(W), W), 2, ()), W, dense*.kernel)"),
    ("max(norm(V) for V in *.kernel)", "MaxOver(Norm(V, 2, ()), V, *.kernel)"),
    ("mean(sum(W, axis=0) for W in **.bias)", "MeanOver(ReduceSum(W, (0,)), W, **.bias)"),
    ("min(W for W in **.gamma)", "MinOver(W, W, **.gamma)"),
    # a '*' that can be a product stays one, and '**' a power
    ("a*L1.kernel[0, 0]", "a*Index(L1.kernel, (0, 0))"),
    ("sum(L1.kernel*.5)", "ReduceSum(L1.kernel*0.5, ())"),
    ("x**.5", "x**0.5"),
    ("a*b.c*d.e", "a*b.c*d.e"),
])
def test_a_pattern_is_one_path_and_a_comprehension_one_node(source, parsed):
    assert str(lossdsl.parse(source).expr) == parsed


@pytest.mark.parametrize("source, expected", [
    ("norm(**.kernel @ L1.kernel)", [("E231", 1, 6)]),  # a collection where one tensor is needed
    ("**.kernel", [("E231", 1, 1)]),
    ("t = square(*.kernel)\nsum(t)", [("E231", 1, 5)]),
    ("sum(*.kernel, axis=0)", [("E231", 1, 1)]),
    ("norm(conv?.kernel.T)", [("E231", 1, 6)]),
    ("sum(L?.kernel - L?.bias)", [("E232", 1, 1)]),  # the members of two collections do not pair up
    ("prod(W for W in *.kernel)", [("E231", 1, 1)]),
    ("sum(W for W in L1.kernel)", [("E231", 1, 16)]),
    ("sum(norm(W) for W in conv?)", [("E230", 1, 22)]),
    ("W + sum(norm(W) for W in *.kernel)", [("E233", 1, 1)]),  # a loop variable outside its loop
    ("sum(norm(W) for W in *.kernel) where W: positive", [("E233", 1, 17)]),
])
def test_every_misuse_of_a_collection_is_a_diagnostic(diagnose, source, expected):
    assert diagnose(source)[0] == expected


def test_the_hint_says_to_reduce_or_iterate():
    (found,) = lossdsl.check("norm(**.kernel @ L1.kernel)")
    assert "'**.kernel' is a collection where one tensor is needed" in found.message
    assert "reduce it" in found.hint and "for W in **.kernel" in found.hint


@pytest.mark.parametrize("pattern, path, matched", [
    ("**.kernel", ("dense", "kernel"), True),
    ("**.kernel", ("block", "sub", "conv", "kernel"), True),
    ("*.kernel", ("dense", "kernel"), True),
    ("*.kernel", ("block", "conv", "kernel"), False),
    ("*.*.kernel", ("block", "conv", "kernel"), True),
    ("conv*.kernel", ("conv2d_3", "kernel"), True),
    ("conv*.kernel", ("dense", "kernel"), False),
    ("block?_*.kernel", ("block1_conv2", "kernel"), True),
    ("block?_*.kernel", ("block12_conv", "kernel"), False),
    ("encoder.**.bias", ("encoder", "bias"), True),
    ("encoder.**.bias", ("encoder", "a", "b", "bias"), True),
    ("encoder.**.bias", ("decoder", "a", "bias"), False),
    ("**.kernel", ("kernel",), True),  # ** is any depth, none too: a model's own variable
    ("`my-block`.*.kernel", ("my-block", "d", "kernel"), True),
])
def test_what_a_pattern_matches(pattern, path, matched):
    assert matches(path_parts(pattern), path) is matched


def test_latex_writes_the_comprehension_over_its_pattern():
    latex = lossdsl.parse("sum(norm(W.T @ W - I) for W in dense*.kernel) + max(abs(**.bias))").latex()
    assert r"\sum_{W \in \mathtt{dense*.kernel}} \left\|W^{T} \, W - I\right\|" in latex
    assert r"\operatorname{max}\left(\left|{\mathtt{**.bias}}\right|\right)" in latex


@pytest.mark.parametrize("source, codes", [
    ("1e-4*sum(square(**.kernel))", []),
    ("sum(norm(W.T @ W - I) for W in *.kernel)", []),
    ("exp(-s)*mse(y_true, y_pred) + s + 1e-4*norm(**.kernel)", ["I401"]),  # the note of the data term alone
    ("a*norm(**.kernel)", ["W401"]),
    ("a*sum(norm(W) for W in *.kernel)", ["W401"]),
    ("sum(log(abs(W)) for W in *.kernel)", ["W402"]),
])
def test_stability_covers_the_members(source, codes):
    assert [d.code for d in lossdsl.check(source)] == codes


# ------------------------------------------------------------------ shapes tables
TABLE = {"conv1.kernel": [3, 3, 1, 4], "conv2.kernel": [3, 3, 4, 4], "dense.kernel": [4, 2], "dense.bias": [2],
         "y_true": [None, 2], "y_pred": [None, 2]}


def test_a_shapes_table_states_the_members_by_their_own_keys():
    analysis = lossdsl.analyze("sum(square(**.kernel)) + max(norm(W) for W in conv*.kernel)", shapes=TABLE)
    assert analysis.diagnostics == () and analysis.shapes == {"": ()}
    assert analysis.members == {"**.kernel": ("conv1.kernel", "conv2.kernel", "dense.kernel"),
                                "conv*.kernel": ("conv1.kernel", "conv2.kernel")}


@pytest.mark.parametrize("source, expected, message", [
    ("sum(norm(W.T @ W - I) for W in conv*.kernel)", ("E304", 1, 1),
     "for W = conv1.kernel: .T needs a matrix"),
    ("sum(square(*.kernel @ dense.kernel))", ("E231", 1, 12), "is a collection where one tensor is needed"),
    ("sum(*.kernel * dense.bias)", ("E301", 1, 1), "for member conv1.kernel of *.kernel: shapes (3, 3, 1, 4) and (2,)"),
    ("norm(lstm*.kernel)", ("E230", 1, 6), "'lstm*.kernel' matches no entry of the shapes table"),
])
def test_shapes_are_checked_per_member_and_the_error_names_it(source, expected, message):
    errors = [d for d in lossdsl.check(source, shapes=TABLE) if d.is_error]
    assert [where(source, d) for d in errors] == [expected]
    assert message in errors[0].message


def test_a_pattern_that_matches_nothing_lists_what_exists():
    (found,) = lossdsl.check("norm(lstm*.kernel)", shapes=TABLE)
    assert found.hint == "the table names: conv1.kernel, conv2.kernel, dense.kernel, dense.bias"


# ------------------------------------------------------------------ against a model
def _layered(regularizer=None, seed=0, shared_twice=True):
    """Conv, conv, a nested block of two dense layers (the second used twice: shared), and a head.

    Keras itself does not restore a Sequential that holds one layer twice: saving tests share none.
    """
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6, 6, 1))
    h = keras.layers.Conv2D(3, 3, name="conv1", kernel_regularizer=regularizer)(inputs)
    h = keras.layers.Conv2D(2, 3, name="conv2", kernel_regularizer=regularizer)(h)
    h = keras.layers.Flatten()(h)
    shared = keras.layers.Dense(8, name="shared", kernel_regularizer=regularizer)
    block = keras.Sequential([keras.layers.Dense(8, name="inner", kernel_regularizer=regularizer), shared,
                              keras.layers.ReLU()] + [shared] * shared_twice, name="block")
    h = block(h)
    return keras.Model(inputs, keras.layers.Dense(2, name="head", kernel_regularizer=regularizer)(h))


def _kernels(model):
    return [model.get_layer("conv1").kernel, model.get_layer("conv2").kernel,
            model.get_layer("block").get_layer("inner").kernel, model.get_layer("block").get_layer("shared").kernel,
            model.get_layer("head").kernel]


def test_members_come_in_model_order_each_once():
    model = _layered()
    analysis = lossdsl.analyze("norm(**.kernel) + norm(*.kernel) + norm(block.*.kernel)", model=model)
    assert analysis.members == {
        "**.kernel": ("conv1.kernel", "conv2.kernel", "block.inner.kernel", "block.shared.kernel", "head.kernel"),
        "*.kernel": ("conv1.kernel", "conv2.kernel", "head.kernel"),
        "block.*.kernel": ("block.inner.kernel", "block.shared.kernel")}
    resolved = analysis.resolved["**.kernel"].members
    assert [m.variable for m in resolved] == _kernels(model)  # the variables themselves, never copies


def test_no_match_in_a_model_lists_its_variables():
    (found,) = lossdsl.check("norm(lstm*.kernel)", model=_layered())
    assert (found.code, found.message) == ("E230", "'lstm*.kernel' matches no variable of the model")
    assert found.hint.startswith("its variables: conv1.kernel, conv1.bias, conv2.kernel")


def _value_and_gradients(source, model):
    term = lossdsl.compile(source, model)
    kernels = _kernels(model)
    with tf.GradientTape() as tape:
        value = term()
    return float(value), tape.gradient(value, kernels)


def test_a_sum_of_squares_equals_keras_own_l2_regularizers():
    keras_model = _layered(keras.regularizers.L2(1e-4))
    keras_model(tf.zeros((1, 6, 6, 1)))
    kernels = _kernels(keras_model)
    with tf.GradientTape() as tape:
        keras_model(tf.zeros((1, 6, 6, 1)))
        expected = tf.add_n(keras_model.losses)
    expected_gradients = tape.gradient(expected, kernels)
    value, gradients = _value_and_gradients("1e-4*sum(square(**.kernel))", keras_model)
    assert value == pytest.approx(float(expected), rel=1e-6)
    for got, want in zip(gradients, expected_gradients):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_the_norm_of_a_pattern_is_the_global_norm():
    model = _layered()
    value, gradients = _value_and_gradients("norm(**.kernel)", model)
    kernels = _kernels(model)
    assert value == pytest.approx(float(tf.linalg.global_norm(kernels)), rel=1e-6)
    with tf.GradientTape() as tape:
        expected = tf.linalg.global_norm(kernels)
    for got, want in zip(gradients, tape.gradient(expected, kernels)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-7)


def _flat(kernels):
    return tf.concat([tf.reshape(k, [-1]) for k in kernels], 0)


@pytest.mark.parametrize("source, reference", [
    ("mean(**.kernel)", lambda ks: tf.reduce_mean(_flat(ks))),
    ("max(square(**.kernel))", lambda ks: tf.reduce_max(tf.square(_flat(ks)))),
    ("min(**.kernel)", lambda ks: tf.reduce_min(_flat(ks))),
    ("norm(**.kernel, 1)", lambda ks: tf.reduce_sum(tf.abs(_flat(ks)))),
    ("norm(**.kernel, inf)", lambda ks: tf.reduce_max(tf.abs(_flat(ks)))),
    ("sum(2*abs(**.kernel) + 1)", lambda ks: tf.reduce_sum(2 * tf.abs(_flat(ks)) + 1)),
    ("mean(mean(W) for W in **.kernel)", lambda ks: tf.reduce_mean([tf.reduce_mean(k) for k in ks])),
    ("max(norm(W) for W in **.kernel)", lambda ks: tf.reduce_max([tf.norm(k) for k in ks])),
    ("min(max(W) for W in **.kernel)", lambda ks: tf.reduce_min([tf.reduce_max(k) for k in ks])),
    ("sum(W for W in **.kernel)", lambda ks: tf.reduce_sum(_flat(ks))),
])
def test_reductions_over_members_and_comprehensions(source, reference):
    model = _layered()
    value, _ = _value_and_gradients(source, model)
    assert value == pytest.approx(float(reference(_kernels(model))), rel=1e-5)


def test_an_orthogonality_comprehension_equals_a_hand_written_loop():
    model = _layered()
    dense = [model.get_layer("block").get_layer("inner").kernel, model.get_layer("block").get_layer("shared").kernel,
             model.get_layer("head").kernel]
    value, gradients = _value_and_gradients("sum(norm(W.T @ W - I) for W in **.*e*.kernel)", model)
    with tf.GradientTape() as tape:
        expected = tf.add_n([tf.norm(tf.transpose(w) @ w - tf.eye(w.shape[1])) for w in dense])
    assert value == pytest.approx(float(expected), rel=1e-5)
    for got, want in zip(gradients[2:], tape.gradient(expected, dense)):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-6)
    assert gradients[0] is None and gradients[1] is None  # conv kernels do not match **.*e*.kernel


def test_the_lowered_program_reads_each_member_once_in_one_pooled_reduction():
    term = lossdsl.compile("norm(**.kernel)", _layered())
    assert term.lowered.ops == ["loss = pooled_norm(conv1.kernel, conv2.kernel, block.inner.kernel, "
                                "block.shared.kernel, head.kernel)"]


def test_explain_lists_every_member(capsys, tmp_path):
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(TABLE))
    assert main(["explain", "1e-4*sum(square(**.kernel))", "--shapes", str(path)]) == 0
    out = capsys.readouterr().out
    assert "  **.kernel       ** / kernel  pattern              3 members" in out
    for member, shape in [("conv1.kernel", "(3, 3, 1, 4)"), ("conv2.kernel", "(3, 3, 4, 4)"),
                          ("dense.kernel", "(4, 2)")]:
        assert f"member of **.kernel  {shape}" in [line.split(member, 1)[-1].strip() for line in out.splitlines()
                                                   if f"  {member}" in line][0]
    assert "t4 = pooled_sum(t1, t2, t3)" in out


def test_lint_with_a_shapes_table_accepts_members(capsys, tmp_path):
    path = tmp_path / "shapes.json"
    path.write_text(json.dumps(TABLE))
    assert main(["lint", "sum(norm(W.T @ W - I) for W in dense.*)", "--shapes", str(path)]) == 1
    assert "for W = dense.bias: .T needs a matrix" in capsys.readouterr().out


# ------------------------------------------------------------------ training, saving, distributing
FIT = textwrap.dedent("""
    import sys, numpy as np, keras, tensorflow as tf
    sys.path.insert(0, {tests!r})
    import lossdsl, lossdsl.keras
    from test_patterns import _layered
    FORMULA = "mse(y_true, y_pred) + 1e-3*sum(square(**.kernel)) + 1e-2*sum(norm(W.T @ W - I) for W in **.*e*.kernel)"
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 6, 6, 1)).astype("float32"), rng.normal(size=(32, 2)).astype("float32")
""")


def _run(script: str) -> dict:
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_save_load_in_a_fresh_process_then_training_goes_on_as_without_the_break(tmp_path):
    path = str(tmp_path / "m.keras")
    head = FIT.format(tests=str(__import__("pathlib").Path(__file__).parent))
    straight = _run(head + textwrap.dedent(f"""
        model = lossdsl.attach(_layered(shared_twice=False), FORMULA)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        model.save({path!r})
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        print(__import__("json").dumps([float(v) for v in model.evaluate(x, y, verbose=0, return_dict=True).values()]))
    """))
    resumed = _run(head + textwrap.dedent(f"""
        model = keras.models.load_model({path!r}, safe_mode=True)
        model.fit(x, y, epochs=1, batch_size=8, verbose=0, shuffle=False)
        print(__import__("json").dumps([float(v) for v in model.evaluate(x, y, verbose=0, return_dict=True).values()]))
    """))
    np.testing.assert_allclose(resumed, straight, rtol=1e-5)


def test_mirrored_strategy_gives_the_values_of_one_device():
    head = "import tensorflow as tf\n" \
           "tf.config.set_logical_device_configuration(tf.config.list_physical_devices('CPU')[0], " \
           "[tf.config.LogicalDeviceConfiguration()] * 2)\n"
    script = head + FIT.format(tests=str(__import__("pathlib").Path(__file__).parent)) + textwrap.dedent("""
        def trained(strategy):
            with strategy.scope():
                model = lossdsl.attach(_layered(), FORMULA)
                model.compile(optimizer=keras.optimizers.SGD(0.05))
            history = model.fit(x, y, epochs=2, batch_size=8, verbose=0, shuffle=False)
            return history.history["loss"] + [float(tf.linalg.global_norm(model.trainable_weights))]
        one = trained(tf.distribute.get_strategy())
        two = trained(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
        print(__import__("json").dumps([one, two]))
    """)
    one, two = _run(script)
    np.testing.assert_allclose(two, one, rtol=1e-5)
