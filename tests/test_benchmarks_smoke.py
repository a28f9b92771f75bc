"""The benchmarks run: every measure at a tiny size gives well-formed rows (no timing is asserted)."""

import sys
from pathlib import Path

import pytest

import lossdsl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import bench_activations  # noqa: E402
import bench_bandwidth  # noqa: E402
import bench_compile  # noqa: E402
import bench_eval  # noqa: E402
import bench_fit  # noqa: E402
import bench_grad  # noqa: E402
import bench_history  # noqa: E402
import bench_lint  # noqa: E402
import bench_params  # noqa: E402
import bench_memory  # noqa: E402
import bench_spectral  # noqa: E402
import bench_patterns  # noqa: E402
import bench_resnet  # noqa: E402
import run  # noqa: E402
import timing  # noqa: E402


def assert_rows(rows, count):
    """``count`` rows, each with the table's columns, positive times and ratios."""
    assert len(rows) == count
    for result in rows:
        assert set(timing.COLUMNS) <= set(result)
        assert result["ours"] > 0 and result["baseline"] > 0
        assert result["ratio"] > 0
        assert result["met"] in (True, False, None)
        assert (result["met"] is None) == (result["goal"] == "-")


def test_evaluation_rows():
    assert_rows(bench_eval.run(rounds=1, units=16, calls=1), 4)


def test_memory_growth_is_measured_in_megabytes_per_iteration(monkeypatch):
    monkeypatch.setattr(bench_memory, "WARMUP", 1)
    for side in ("ours", "plain"):
        growth = bench_memory.growth_per_iteration(bench_memory.formula_iterations(side), 2)
        assert isinstance(growth, float) and abs(growth) < 50  # MB, not bytes or KB


def test_fit_row():
    assert_rows([bench_fit.fit_step(rounds=1, steps=3, features=8, units=8, batch=4)], 1)


def test_many_parameters_rows():
    assert_rows([bench_params.fit_step(3, rounds=1, steps=3, features=8, units=8, batch=4),
                 bench_params.evaluation(3, rounds=1, calls=1, units=8),
                 bench_params.evaluation(3, rounds=1, calls=1, units=8, gradient=True)], 3)
def test_history_row():
    assert_rows([bench_history.history_step(rounds=1, steps=3, features=8, units=8, batch=4)], 1)


def test_spectral_norm_rows():
    assert_rows(bench_spectral.run(rounds=1, units=16), 2)


def test_activity_row():
    assert_rows([bench_activations.activity_step(rounds=1, steps=3, features=8, units=8, batch=4)], 1)


def test_gradient_penalty_row():
    assert_rows([bench_grad.penalty_step(rounds=1, steps=3, features=8, units=8, batch=4)], 1)


def test_bandwidth_rows():
    assert_rows(bench_bandwidth.weight_norm(rounds=1, units=32, layers=2, calls=1), 3)


def test_pattern_rows():
    assert_rows([bench_patterns.regularizer_fit(rounds=1, steps=3, layers=3, channels=2, size=4, batch=4)], 1)
    assert_rows(bench_patterns.pattern_norm(rounds=1, units=32, layers=2, calls=1), 2)


def tiny_cnn(size: int, regularized: bool = False):
    """Two convolutions named like ResNet50's and a Dense head: a stand-in for it at a tiny size."""
    import keras
    keras.utils.set_random_seed(0)
    regularizer = keras.regularizers.L2(1e-4) if regularized else None
    inputs = keras.Input((size, size, 3))
    hidden = keras.layers.Conv2D(4, 3, name="conv1_conv", kernel_regularizer=regularizer)(inputs)
    hidden = keras.layers.Conv2D(4, 3, name="conv2_conv", kernel_regularizer=regularizer)(hidden)
    outputs = keras.layers.Dense(10, activation="softmax", kernel_regularizer=regularizer)(
        keras.layers.GlobalAveragePooling2D()(hidden))
    return keras.Model(inputs, outputs)


def test_resnet_fit_row():
    assert_rows(bench_resnet.fit_steps(rounds=1, steps=3, size=8, batch=2, build=tiny_cnn), 2)


def test_compile_rows_in_process():
    assert_rows([bench_compile.classic_in_process(rounds=1)], 1)
    assert_rows(bench_compile.scaling(sizes=(2, 4, 8), rounds=1), 1 + 5)


def test_scaling_formulas_have_distinct_terms():
    formula = bench_compile.formula_of(20)
    assert len(lossdsl.parse(formula).references) == 20


def test_lint_rate_row():
    result = bench_lint.lint_rate(count=20)
    assert result["ours"] > 0 and result["met"] in (True, False)


@pytest.mark.slow
def test_rows_that_start_processes():
    assert_rows([bench_compile.classic_new_process(rounds=1), bench_lint.startup(rounds=1),
                 bench_lint.explain_startup(rounds=1), bench_lint.lint_with_model(rounds=1)], 4)


def test_alternate_compares_round_by_round():
    calls = []
    result = timing.alternate(lambda: calls.append("ours"), lambda: calls.append("base"), rounds=3, calls=2, warmup=1)
    # one warm-up call each, then rounds of 2 calls, the order flipping every round
    assert calls == ["ours", "base"] + ["ours", "ours", "base", "base"] + ["base", "base", "ours", "ours"] \
        + ["ours", "ours", "base", "base"]
    assert result.ours > 0 and result.baseline > 0 and result.ratio > 0


def test_report_is_one_markdown_table():
    rows = [timing.row("a (ms)", 2e-3, 1e-3, 1.5, scale=1e3), timing.row("b (s)", 1.0, 2.0, None)]
    text = run.report(rows, "2 cores", 3.0)
    lines = text.splitlines()
    assert lines[0] == "2 cores"
    table = [line for line in lines if line.startswith("|")]
    assert table[0] == "| measure | ours | baseline | ratio | goal | met |"
    assert table[2] == "| a (ms) | 2 | 1 | 2.000 | ratio <= 1.5 | **NO** |"
    assert table[3] == "| b (s) | 1 | 2 | 0.500 | - | - |"
