"""Formulas the checks accept, run in TensorFlow on random tensors of the grammar's reference shapes: their
value and the gradient with respect to every parameter. Shared by the suite and the long fuzz run of the
lowering (benchmarks/fuzz_lower.py). A pattern has the table's matching keys as its members (as ``lint
--shapes`` gives them); ``step``, ``epoch`` and a term's history are given as scalars, ``initial(W)`` as
``W``'s value shifted (what training state would hold)."""

from __future__ import annotations

import random
from typing import Iterator

import numpy as np
import tensorflow as tf

import lossdsl
from lossdsl.analysis.members import expand_members, members_of, with_table_members
from lossdsl.language.formula import SNAPSHOT, STATE
from lossdsl.lowering.lower import lower

from grammar_formulas import REFERENCE_SHAPES, derive, mutate

BATCH = 3


def accepted_formulas(seed: int, count: int, raised: list | None = None) -> Iterator[str]:
    """``count`` derivations (some hostile, some mutated) that check() accepts against REFERENCE_SHAPES
    (about 1 in 11) and that name no output beyond them (``y_pred.kernel`` selects an output). Given a list
    ``raised``, a check that raises adds (text, exception) to it and the derivations go on (a long run);
    otherwise the exception propagates (a test)."""
    rng = random.Random(seed)
    while count:
        text = derive(rng, max_depth=rng.choice([2, 3, 4, 5]), hostile=rng.random() < 0.3)
        text = mutate(rng, text) if rng.random() < 0.3 else text
        try:
            diagnostics = lossdsl.check(text, shapes=REFERENCE_SHAPES)
        except Exception as error:  # noqa: BLE001 -- check() must never raise: the long run records it
            if raised is None:
                raise
            raised.append((text, error))
            continue
        if not any(d.is_error for d in diagnostics) and \
                all(runnable(reference) for reference in with_members(lossdsl.parse(text)).references.values()):
            count -= 1
            yield text


def with_members(formula):
    """The formula with every pattern rewritten over the table's keys it matches."""
    table, _ = with_table_members(formula, REFERENCE_SHAPES)
    return expand_members(formula, members_of(table))


def runnable(reference) -> bool:
    """A reference the runner has a value for (``y_pred.kernel`` selects an output beyond the table)."""
    return reference.role == STATE or reference.variable_text in REFERENCE_SHAPES


def reference_values(seed: int = 0) -> dict[str, tf.Tensor]:
    """A tensor for every reference; targets and predictions in (0, 1), as losses expect."""
    rng = np.random.default_rng(seed)
    values = {name: tf.constant(rng.normal(size=[BATCH if d is None else d for d in shape]), tf.float32)
              for name, shape in REFERENCE_SHAPES.items()}
    for target in ("y_true", "y_pred"):
        values[target] = tf.constant(rng.uniform(0.05, 0.95, size=(BATCH, 4)), tf.float32)
    return values


def run_formula(text: str, references: dict[str, tf.Tensor]) -> tuple[tf.Tensor, list]:
    """(loss, gradients) of a formula without errors; anything raised but LossError is a lossdsl bug."""
    formula = with_members(lossdsl.parse(text))
    lowered = lower(formula)
    params = {name: tf.Variable(0.7) for name in formula.params}
    inputs = {name: value_of(reference, references) for name, reference in formula.references.items()}
    with tf.GradientTape() as tape:
        loss = lowered({**inputs, **{name: variable.read_value() for name, variable in params.items()}})[""]
    return loss, tape.gradient(loss, list(params.values()))


def value_of(reference, references: dict[str, tf.Tensor]) -> tf.Tensor:
    """A reference's value: its tensor, a snapshot's shifted by 0.1, a state (step 5, a history 0.6) a scalar."""
    if reference.role == STATE:
        return tf.constant(5.0 if reference.text in ("step", "epoch") else 0.6)
    value = references[reference.variable_text]
    return value + 0.1 if reference.role == SNAPSHOT else value
