"""The training state a formula reads: ``step``, ``epoch`` and its named terms' history (SPEC §5.5, §5.6).

Every value is a non-trainable weight of the term layer, so it is saved in .keras files, in ``save_weights``
(what ``BackupAndRestore`` writes) and in ``tf.train.Checkpoint``. A history value that does not exist yet
(before the first step, before the first closed epoch) is stored as NaN, which the lowered program reads as
"use the term's current value" (``lowering.program.history_step``).

One rule for ``step``: it counts the training steps before the current one. The term keeps the count itself
(``term(..., training=True)`` advances it); in ``fit()`` the count is the optimizer's ``iterations``, which
is the same number in an ordinary run and the one Keras restores and replays on resume.

Under a distribution strategy the terms' values are global already (reductions over the batch are; see
lowering/replicas.py), the same on every replica; the float state is aggregated as the mean over replicas.

The values are kept as few vectors (every start/epoch_start/ema value in one, every term's epoch sum in
another), so that a step reads and updates them in a handful of ops whatever their number (one weight per value,
updated by computing each again, cost about 40 us more a step: benchmarks/bench_history.py).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ..language.formula import Formula
from ..language.history import EPOCH, EPOCH_START, PREVIOUS, STEP, history_uses, progress_uses

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
        # start/epoch_start/ema: one entry each of one vector. The lowered program computes each one's value in
        # a step (the stored one, the term's own while it is NaN, the ema taking the term in): what is kept.
        self.kept_values = list(dict.fromkeys(use for use in self.uses if use.function != PREVIOUS))
        self.index = {use.text: i for i, use in enumerate(self.kept_values)}
        if self.kept_values:
            self.values = self._weight(layer, "state_history", (len(self.kept_values),), "float32", _NAN)
            self.restarts = [use.function == EPOCH_START for use in self.kept_values]
        # previous(): each term's running sum over the epoch and the step count, as Keras' Mean metric keeps
        # them for the logged value; the closed epochs' means, the latest first (a row per term).
        self.back = list(dict.fromkeys(use.term for use in self.uses if use.function == PREVIOUS))
        if self.back:
            depth = max((use.option or 1) for use in self.uses if use.function == PREVIOUS)
            self.epoch_sums = self._weight(layer, "state_epoch_sums", (len(self.back),), "float32", 0.0)
            self.closed = self._weight(layer, "state_previous", (len(self.back), depth), "float32", _NAN)
            self.epoch_steps = self._weight(layer, "state_epoch_steps", (), "float32", 0.0)

    def _weight(self, layer, name: str, shape: tuple, dtype: str, value: float, aggregation: str = "mean"):
        weight = layer.add_weight(name=name, shape=shape, dtype=dtype, trainable=False, autocast=False,
                                  initializer=keras.initializers.Constant(value), aggregation=aggregation)
        self.weights[name] = weight
        return weight

    @property
    def kept(self) -> bool:
        return bool(self.weights)

    # --------------------------------------------------------------- reading
    def value(self, text: str) -> float:
        """The stored value of ``start(L)``, ``epoch_start(L)`` or ``ema(L, d)`` (NaN: not there yet)."""
        return float(tf.convert_to_tensor(self.values.value)[self.index[text]])

    def previous_values(self, term: str):
        """The closed epochs' values of ``term``, the latest first (NaN: no such epoch yet), as numpy."""
        return tf.convert_to_tensor(self.closed.value)[self.back.index(term)].numpy()

    def env(self, step=None) -> dict:
        """The env values the lowered program reads: ``step`` (the given one in fit()), ``epoch``, history."""
        if not self.kept:
            return {}
        step = self.step.value if step is None else step
        env = {STEP: tf.cast(step, tf.float32), EPOCH: tf.cast(self.epoch.value, tf.float32)}
        if self.kept_values:
            env.update(zip(self.index, tf.unstack(self.values.value)))
        if self.back:
            closed = self.closed.value
            for use in self.uses:
                if use.function == PREVIOUS:
                    env[use.text] = closed[self.back.index(use.term), (use.option or 1) - 1]
        return env

    # -------------------------------------------------------------- updating
    def after_training_step(self, values: dict, history: dict, step=None) -> None:
        """Take in one training step's term values and history values (``history``: the value each history
        function had in this step, which is what start/epoch_start/ema keep from now on)."""
        if not self.kept:
            return
        step = self.step.value if step is None else tf.cast(step, tf.int64)
        self.step.assign(step + 1)
        if self.kept_values:
            self.values.assign(tf.stack([_scalar(history[use.text]) for use in self.kept_values]))
        if self.back:
            self.epoch_sums.assign_add(tf.stack([_scalar(values[term]) for term in self.back]))
            self.epoch_steps.assign_add(1.0)

    def begin_epoch(self, epoch: int) -> None:
        """fit() starts epoch ``epoch``: a resumed run starts where Keras does, and an epoch Keras replays after
        a step-level checkpoint (BackupAndRestore's save_freq=N) counts its steps once, from the start."""
        if not self.kept:
            return
        self.epoch.assign(epoch)
        if self.back:
            self.epoch_sums.assign(tf.zeros_like(self.epoch_sums.value))
            self.epoch_steps.assign(0.0)
        self._restart_epoch_start()

    def end_epoch(self) -> None:
        """Close an epoch: previous() moves one epoch back, epoch_start() starts again, ``epoch`` counts it."""
        if not self.kept:
            return
        # Called between steps (fit()'s callback, a custom loop): outside a replica, a MirroredVariable is
        # read as a tensor, assigned on every replica.
        steps = tf.convert_to_tensor(self.epoch_steps.value) if self.back else None
        if steps is not None and float(steps) > 0:  # an epoch without a training step leaves no value
            means = tf.convert_to_tensor(self.epoch_sums.value) / steps
            closed = tf.convert_to_tensor(self.closed.value)
            self.closed.assign(tf.concat([means[:, None], closed[:, :-1]], axis=1))
            self.epoch_sums.assign(tf.zeros_like(means))
            self.epoch_steps.assign(0.0)
        self._restart_epoch_start()
        self.epoch.assign(tf.convert_to_tensor(self.epoch.value) + 1)

    def _restart_epoch_start(self) -> None:
        if self.kept_values and any(self.restarts):
            old = tf.convert_to_tensor(self.values.value)
            self.values.assign(tf.where(self.restarts, tf.fill(tf.shape(old), _NAN), old))


def _scalar(value: tf.Tensor) -> tf.Tensor:
    """One step's value as a float32 scalar (assigned: no gradient flows)."""
    value = value if value.shape.rank == 0 else tf.reshape(value, ())
    return value if value.dtype == tf.float32 else tf.cast(value, tf.float32)
