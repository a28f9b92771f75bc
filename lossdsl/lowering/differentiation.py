"""``grad(f, x)`` in the lowered program (SPEC §5.7): gradients taken on a tape that recorded ``f``.

The program is run under a ``tf.GradientTape``: the caller's (:class:`Differentiation`: the Keras stage
re-enters the tape that recorded the model's forward pass, so ``grad(y_pred, inputs)`` goes back through the
model), or one the program opens itself around its own steps (``grad(norm(W)**2, W)``). Every gradient of
one ``f`` is taken in one backward pass (``grad(f, **.kernel)``: one pass for all members). The gradient is
computed while every outer tape (Keras' ``train_step``) records, so it is differentiable: a loss may
penalize it (double backprop).

Under a distribution strategy each replica differentiates its share of ``sum(f)``: the sum of its own
entries when ``f`` holds the batch (``y_pred``), else ``f / replicas`` (a global reduction is the same
value on every replica, and its all-reduce hands each replica the full gradient: ``lowering.replicas``).
A gradient with respect to the replica's part of the batch (``inputs``, an activation) is then the one
device's; one with respect to a variable or parameter is summed over the replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import tensorflow as tf

from .program import GradientGroup
from .replicas import all_sum, replica_count


@dataclass
class Differentiation:
    """The tape a formula's gradients are taken on, recording already (the caller is inside ``with tape:``),
    and what each ``grad`` target is on it: ``sources`` maps a target's text to the tensor or variable to
    differentiate with respect to (a variable: every read of it on the tape counts, the forward pass's too).
    A target not in ``sources`` is the tensor the program reads for it."""

    tape: tf.GradientTape
    sources: dict = field(default_factory=dict)


def gradients(tape: tf.GradientTape, f, sources: list, group: GradientGroup, dtype) -> list:
    """The gradient of ``sum(f)`` with respect to each of ``sources`` (zeros where it does not depend on one)."""
    replicas = replica_count()
    total = tf.reduce_sum(f)
    share = total if group.local or replicas == 1 else total / tf.cast(replicas, total.dtype)
    # Not recorded on this tape (nothing takes its gradient again), but on every outer tape: double backprop.
    with tape.stop_recording():
        found = tape.gradient(share, sources, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    found = [tf.convert_to_tensor(g) for g in found]  # an embedding's gradient comes as IndexedSlices
    if replicas > 1:
        unbatched = [i for i, batched in enumerate(group.batched) if not batched]
        if unbatched:
            summed = all_sum(*(found[i] for i in unbatched))
            for i, value in zip(unbatched, summed if len(unbatched) > 1 else (summed,)):
                found[i] = value
    return [g if g.dtype == dtype else tf.cast(g, dtype) for g in found]
