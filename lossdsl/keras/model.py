"""The user's model with the formula as (part of) its loss: what attach() returns (SPEC §3.2).

The wrapper adds the formula's value in ``compute_loss``, where ``y_true`` and ``y_pred`` are at hand, scaled
per replica like Keras scales its own losses, and logs the scalar terms and parameters.
"""

from __future__ import annotations

import threading

import keras
import tensorflow as tf

from ..analysis.shapes import is_scalar
from ..language.errors import LossError, warn
from ..language.builder import EDITION
from .saved_config import checked_options, checked_places, quoted, required_fields
from .term import FormulaTerm


@keras.saving.register_keras_serializable(package="lossdsl")
class FormulaModel(keras.Model):
    """``model`` with the formula as (part of) its loss; saved and loaded with the formula and parameters."""

    def __init__(self, model, formula: str, jit_compile_formula: bool = False, check_numerics: bool = False,
                 places: dict | None = None, constants: dict | None = None, tensor_shapes: dict | None = None,
                 edition: int = EDITION, **kwargs):
        checked_options("the model with a formula", formula=formula, jit_compile_formula=jit_compile_formula,
                        check_numerics=check_numerics, edition=edition)
        places = checked_places(places)
        super().__init__(**kwargs)
        self.inner = model
        self.term = FormulaTerm(formula, jit_compile=jit_compile_formula, check_numerics=check_numerics,
                                constants=constants, tensor_shapes=tensor_shapes, edition=edition, name="formula")
        self.term.bind(model, places)
        # Scalar terms are logged (SPEC 2): the mean of a tensor term (W.T @ W - I) says little and costs a step.
        names = [name for name, shape in self.term.term_shapes.items() if name and is_scalar(shape)]
        names += [name for name, param in self.term.formula.params.items() if not param.shape]  # SPEC §5.4
        self.formula_metrics = {name: keras.metrics.Mean(name=log) for name, log in _log_names(names).items()}
        # The last forward pass of each thread with its activations: a MirroredStrategy replica runs in its
        # own thread, and compute_loss checks it gets that pass's very y_pred, so no replica reads another's.
        # One entry per thread: model(x) called in a loop keeps nothing more alive.
        object.__setattr__(self, "_passes", {})

    def call(self, inputs, training=None):
        if not self.term.forward_references:
            return self.inner(inputs, training=training)
        y_pred, values = self.term.forward_pass(self.inner, inputs, training)
        self._passes[threading.get_ident()] = (keras.tree.flatten(y_pred)[0], values)
        return y_pred

    def forward_values(self, x, y_pred, training) -> dict | None:
        """The activations of the pass that gave ``y_pred`` (one more pass on ``x`` if it was not ours)."""
        if not self.term.forward_references:
            return None
        kept = self._passes.get(threading.get_ident())
        if kept is not None and kept[0] is keras.tree.flatten(y_pred)[0]:
            return kept[1]
        return self.term.forward_pass(self.inner, x, training)[1]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        # fit()'s step is the optimizer's count: the one Keras saves, restores and replays on resume.
        # (A custom loop may call compute_loss on a model never compiled: then the term counts its own steps.)
        optimizer = getattr(self, "optimizer", None) if training and self.term.state.kept else None
        step = None if optimizer is None else optimizer.iterations
        values = self.term.evaluate(y, y_pred, self.forward_values(x, y_pred, training), training=bool(training),
                                    step=step)
        for name, metric in self.formula_metrics.items():
            value = values[name] if name in values else self.term.param_value(name)
            metric.update_state(tf.reduce_mean(tf.cast(value, tf.float32)))
        if not self.term.uses_targets and self._compile_loss is not None:
            # No data term in the formula: it is added to the loss given to compile() (and Keras adds
            # the layers' own regularization losses there, already scaled per replica).
            return _scale_for_replicas(values[""]) + super().compute_loss(x, y, y_pred, sample_weight, training)
        total = values[""]
        for loss in self.losses:  # regularizers of the model's own layers still count
            total += tf.cast(tf.reduce_sum(loss), total.dtype)
        return _scale_for_replicas(total)

    @property
    def params(self) -> dict[str, float]:
        return self.term.params

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, *args, **kwargs):
        """Keras' fit(), with the formula's epoch hook first among the callbacks when it keeps state (``epoch``,
        history): BackupAndRestore then saves each epoch's state after the hook has closed the epoch."""
        if self.term.state.kept:
            hook = EpochHook(self.term)
            if isinstance(callbacks, keras.callbacks.CallbackList):  # Keras takes one as it is
                hook.set_model(self)
                callbacks.callbacks.insert(0, hook)
            else:
                callbacks = [hook, *(callbacks or [])]
        return super().fit(x, y, batch_size, epochs, verbose, callbacks, *args, **kwargs)

    def get_config(self):
        return {"model": keras.saving.serialize_keras_object(self.inner), "formula": self.term.source,
                "jit_compile_formula": self.term.jit_compile, "check_numerics": self.term.check_numerics,
                "places": {text: place.as_config() for text, place in self.term.places(self.inner).items()},
                "tensor_shapes": self.term.tensor_shapes, "edition": self.term.edition, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        required_fields(config, "the model with a formula",
                        ("model", "formula", "jit_compile_formula", "check_numerics"))
        if not isinstance(config["model"], dict):
            raise LossError([], "", f"the saved config of the model with a formula: field 'model' must be a Keras "
                                    f"object's config (a dict), not {quoted(config['model'])}")
        config = dict(config)
        config.setdefault("edition", 1)  # saved before editions were recorded: a first-edition formula
        inner = keras.saving.deserialize_keras_object(config.pop("model"), custom_objects=custom_objects)
        return cls(inner, **config)


class EpochHook(keras.callbacks.Callback):
    """fit()'s epochs for the formula's state: ``epoch`` is fit()'s epoch index (initial_epoch on resume), an
    epoch's start starts its running values again, and its end closes it for ``previous`` and ``epoch_start``."""

    def __init__(self, term: FormulaTerm):
        super().__init__()
        self.term = term

    def on_epoch_begin(self, epoch, logs=None):
        self.term.state.begin_epoch(epoch)

    def on_epoch_end(self, epoch, logs=None):
        self.term.end_epoch()


#: Keys fit() writes itself (and as val_<key>): a term or parameter logged under one would hide the total.
RESERVED_LOG_NAMES = frozenset({"loss"})


def _log_names(names: list[str]) -> dict[str, str]:
    """The name each term and parameter is logged under: its own, unless fit() uses it (then with _term)."""
    logged = {}
    for name in names:
        log = name
        while log in RESERVED_LOG_NAMES or (log != name and log in names):
            log += "_term"
        if log != name:
            warn(f"the term '{name}' is logged as '{log}' in fit() and evaluate(): they log the total loss as "
                 f"'{name}' (rename the term to choose the name yourself)")
        logged[name] = log
    return logged


def _scale_for_replicas(value):
    """Divide by the replica count: gradients are summed over replicas, so the term counts once.

    Once is right although the formula's reductions over the batch are global (the value is the same on
    every replica): the all-reduce's gradient hands each replica one full share for its part of the batch
    (lowering/replicas.py)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value if replicas == 1 else value * (1.0 / replicas)


def attach_formula(model, src: str, jit_compile: bool = False, check_numerics: bool = False,
                   constants: dict | None = None) -> FormulaModel:
    """See :func:`lossdsl.attach`."""
    wrapped = FormulaModel(model, src, jit_compile_formula=jit_compile, check_numerics=check_numerics,
                           constants=constants, name=f"{model.name}_with_formula")
    if getattr(model, "inputs", None):
        wrapped.build(model.inputs[0].shape if len(model.inputs) == 1 else [i.shape for i in model.inputs])
    return wrapped
