"""The training state a formula reads: ``step``, ``epoch`` and its named terms' history (SPEC §5.5, §5.6).

Every value is a non-trainable weight of the term layer, so it is saved in .keras files, in ``save_weights``
(what ``BackupAndRestore`` writes) and in ``tf.train.Checkpoint``. A history value that does not exist yet
(before the first step, before the first closed epoch) is stored as NaN, which the lowered program reads as
"use the term's current value" (``lowering.lower.history_step``).

One rule for ``step``: it counts the training steps before the current one. The term keeps the count itself
(``term(..., training=True)`` advances it); in ``fit()`` the count is the optimizer's ``iterations``, which
is the same number in an ordinary run and the one Keras restores and replays on resume.

Under a distribution strategy the terms' values are global already (reductions over the batch are; see
lowering/replicas.py), the same on every replica; the float state is aggregated as the mean over replicas.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ..language.formula import Formula
from ..language.history import EMA, EPOCH, EPOCH_START, PREVIOUS, START, STEP, history_uses, progress_uses

_NAN = float("nan")


class TrainingState:
    """The state weights of one term layer, the env values they give, and their updates."""

    def __init__(self, layer: keras.layers.Layer, formula: Formula):
        self.uses = history_uses(formula)
        self.progress = progress_uses(formula)
        self.weights: dict[str, keras.Variable] = {}
        if not self.uses and not self.progress:
            return
        # The counters exist whenever state does: a custom loop's step, and the epoch end_epoch() closes.
        self.step = self._weight(layer, "state_step", (), "int64", 0, "only_first_replica")
        self.epoch = self._weight(layer, "state_epoch", (), "int64", 0, "only_first_replica")
        self.stored: dict[str, keras.Variable] = {}  # the text of start/epoch_start/ema -> its value
        self.back: dict[str, int] = {}  # term -> how many epochs previous() looks back, at most
        for use in self.uses:
            if use.function == PREVIOUS:
                self.back[use.term] = max(self.back.get(use.term, 1), use.option or 1)
            elif use.text not in self.stored:
                self.stored[use.text] = self._weight(layer, f"state_{_name(use.text)}", (), "float32", _NAN)
        # previous(): the epoch's running sum of each term and the step count, as Keras' Mean metric keeps
        # them for the logged value; the closed epochs' means, the latest first.
        self.epoch_sums = {term: self._weight(layer, f"state_epoch_sum_{term}", (), "float32", 0.0)
                           for term in self.back}
        self.closed = {term: self._weight(layer, f"state_previous_{term}", (k,), "float32", _NAN)
                       for term, k in self.back.items()}
        if self.back:
            self.epoch_steps = self._weight(layer, "state_epoch_steps", (), "float32", 0.0)

    def _weight(self, layer, name: str, shape: tuple, dtype: str, value: float, aggregation: str = "mean"):
        weight = layer.add_weight(name=name, shape=shape, dtype=dtype, trainable=False, autocast=False,
                                  initializer=keras.initializers.Constant(value), aggregation=aggregation)
        self.weights[name] = weight
        return weight

    @property
    def kept(self) -> bool:
        return bool(self.weights)

    def env(self, step=None) -> dict:
        """The env values the lowered program reads: ``step`` (the given one in fit()), ``epoch``, history."""
        if not self.kept:
            return {}
        step = self.step.value if step is None else step
        env = {STEP: tf.cast(step, tf.float32), EPOCH: tf.cast(self.epoch.value, tf.float32)}
        env.update((text, weight.value) for text, weight in self.stored.items())
        for use in self.uses:
            if use.function == PREVIOUS:
                env[use.text] = self.closed[use.term].value[(use.option or 1) - 1]
        return env

    def after_training_step(self, values: dict, step=None) -> list:
        """Take in one training step's term values; the assign ops (run in the caller's trace)."""
        if not self.kept:
            return []
        step = self.step.value if step is None else tf.cast(step, tf.int64)
        updates = [self.step.assign(step + 1)]
        current = {use.term: tf.stop_gradient(tf.cast(tf.reshape(values[use.term], ()), tf.float32))
                   for use in self.uses}
        for use in self.uses:
            if use.function in (START, EPOCH_START):
                stored = self.stored[use.text]
                updates.append(stored.assign(tf.where(tf.math.is_nan(stored.value), current[use.term], stored.value)))
            elif use.function == EMA:
                stored, decay = self.stored[use.text], float(use.option)
                updates.append(stored.assign(tf.where(tf.math.is_nan(stored.value), current[use.term],
                                                      decay * stored.value + (1 - decay) * current[use.term])))
        for term, total in self.epoch_sums.items():
            updates.append(total.assign_add(current[term]))
        if self.back:
            updates.append(self.epoch_steps.assign_add(1.0))
        return updates

    def begin_epoch(self, epoch: int) -> None:
        """fit() starts epoch ``epoch``: a resumed run starts where Keras does, and an epoch Keras replays after
        a step-level checkpoint (BackupAndRestore's save_freq=N) counts its steps once, from the start."""
        if not self.kept:
            return
        self.epoch.assign(epoch)
        for total in self.epoch_sums.values():
            total.assign(0.0)
        if self.back:
            self.epoch_steps.assign(0.0)
        for use in self.uses:
            if use.function == EPOCH_START:
                self.stored[use.text].assign(_NAN)

    def end_epoch(self) -> None:
        """Close an epoch: previous() moves one epoch back, epoch_start() starts again, ``epoch`` counts it."""
        if not self.kept:
            return
        # Called between steps (fit()'s callback, a custom loop): outside a replica, a MirroredVariable is
        # read as a tensor, assigned on every replica.
        steps = tf.convert_to_tensor(self.epoch_steps.value) if self.back else None
        if steps is not None and float(steps) > 0:  # an epoch without a training step leaves no value
            for term, closed in self.closed.items():
                mean = tf.convert_to_tensor(self.epoch_sums[term].value) / steps
                kept = tf.convert_to_tensor(closed.value)[:-1]
                closed.assign(tf.concat([tf.reshape(mean, (1,)), kept], axis=0))
                self.epoch_sums[term].assign(0.0)
            self.epoch_steps.assign(0.0)
        for use in self.uses:
            if use.function == EPOCH_START:
                self.stored[use.text].assign(_NAN)
        self.epoch.assign(tf.convert_to_tensor(self.epoch.value) + 1)


def _name(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text).strip("_")
