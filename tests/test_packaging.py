"""Packaging: TensorFlow is an extra, and `import lossdsl` is enough to load a model saved with a formula."""

import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

WITHOUT_TENSORFLOW = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = None  # as if the tensorflow extra were not installed
    import lossdsl
    assert [d.code for d in lossdsl.check("nrom(L1.kernel)")] == ["E201"]
    for call in (lambda: lossdsl.compile("norm(L0.kernel)", None), lambda: lossdsl.attach(None, "norm(L0.kernel)")):
        try:
            call()
        except ImportError as error:
            print(error)
        else:
            raise SystemExit("no ImportError")
    try:
        import lossdsl.keras
    except ImportError as error:
        print(error)
""")


def test_without_tensorflow_check_works_and_compile_attach_name_the_extra():
    run = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 3 and all('pip install "lossdsl[tensorflow]"' in line for line in lines), lines


EXPLAIN_WITHOUT_TENSORFLOW = textwrap.dedent("""
    import sys
    sys.modules["tensorflow"] = sys.modules["keras"] = None  # as if the tensorflow extra were not installed
    from lossdsl.cli import main
    raise SystemExit(main(["explain", "mse(y_true, y_pred) + 0.1*norm(L0.kernel) + mean(normal(3))"]))
""")


def test_without_tensorflow_explain_shows_the_lowered_program():
    run = subprocess.run([sys.executable, "-c", EXPLAIN_WITHOUT_TENSORFLOW], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split("lowered to TensorFlow\n")[1].splitlines() == [
        "  t1 = tf.reduce_mean(keras.losses.MeanSquaredError(reduction=None)(y_true, y_pred))",
        "  t2 = euclidean_norm(L0.kernel)", "  t3 = 0.1 * t2", "  t4 = keras.random.normal([3], seed=seed_generator)",
        "  t5 = tf.reduce_mean(t4)", "  loss = t1 + t3 + t5"]


@pytest.mark.slow
def test_plain_install_lints_without_tensorflow(tmp_path):
    """What the pre-commit hook builds: `pip install .` into a fresh environment, then `lossdsl lint`."""
    venv.create(tmp_path / "env", with_pip=True)
    python = tmp_path / "env" / "bin" / "python"
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", str(ROOT)], capture_output=True,
                             text=True, timeout=900)
    assert install.returncode == 0, install.stderr[-2000:]
    listed = subprocess.run([python, "-m", "pip", "list"], capture_output=True, text=True, timeout=120).stdout
    assert "tensorflow" not in listed.lower() and "keras" not in listed.lower()
    lint = subprocess.run([tmp_path / "env" / "bin" / "lossdsl", "lint", "nrom(L1.kernel)"], capture_output=True,
                          text=True, timeout=120, cwd=tmp_path)
    assert lint.returncode == 1 and "E201" in lint.stdout, lint.stdout + lint.stderr


SAVE = textwrap.dedent("""
    import sys
    import keras, numpy as np
    import lossdsl
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="hidden"), keras.layers.Dense(1, name="out")])
    trained = lossdsl.attach(model, "mse(y_true, y_pred) + c * norm(hidden.kernel) - log(c)\\nwhere c: positive = 0.5")
    trained.compile(optimizer="sgd")
    trained.fit(np.ones((8, 3)), np.ones((8, 1)), epochs=1, verbose=0)
    trained.save(sys.argv[1])
    print(trained.params["c"])
""")

# Each order in which a user's script may import things; loading needs only `import lossdsl` somewhere.
LOAD_ORDERS = {
    "lossdsl first": "import lossdsl\nimport keras",
    "keras first": "import keras\nimport lossdsl",
    "tensorflow first": "import tensorflow\nimport lossdsl\nimport keras",
    "lossdsl, then tensorflow": "import lossdsl\nimport tensorflow\nimport keras",
}


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("registration") / "model.keras"
    run = subprocess.run([sys.executable, "-c", SAVE, str(path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return path, float(run.stdout.split()[-1])


@pytest.mark.slow
@pytest.mark.parametrize("order", LOAD_ORDERS)
def test_import_lossdsl_is_enough_to_load_a_saved_model(saved_model, order):
    path, learned = saved_model
    script = LOAD_ORDERS[order] + "\nimport sys\nmodel = keras.models.load_model(sys.argv[1])\nprint(model.params['c'])"
    run = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert float(run.stdout.split()[-1]) == pytest.approx(learned, rel=1e-6)


def test_import_lossdsl_alone_still_imports_no_tensorflow():
    script = "import sys, lossdsl\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "[]", run.stdout + run.stderr


def test_every_subpackage_is_listed_for_the_wheel():
    """pyproject lists the packages by hand (the grammar is mapped in from the top level): a new folder
    missing there installs without it, and only the plain-install test above would notice."""
    import tomllib
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    folders = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "lossdsl").rglob("__init__.py")}
    assert folders <= listed, sorted(folders - listed)
