"""Keras 3 integration: the formula as a layer owning its parameters, and attach() for fit().

Design (SPEC §3.2): the wrapper model owns the new parameters (``add_weight``) and adds the formula's
value in ``compute_loss``, where ``y_true`` and ``y_pred`` are at hand, scaled per replica like Keras
scales its own losses. Every variable read goes through :func:`read_before_update`, so the optimizer
can never update a variable before the formula has read it.
"""

from __future__ import annotations

try:
    import keras
    import tensorflow as tf
except ImportError as error:  # lint, explain and check stay usable without the backend
    raise ImportError('lossdsl.keras needs TensorFlow with Keras 3, which is an extra: pip install "lossdsl[tensorflow]"'
                      f" ({error})") from error

from .lowering import lower as lowering
from .lowering.gradients import CustomGradient
from .analysis.checks import Analysis, analyze
from .analysis.places import Place, places_from_config, places_in
from .language.grouped import render_grouped
from .language.errors import LossError, warn
from .language.frontend import parse
from .lowering.parameters import constrain, unconstrain
from .analysis.shapes import is_scalar
from .language.source import Source


def _gradient_after_read(value, _read, upstream):
    with tf.control_dependencies([value]):
        return tf.identity(upstream)


_READ_BEFORE_UPDATE = CustomGradient("LossdslReadBeforeUpdate", _gradient_after_read)


def read_before_update(value):
    """Identity whose gradient depends on the read itself.

    Without it, when a variable's own gradient does not depend on its value (``a * norm(W)``), the
    TensorFlow runtime may run the optimizer's update of ``a`` before the forward read of ``a``
    (SPEC §3.2: 2-12 runs in 40). The control dependency orders the read before any update. (One
    gradient registered once: ``tf.custom_gradient`` registered one per read per trace, and kept them.)
    """
    return _READ_BEFORE_UPDATE(tf.identity, value)


