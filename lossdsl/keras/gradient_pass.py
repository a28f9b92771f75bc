"""``grad(f, x)`` in ``fit()``, ``evaluate()`` and a compiled term (SPEC §5.7): the forward pass on a tape.

A gradient through the model (``grad(y_pred, inputs)``, ``grad(task, shared.kernel)``) needs the forward
pass recorded, and ``compute_loss`` runs after it: a tape opened there has seen nothing. So when the
formula takes such a gradient, ``FormulaModel.call`` runs the pass inside a persistent tape of its own,
which watches the (float) inputs and, like every tape, the trainable variables the pass reads, and leaves
it at once: nothing records after the call. ``compute_loss`` re-enters that tape (a persistent tape records
again when re-entered) around the formula's evaluation, so ``tape.gradient(f, x)`` follows ``f`` back through
the formula and the model in one backward pass. Keras' own ``train_step`` tape records all of it, so the
gradient is differentiable and a penalty on it trains; Keras' bookkeeping is untouched. ``predict()``
runs the pass with no tape (:func:`without_gradient_pass`).
"""

from __future__ import annotations

import contextlib
import contextvars

import keras
import tensorflow as tf

from ..lowering.differentiation import Differentiation

_predicting: contextvars.ContextVar = contextvars.ContextVar("lossdsl_predicting", default=False)


@contextlib.contextmanager
def without_gradient_pass():
    """Forward passes inside run with no tape: ``predict()`` takes no gradient of them."""
    token = _predicting.set(True)
    try:
        yield
    finally:
        _predicting.reset(token)


def differentiates_pass(term) -> bool:
    """Whether a ``grad`` of the formula goes back through the forward pass: its ``x`` is an activation or the
    inputs, or a model variable while its ``f`` reads ``y_pred``, an activation or the inputs. (A parameter
    is never read by the model: its gradient needs only the formula's own ops.)"""
    lowered = term.lowered
    if lowered is None or not lowered.gradient_groups:
        return False
    references = lowered.formula.references

    def from_pass(text: str) -> bool:
        reference = references.get(text)
        return reference is not None and (reference.needs_forward_pass or
                                          (reference.is_target and reference.path[0] == "y_pred"))

    for f, group in lowered.gradient_groups.items():
        if any(from_pass(text) for text in group.targets):
            return True
        if any(text in references for text in group.targets) and _reads_the_pass(lowered.steps, f, from_pass):
            return True
    return False


def _reads_the_pass(steps, index: int, from_pass) -> bool:
    """Whether the program's step ``index`` depends on a read of the forward pass."""
    below, seen = [index], set()
    while below:
        index = below.pop()
        if index not in seen:
            seen.add(index)
            if steps[index].reads and from_pass(steps[index].reads):
                return True
            below += steps[index].inputs
    return False


def pass_tape(term) -> tf.GradientTape | None:
    """A fresh persistent tape for a forward pass the formula differentiates through; None when it takes no
    such gradient, or in ``predict()``."""
    if _predicting.get() or not term.differentiates_pass:
        return None
    return tf.GradientTape(persistent=True)


def evaluate_through_pass(term, y_true, inputs, training) -> tf.Tensor:
    """``term(y_true, inputs=x)`` for a formula with a gradient through the model: the forward pass and the
    evaluation on one tape, traced together when called eagerly (an eager pass cannot feed a graph's tape)."""
    def through_pass(y_true, inputs):
        tape = tf.GradientTape(persistent=True)
        y_pred, forward = term.forward_pass(term._model, inputs, training, tape=tape)
        return term._evaluate(y_true, y_pred, forward, tape, training=bool(training))[""]

    if tf.inside_function():
        return through_pass(y_true, inputs)
    if training not in term.pass_functions:
        term.pass_functions[training] = tf.function(through_pass, reduce_retracing=True, autograph=False)
    return term.pass_functions[training](y_true, inputs)


def watched(inputs, tape: tf.GradientTape):
    """``inputs`` as tensors, the floating ones watched by ``tape`` (``grad(..., inputs)``)."""
    def watch(value):
        if isinstance(value, keras.KerasTensor):
            return value
        tensor = tf.convert_to_tensor(value)
        if tensor.dtype.is_floating:
            tape.watch(tensor)
        return tensor
    return keras.tree.map_structure(watch, inputs)


def differentiation(term, tape: tf.GradientTape, forward: dict | None) -> Differentiation:
    """What each ``grad`` target is on ``tape``: a model variable itself (so the forward pass's reads of it
    count, not only the formula's), an activation or the inputs as the pass gave them. Parameters are the
    values the formula reads (the default)."""
    sources = {}
    for text in term.lowered.differentiates:
        resolved = term.analysis.resolved.get(text)
        if resolved is None:
            continue
        if resolved.variable is not None:
            variable = resolved.variable
            sources[text] = variable.value if isinstance(variable, keras.Variable) else variable
        elif forward is not None and text in forward:
            sources[text] = forward[text]
    return Differentiation(tape, sources)
