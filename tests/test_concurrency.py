"""Concurrency: models with different formulas in one process stay independent, and one compiled term
evaluated from several threads at once gives every caller its own correct value."""

import threading

import keras
import numpy as np
import pytest

import lossdsl

# Both formulas have a parameter named 'a': each model must own its own.
FORMULA_A = "data = mse(y_true, y_pred)\ndata + a * norm(first.kernel)\nwhere a: positive = 0.5"
FORMULA_B = "data = mae(y_true, y_pred)\ndata + exp(-a) * norm(second.kernel, 1) + a\nwhere a = 0.2"


def dense_model(name: str, seed: int):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name=name)])


def reference_a(model, x, y) -> float:
    kernel, bias = (w.numpy() for w in model.inner.get_layer("first").weights)
    return np.mean(np.square(y - (x @ kernel + bias))) + model.params["a"] * np.linalg.norm(kernel)


def reference_b(model, x, y) -> float:
    kernel, bias = (w.numpy() for w in model.inner.get_layer("second").weights)
    a = model.params["a"]
    return np.mean(np.abs(y - (x @ kernel + bias))) + np.exp(-a) * np.abs(kernel).sum() + a


def test_two_models_trained_in_one_process_stay_independent():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 3)).astype("float32"), rng.normal(size=(16, 2)).astype("float32")
    model_a = lossdsl.attach(dense_model("first", 1), FORMULA_A)
    model_b = lossdsl.attach(dense_model("second", 2), FORMULA_B)
    model_a.compile(optimizer=keras.optimizers.SGD(0.05))
    model_b.compile(optimizer=keras.optimizers.SGD(0.05))
    assert model_a.term.weights[0] is not model_b.term.weights[0]

    for step in range(6):  # interleaved: each step of one model must leave the other untouched
        trained, other = (model_a, model_b) if step % 2 == 0 else (model_b, model_a)
        other_before = [w.numpy() for w in other.weights]
        reference = (reference_a if trained is model_a else reference_b)(trained, x, y)
        reported = trained.train_on_batch(x, y, return_dict=True)["loss"]
        assert reported == pytest.approx(reference, rel=1e-5)
        for before, after in zip(other_before, other.weights):
            np.testing.assert_array_equal(before, after.numpy())

    assert model_a.params["a"] != pytest.approx(0.5) and model_b.params["a"] != pytest.approx(0.2)
    assert model_a.params != model_b.params
    assert model_a.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(reference_a(model_a, x, y),
                                                                                        rel=1e-5)
    assert model_b.evaluate(x, y, verbose=0, return_dict=True)["loss"] == pytest.approx(reference_b(model_b, x, y),
                                                                                        rel=1e-5)


THREADS, CALLS = 2, 50


def test_one_compiled_term_evaluated_from_two_threads_gives_each_call_its_own_value():
    model = dense_model("first", 3)
    term = lossdsl.compile("mse(y_true, y_pred) + a * norm(first.kernel)\nwhere a: positive = 0.5", model)
    kernel = model.get_layer("first").kernel.numpy()
    rng = np.random.default_rng(1)
    batches = [(rng.normal(size=(8, 2)).astype("float32"), rng.normal(size=(8, 2)).astype("float32"))
               for _ in range(THREADS * CALLS)]
    expected = [np.mean(np.square(t - p)) + 0.5 * np.linalg.norm(kernel) for t, p in batches]
    term(*batches[0])  # traced once before the threads start, as a model's first call would be
    got, failures = [None] * len(batches), []
    start = threading.Barrier(THREADS)

    def evaluate(thread: int):
        start.wait()
        try:
            for index in range(thread, len(batches), THREADS):
                got[index] = float(term(*batches[index]))
        except Exception as error:  # noqa: BLE001 -- reported below, with the thread it happened in
            failures.append((thread, error))

    workers = [threading.Thread(target=evaluate, args=(thread,)) for thread in range(THREADS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert failures == []
    np.testing.assert_allclose(got, expected, rtol=1e-5)
