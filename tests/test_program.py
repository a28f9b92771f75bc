"""The lowered program is planned without TensorFlow (``lossdsl explain``), and is the program ``lower`` runs."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import sympy
import tensorflow as tf

import lossdsl
from lossdsl.analysis.checks import analyze
from lossdsl.cli.main import lowered_ops
from lossdsl.lowering import ops, tensor_math
from lossdsl.lowering.lower import lower
from test_cli import EXPLAINED_WIDE, SHAPES as CLI_SHAPES
from test_kinds import CALLED, SHAPES as KIND_SHAPES

#: (formula, shapes): every built-in function, then formulas with terms, repeated subtrees and batch reductions.
FORMULAS = [(CALLED[name], KIND_SHAPES) for name in sorted(CALLED)] + [
    (EXPLAINED_WIDE, CLI_SHAPES),
    ("r = norm(L1.kernel)\nr**2 + a*r + norm(L1.kernel)*norm(L2.kernel) + mean(y_pred @ y_pred.T)", CLI_SHAPES),
    ("mean(y_pred) + std(y_pred, 0)[0] + logsumexp(y_true) + dot(y_true, y_pred) + var(y_pred)", CLI_SHAPES),
    ("sum(norm(W) for W in **.kernel) + max(abs(**.kernel)) + norm(**.kernel)", CLI_SHAPES),
]

#: Plans each formula of stdin's JSON list in a process that has not imported TensorFlow, and says whether
#: planning imported it.
PLAN_WITHOUT_TENSORFLOW = """
import json, sys
from lossdsl.analysis.checks import analyze
from lossdsl.lowering.program import plan
planned = []
for formula, shapes in json.load(sys.stdin):
    analysis = analyze(formula, shapes=shapes)
    program = plan(analysis.lowerable, analysis.node_shapes)
    planned.append({"ops": program.ops, "over_batch": program.over_batch})
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras"))
print(json.dumps({"planned": planned, "heavy": heavy}))
"""


@pytest.fixture(scope="module")
def planned_without_tensorflow():
    done = subprocess.run([sys.executable, "-c", PLAN_WITHOUT_TENSORFLOW], input=json.dumps(FORMULAS),
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(done.stdout)


def test_planning_every_function_imports_no_tensorflow(planned_without_tensorflow):
    assert planned_without_tensorflow["heavy"] == []
    assert len(planned_without_tensorflow["planned"]) == len(FORMULAS)


@pytest.mark.parametrize("index", range(len(FORMULAS)), ids=lambda i: FORMULAS[i][0].split("\n")[0][:40])
def test_the_program_planned_without_tensorflow_is_the_one_lower_runs(index, planned_without_tensorflow):
    formula, shapes = FORMULAS[index]
    analysis = analyze(formula, shapes=shapes)
    assert not analysis.has_errors
    lowered = lower(analysis.lowerable, node_shapes=analysis.node_shapes)
    assert planned_without_tensorflow["planned"][index] == {"ops": lowered.ops, "over_batch": lowered.over_batch}


def test_the_batch_reductions_of_the_wide_formula_are_marked(planned_without_tensorflow):
    over_batch = planned_without_tensorflow["planned"][len(CALLED)]["over_batch"]
    # mse, the mean of the draw, cosine and max reduce over the batch; batch_size and the kernels' terms do not
    assert over_batch == ["t1", "t3", "t12", "t15"]


def test_the_steps_call_tensorflow_itself():
    """A function a facet named by its path is looked up once, when the program is made callable: the
    traced program calls TensorFlow's own function, with nothing in between."""
    lowered = lower(lossdsl.parse("sum(exp(L1.kernel)) + norm(L1.kernel) + spectral_norm(L1.kernel)"))
    assert tf.exp in lowered.calls and tensor_math.spectral_norm in lowered.calls
    value = lowered({"L1.kernel": tf.constant([[3.0, 0.0], [0.0, 4.0]])})[""]
    expected = np.exp([3.0, 0, 0, 4]).sum() + 5.0 + 4.0
    assert float(value) == pytest.approx(expected, rel=1e-6)


def test_facets_may_still_read_helpers_as_names_of_lib():
    """``lib.euclidean_norm`` (read at planning time, importing TensorFlow) is the helper itself."""
    assert ops.euclidean_norm is tensor_math.euclidean_norm
    assert ops.resolve("tf.nn.relu").function is tf.nn.relu and ops.resolve("tf.nn.relu") is ops.resolve("tf.nn.relu")
    with pytest.raises(AttributeError):
        ops.no_such_helper  # noqa: B018 - a misspelled helper fails when the facet reads it


def test_explain_says_cannot_lower_for_a_node_with_no_tensorflow_op():
    formula = dataclasses.replace(lossdsl.parse("norm(L0.kernel)"), expr=sympy.sinh(sympy.Symbol("L0.kernel")))
    assert lowered_ops(formula) == ["cannot lower: E201 'sinh' has no TensorFlow lowering"]