@keras.saving.register_keras_serializable(package="lossdsl")
class FormulaTerm(keras.layers.Layer):
    """A formula over a model's variables, as a layer owning the formula's parameters.

    >>> term = lossdsl.compile("a * norm(L1.kernel) where a: positive = 0.5", model)  # doctest: +SKIP
    >>> float(term())                                                                # doctest: +SKIP
    """

    def __init__(self, formula: str, jit_compile: bool = False, check_numerics: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.source = formula
        self.formula = parse(formula)
        if jit_compile and check_numerics:
            raise ValueError("check_numerics needs jit_compile=False: XLA compiles tf.debugging.check_numerics out")
        self.jit_compile = jit_compile
        self.check_numerics = check_numerics
        # XLA compiles tf.debugging.check_numerics out: a model holding this layer then trains without XLA
        # (Keras' compile(jit_compile="auto") picks XLA on a GPU; jit_compile=True warns and falls back).
        self.supports_jit = not check_numerics
        self._raw = {}
        for param in self.formula.params.values():
            self._raw[param.name] = self.add_weight(
                name=param.name, shape=(), trainable=param.trainable, autocast=False, dtype="float32",
                initializer=keras.initializers.Constant(unconstrain(param, param.init)))
        self.built = True
        self.analysis: Analysis | None = None  # set by bind(): the references and shapes found in the model
        self._kept_places: dict[str, Place] = {}
        self._lowered = None
        self._function = None

    # ----------------------------------------------------------------- binding
    def bind(self, model, places: dict[str, Place] | None = None) -> FormulaTerm:
        """Resolve the formula's references against ``model`` and lower it; raise LossError if it cannot be.

        ``places`` (saved with the formula) is where each reference was found when it was saved: a name a
        reload has changed is found there again, with one warning naming the renamed layers.
        """
        analysis = analyze(self.source, model=model, places=places)
        analysis.raise_for_errors()
        # Warnings do not stop training, but they are said once, with the fix: one warning per code, so 100
        # unconstrained weights make one W401 naming each, not 100 warnings.
        # Notes (I4xx) are for lint and explain, not for every training run.
        shown = [finding for finding in analysis.diagnostics if not finding.is_note]
        for text in render_grouped(shown, Source(self.source, "<formula>")):
            warn(text)
        moved = {text: found for text, found in analysis.resolved.items() if found.renamed}
        if moved:
            warn(_renamed_message(moved))
        # A reference found by its place keeps the place it was saved with: saved again, it is found again.
        self._kept_places = {text: places[text] for text in moved}
        self.analysis = analysis
        self._lowered = lowering.lower(analysis.lowerable, check_numerics=self.check_numerics)
        # autograph=False: the lowered program has no Python control flow on tensors, and converting it
        # (and everything it calls) took ~1.7 s of the first call.
        self._function = tf.function(self._evaluate, jit_compile=self.jit_compile, reduce_retracing=True,
                                     autograph=False)
        return self

    def places(self, model) -> dict[str, Place]:
        """Where each variable the formula reads sits in ``model``'s structure (saved with the model)."""
        found = places_in(model)
        places = {text: found[id(resolved.variable)] for text, resolved in self.analysis.resolved.items()
                  if resolved.variable is not None and id(resolved.variable) in found}
        return {**places, **self._kept_places}

    @property
    def term_shapes(self) -> dict[str, tuple | None]:
        """The static shape of each named term and of the loss (key ``""``), from the bound model."""
        return self.analysis.shapes

    @property
    def uses_targets(self) -> bool:
        return any(ref.is_target for ref in self.formula.references.values())

    @property
    def lowered(self):
        return self._lowered

    # -------------------------------------------------------------- evaluation
    def call(self, y_true=None, y_pred=None):
        return self.evaluate(y_true, y_pred)[""]

    def evaluate(self, y_true=None, y_pred=None) -> dict:
        """The loss (key ``""``) and every named term, for one batch: how to read the named terms of a
        formula that uses the targets (``term.terms`` has no batch to read them from).

        >>> values = model.term.evaluate(y, model(x))  # doctest: +SKIP
        >>> float(values[""]), float(values["data"])   # doctest: +SKIP
        """
        if self._lowered is None:
            raise LossError([], self.source, "this term is not bound to a model yet: call bind(model) first")
        if tf.inside_function():
            return self._evaluate(y_true, y_pred)
        return self._function(y_true, y_pred)

    def _evaluate(self, y_true, y_pred) -> dict:
        env = {name: constrain(self.formula.params[name], read_before_update(raw.value))
               for name, raw in self._raw.items()}
        for text, resolved in self.analysis.resolved.items():
            if resolved.members:
                continue  # a pattern: its members are entries of their own
            if resolved.variable is not None:
                env[text] = read_before_update(resolved.variable.value)
            else:
                env[text] = _select_output(y_pred if text.startswith("y_pred") else y_true, resolved)
        return self._lowered(env)

    @property
    def terms(self) -> dict:
        """The named terms' current values, for a formula without ``y_true``/``y_pred`` (for one with
        them, ``evaluate(y_true, y_pred)`` gives every named term for a batch)."""
        if self.uses_targets:
            raise LossError([], self.source, "this formula uses y_true/y_pred, so its terms need a batch: "
                                             "term.evaluate(y_true, y_pred) returns every named term and the loss")
        values = self.evaluate()
        return {name: value for name, value in values.items() if name}

    # -------------------------------------------------------------- parameters
    @property
    def params(self) -> dict[str, float]:
        """Every parameter's constrained value by name."""
        return {name: float(self.param_value(name)) for name in self._raw}

    def param_value(self, name: str) -> tf.Tensor:
        return constrain(self.formula.params[name], tf.convert_to_tensor(self._raw[name].value))

    def set_param(self, name: str, value: float) -> None:
        """Set a parameter by its constrained value."""
        self._raw[name].assign(unconstrain(self.formula.params[name], value))

    def get_config(self):
        return {**super().get_config(), "formula": self.source, "jit_compile": self.jit_compile,
                "check_numerics": self.check_numerics}

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        # tf.train.Checkpoint follows attributes, not dicts: name each raw parameter variable for it.
        # (.keras and .weights.h5 files use layer.weights and need no help.)
        children = super()._trackable_children(save_type, **kwargs)
        return {**children, **{f"parameter_{name}": raw for name, raw in self._raw.items()}}


def _renamed_message(moved: dict) -> str:
    """One warning for every reference found at its saved place because a layer it names was renamed."""
    pairs = dict.fromkeys(pair for found in moved.values() for pair in found.renamed)
    renamed = "; ".join(f"'{old}' is now '{new}'" for old, new in pairs)
    return (f"the loaded model renamed layers the saved formula names ({renamed}): "
            f"{', '.join(moved)} {'is' if len(moved) == 1 else 'are'} read where "
            f"{'it was' if len(moved) == 1 else 'they were'} when the formula was saved (same place in the model, "
            "same shape). Keras forgets the name of a subclassed layer or model whose __init__ takes neither "
            "name nor **kwargs: pass **kwargs on to super().__init__() (or define get_config) to keep it")


def _select_output(value, resolved):
    """One output of a multi-output model's targets or predictions (a dict by name, or a list)."""
    if resolved.output_index is None or value is None:
        return value
    if isinstance(value, dict):
        name = resolved.reference.path[-1]
        if name in value:
            return value[name]
    return keras.tree.flatten(value)[resolved.output_index]  # model.outputs order: dict keys sorted


@keras.saving.register_keras_serializable(package="lossdsl")
class FormulaModel(keras.Model):
    """``model`` with the formula as (part of) its loss; saved and loaded with the formula and parameters."""

    def __init__(self, model, formula: str, jit_compile_formula: bool = False, check_numerics: bool = False,
                 places: dict | None = None, **kwargs):
        places = _checked_places(places)
        super().__init__(**kwargs)
        self.inner = model
        self.term = FormulaTerm(formula, jit_compile=jit_compile_formula, check_numerics=check_numerics,
                                name="formula")
        self.term.bind(model, places)
        # Scalar terms are logged (SPEC 2): the mean of a tensor term (W.T @ W - I) says little and costs a step.
        names = [name for name, shape in self.term.term_shapes.items() if name and is_scalar(shape)]
        names += list(self.term.formula.params)
        self.formula_metrics = {name: keras.metrics.Mean(name=log) for name, log in _log_names(names).items()}

    def call(self, inputs, training=None):
        return self.inner(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        values = self.term.evaluate(y, y_pred)
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

    def get_config(self):
        return {"model": keras.saving.serialize_keras_object(self.inner), "formula": self.term.source,
                "jit_compile_formula": self.term.jit_compile, "check_numerics": self.term.check_numerics,
                "places": {text: place.as_config() for text, place in self.term.places(self.inner).items()},
                "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = keras.saving.deserialize_keras_object(config.pop("model"), custom_objects=custom_objects)
        return cls(inner, **config)


def _checked_places(saved) -> dict[str, Place] | None:
    """The saved ``places`` field as Places (``None``: a file saved before places were recorded)."""
    if saved is None:
        return None
    try:
        return places_from_config(saved)
    except ValueError as error:
        raise LossError([], "", f"the saved config of the model with a formula: field 'places': {error}") from None


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
    """Divide by the replica count: gradients are summed over replicas, so the term counts once."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return value if replicas == 1 else value * (1.0 / replicas)


def compile_term(src: str, model, jit_compile: bool = False, check_numerics: bool = False) -> FormulaTerm:
    """See :func:`lossdsl.compile`."""
    return FormulaTerm(src, jit_compile=jit_compile, check_numerics=check_numerics).bind(model)


def attach_formula(model, src: str, jit_compile: bool = False, check_numerics: bool = False) -> FormulaModel:
    """See :func:`lossdsl.attach`."""
    wrapped = FormulaModel(model, src, jit_compile_formula=jit_compile, check_numerics=check_numerics,
                           name=f"{model.name}_with_formula")
    if getattr(model, "inputs", None):
        wrapped.build(model.inputs[0].shape if len(model.inputs) == 1 else [i.shape for i in model.inputs])
    return wrapped
