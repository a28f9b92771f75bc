"""The user's model with the formula as (part of) its loss: what attach() returns (SPEC §3.2).

The wrapper adds the formula's value in ``compute_loss``, where ``y_true`` and ``y_pred`` are at hand, scaled
per replica like Keras scales its own losses, and logs the scalar terms and parameters.
"""

from __future__ import annotations

import threading

import keras
import tensorflow as tf

from ..analysis.shapes import is_scalar
from ..language.errors import LossError
from .gradient_pass import pass_tape, without_gradient_pass
from .logs import FormulaLogs, log_names, logged_params
from ..lowering.replicas import scale_for_replicas
from ..language.builder import EDITION
from .saved_config import checked_options, checked_places, quoted, required_fields
from .term import FormulaTerm


@keras.saving.register_keras_serializable(package="lossdsl")
class FormulaModel(keras.Model):
    """``model`` with the formula as (part of) its loss; saved and loaded with the formula and parameters."""

    def __init__(self, model, formula: str, jit_compile_formula: bool = False, check_numerics: bool = False,
                 places: dict | None = None, constants: dict | None = None, tensor_shapes: dict | None = None,
                 log_params=None, edition: int = EDITION, **kwargs):
        checked_options("the model with a formula", formula=formula, jit_compile_formula=jit_compile_formula,
                        check_numerics=check_numerics, edition=edition)
        places = checked_places(places)
        super().__init__(**kwargs)
        self.inner = model
        self.term = FormulaTerm(formula, jit_compile=jit_compile_formula, check_numerics=check_numerics,
                                constants=constants, tensor_shapes=tensor_shapes, edition=edition, name="formula")
        self.term.bind(model, places)
        # Scalar terms are logged (SPEC 2): the mean of a tensor term (W.T @ W - I) says little and costs a step.
        # Scalar parameters (SPEC §5.4): up to MAX_LOGGED_PARAMS unless log_params asks for others (logs.py).
        names = [name for name, shape in self.term.term_shapes.items() if name and is_scalar(shape)]
        self.log_params = log_params
        self._logged_params = logged_params(self.term.formula, log_params)
        self.logged_names = log_names(names + self._logged_params)  # name in the formula -> name in the logs
        self.formula_logs = FormulaLogs(self.logged_names, name="formula_logs") if self.logged_names else None
        # The last forward pass of each thread with its activations: a MirroredStrategy replica runs in its
        # own thread, and compute_loss checks it gets that pass's very y_pred, so no replica reads another's.
        # One entry per thread: model(x) called in a loop keeps nothing more alive.
        object.__setattr__(self, "_passes", {})

    def call(self, inputs, training=None):
        if not self.term.reads_pass:
            return self.inner(inputs, training=training)
        tape = pass_tape(self.term)  # grad through the pass: recorded, the tape left at once (gradient_pass)
        y_pred, values = self.term.forward_pass(self.inner, inputs, training, tape=tape)
        self._passes[threading.get_ident()] = (keras.tree.flatten(y_pred)[0], values, tape)
        return y_pred

    def predict_step(self, data):
        with without_gradient_pass():  # no gradient of a prediction is taken: no tape
            return super().predict_step(data)

    def kept_pass(self, x, y_pred, training) -> tuple:
        """(y_pred, activations, tape) of the pass that gave ``y_pred``; one more pass on ``x`` if it was not
        ours (then its own y_pred: a gradient through the pass needs the y_pred the tape recorded)."""
        if not self.term.reads_pass:
            return y_pred, None, None
        kept = self._passes.get(threading.get_ident())
        if kept is not None and kept[0] is keras.tree.flatten(y_pred)[0]:
            if kept[2] is not None:  # the tape is used once: nothing keeps the pass's recording alive after
                self._passes[threading.get_ident()] = kept[:2] + (None,)
                return y_pred, kept[1], kept[2]
            if not self.term.differentiates_pass:
                return y_pred, kept[1], None
        tape = pass_tape(self.term)
        again, values = self.term.forward_pass(self.inner, x, training, tape=tape)
        return (again if tape is not None else y_pred), values, tape

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        y_pred, forward, tape = self.kept_pass(x, y_pred, training)
        # fit()'s step is the optimizer's count: the one Keras saves, restores and replays on resume.
        # (A custom loop may call compute_loss on a model never compiled: then the term counts its own steps.)
        optimizer = getattr(self, "optimizer", None) if training and self.term.state.kept else None
        step = None if optimizer is None else optimizer.iterations
        # The parameters logged are the values this step's loss read (one read, before the update).
        values = self.term.evaluate(y, y_pred, forward, tape=tape, training=bool(training), step=step,
                                    parameters=bool(self._logged_params))
        if self.formula_logs is not None:
            self.formula_logs.update_state(values)
        if not self.term.uses_targets and self._compile_loss is not None:
            # No data term in the formula: it is added to the loss given to compile() (and Keras adds
            # the layers' own regularization losses there, already scaled per replica).
            return scale_for_replicas(values[""]) + super().compute_loss(x, y, y_pred, sample_weight, training)
        total = values[""]
        for loss in self.losses:  # regularizers of the model's own layers still count
            total += tf.cast(tf.reduce_sum(loss), total.dtype)
        return scale_for_replicas(total)

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
                "tensor_shapes": self.term.tensor_shapes, "log_params": self.log_params, "edition": self.term.edition,
                "name": self.name}

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




def attach_formula(model, src: str, jit_compile: bool = False, check_numerics: bool = False,
                   constants: dict | None = None, log_params=None) -> FormulaModel:
    """See :func:`lossdsl.attach`."""
    wrapped = FormulaModel(model, src, jit_compile_formula=jit_compile, check_numerics=check_numerics,
                           constants=constants, log_params=log_params, name=f"{model.name}_with_formula")
    if getattr(model, "inputs", None):
        wrapped.build(model.inputs[0].shape if len(model.inputs) == 1 else [i.shape for i in model.inputs])
    return wrapped
