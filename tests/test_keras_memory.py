"""Compiled formulas leave nothing behind in TensorFlow's global state (issue 16 item 7).

``tf.custom_gradient`` registered a new gradient in TensorFlow's registry on every call in every trace
(five a formula, one per variable read and norm) and never removed it; each entry kept its trace's graph
alive. Reads and norms now use gradients registered once (lowering/gradients.py).
benchmarks/bench_memory.py measures the resident memory itself.
"""

import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.framework import ops  # the registry has no public view

import lossdsl
from lossdsl.lowering.gradients import CustomGradient


def registered_gradients() -> int:
    return len(ops._gradient_registry.list())


@pytest.mark.parametrize("jit", [False, True])
def test_formulas_compiled_called_and_differentiated_register_no_gradient(jit):
    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(1, name="out")(keras.layers.Dense(4, name="hidden")(inputs)))
    terms = []
    before = registered_gradients()
    for index in range(3):
        term = lossdsl.compile(f"a*norm(hidden.kernel) + {index}*norm(out.kernel, 1) + norm(out.bias)\n"
                               "where a: positive", model, jit_compile=jit)
        with tf.GradientTape() as tape:
            value = term()
        used = [model.get_layer("hidden").kernel, *model.get_layer("out").weights, *term.trainable_weights]
        assert all(g is not None for g in tape.gradient(value, used))
        terms.append(weakref.ref(term))
        del term, tape, value
    gc.collect()
    assert registered_gradients() == before
    assert [alive() for alive in terms] == [None, None, None]  # deleted terms are freed


def test_a_custom_gradient_is_the_same_eagerly_in_a_trace_and_through_a_function_call():
    scaled = CustomGradient("LossdslTestScaledGradient", lambda x, y, dy: 3.0 * dy * tf.ones_like(x))
    x = tf.Variable([1.0, -2.0])

    def loss():
        return tf.reduce_sum(scaled(tf.square, x))

    traced = tf.function(loss)
    with tf.GradientTape() as tape:
        eager = loss()
    eager_gradient = tape.gradient(eager, x)
    with tf.GradientTape() as tape:
        called = traced()  # a tape around the call: the function's gradient is built from its graph
    called_gradient = tape.gradient(called, x)

    @tf.function
    def inside():
        with tf.GradientTape() as tape:  # a tape inside the trace, as Keras' train_step has
            value = loss()
        return value, tape.gradient(value, x)

    value, inside_gradient = inside()
    assert float(eager) == float(called) == float(value) == 5.0
    for gradient in (eager_gradient, called_gradient, inside_gradient):
        np.testing.assert_array_equal(gradient.numpy(), [3.0, 3.0])
