"""The formula as a Keras layer: it owns the formula's parameters, constant tensors and snapshots, reads the
model's variables and activations, and evaluates the lowered formula (SPEC §3.2, §5.1-5.4)."""

from __future__ import annotations

import contextlib

import keras
import numpy
import tensorflow as tf

from ..analysis.checks import Analysis, analyze
from ..analysis.constants import as_arrays
from ..analysis.forward_pass import recording
from ..analysis.places import Place, places_in
from ..language.errors import LossError, warn
from ..language.formula import SNAPSHOT
from ..language.builder import EDITION
from ..language.frontend import parse
from ..language.grouped import render_grouped
from ..language.source import Source
from ..lowering import lower as lowering
from ..lowering.replicas import scale_for_replicas
from .gradient_pass import differentiates_pass, differentiation, evaluate_through_pass, watched
from .packing import ParameterWeights
from .reads import read_before_update
from .saved_config import checked_options, renamed_message
from .state import TrainingState
from .term_saving import TermSaving


@keras.saving.register_keras_serializable(package="lossdsl")
class FormulaTerm(TermSaving, keras.layers.Layer):
    """A formula over a model's variables, as a layer owning the formula's parameters.

    >>> term = lossdsl.compile("a * norm(L1.kernel) where a: positive = 0.5", model)  # doctest: +SKIP
    >>> float(term())                                                                # doctest: +SKIP
    """

    def __init__(self, formula: str, jit_compile: bool = False, check_numerics: bool = False,
                 constants: dict | None = None, tensor_shapes: dict | None = None, edition: int = EDITION, **kwargs):
        checked_options("the formula term", formula=formula, jit_compile=jit_compile, check_numerics=check_numerics,
                        edition=edition)
        super().__init__(**kwargs)
        self.source = formula
        self.edition = edition  # a first-edition formula keeps its meaning: names reserved since are its own
        self.formula = parse(formula, edition)
        if jit_compile and check_numerics:
            raise ValueError("check_numerics needs jit_compile=False: XLA compiles tf.debugging.check_numerics out")
        self.jit_compile = jit_compile
        self.check_numerics = check_numerics
        # XLA compiles tf.debugging.check_numerics out: a model holding this layer then trains without XLA
        # (Keras' compile(jit_compile="auto") picks XLA on a GPU; jit_compile=True warns and falls back).
        self.supports_jit = not check_numerics
        self._given = as_arrays(constants) if constants is not None else {}
        # Trainable scalars share one vector variable (packing.py); tensor-valued and const parameters
        # are one variable each.
        self._parameters = ParameterWeights(self, self.formula.params, self._given)
        # Constant tensors and snapshots are non-trainable weights: saved with the model, never trained.
        self._tensors = {}
        for name in self.formula.tensors:
            shape = self._given[name].shape if name in self._given else (tensor_shapes or {}).get(name)
            if shape is not None:  # not given: bind() says so
                self._tensors[name] = self._constant_weight(name, shape)
                if name in self._given:
                    self._tensors[name].assign(self._given[name])
        # The weights hold the given tensors now: the arrays (a Fisher diagonal is as large as the weights)
        # are not kept; what is left (initial values, names not declared) is checked by bind().
        self._given = {name: array for name, array in self._given.items() if name not in self._tensors}
        self._snapshots = {}
        # step, epoch and the named terms' history (state.py): non-trainable weights, updated by training steps.
        self._state = TrainingState(self, self.formula)
        # Random draws (normal(6, 1)) come from a generator the layer owns: seeded by keras.utils.set_random_seed
        # when the layer is made, and saved with it.
        self.seed_generator = keras.random.SeedGenerator() if lowering.draws_random(self.formula) else None
        self.built = True
        self.analysis: Analysis | None = None  # set by bind(): the references and shapes found in the model
        self._kept_places: dict[str, Place] = {}
        self._lowered = None
        self._function = None
        # training -> a tf.function of one forward pass and the evaluation (gradient_pass); not tracked
        object.__setattr__(self, "pass_functions", {})
        self.differentiates_pass = False  # a grad goes back through the forward pass (set by bind)
        # What bind() finds: the references read from the forward pass (activations, inputs), by text, and
        # whether the formula needs the pass at all (those, or a grad through it). Not tracked by Keras.
        object.__setattr__(self, "forward_references", {})
        object.__setattr__(self, "reads_pass", False)

    # ----------------------------------------------------------------- binding
    def bind(self, model, places: dict[str, Place] | None = None) -> FormulaTerm:
        """Resolve the formula's references against ``model`` and lower it; raise LossError if it cannot be.

        ``places`` (saved with the formula) is where each reference was found when it was saved: a name a
        reload has changed is found there again, with one warning naming the renamed layers.
        """
        # The weights stand for the tensors given (their values are not needed, only their shapes).
        stand_ins = {name: numpy.broadcast_to(numpy.float32(0), weight.shape) for name, weight in self._tensors.items()}
        analysis = analyze(self.source, model=model, places=places, constants={**stand_ins, **self._given},
                           edition=self.edition)
        analysis.raise_for_errors()
        # Warnings do not stop training, but they are said once, with the fix: one warning per code, so 100
        # unconstrained weights make one W401 naming each, not 100 warnings.
        # Notes (I4xx) are for lint and explain, not for every training run.
        shown = [finding for finding in analysis.diagnostics if not finding.is_note]
        for text in render_grouped(shown, Source(self.source, "<formula>")):
            warn(text)
        moved = {text: found for text, found in analysis.resolved.items() if found.renamed}
        if moved:
            warn(renamed_message(moved))
        # A reference found by its place keeps the place it was saved with: saved again, it is found again.
        self._kept_places = {text: places[text] for text in moved}
        self.analysis = analysis
        self.take_snapshots()
        object.__setattr__(self, "_model", model)  # not tracked: the term must not own the model's weights
        self._lowered = lowering.lower(analysis.lowerable, check_numerics=self.check_numerics,
                                       node_shapes=analysis.node_shapes, seed_generator=self.seed_generator)
        # autograph=False: the lowered program has no Python control flow on tensors, and converting it
        # (and everything it calls) took ~1.7 s of the first call.
        self._function = tf.function(self._evaluate, jit_compile=self.jit_compile, reduce_retracing=True,
                                     autograph=False)
        self.pass_functions.clear()
        self.differentiates_pass = differentiates_pass(self)
        object.__setattr__(self, "forward_references", {text: r for text, r in analysis.resolved.items()
                                                         if r.reference.needs_forward_pass})
        object.__setattr__(self, "reads_pass", bool(self.forward_references) or self.differentiates_pass)
        return self

    def places(self, model) -> dict[str, Place]:
        """Where each variable the formula reads sits in ``model``'s structure (saved with the model)."""
        found = places_in(model)
        places = {text: found[id(resolved.variable)] for text, resolved in self.analysis.resolved.items()
                  if resolved.variable is not None and id(resolved.variable) in found}
        return {**places, **self._kept_places}

    def _constant_weight(self, name: str, shape) -> keras.Variable:
        return self.add_weight(name=name, shape=tuple(shape), trainable=False, autocast=False, dtype="float32",
                               initializer="zeros")

    def take_snapshots(self) -> None:
        """Copy each variable written ``initial(W)`` into its snapshot weight: the value it has now.

        A model being loaded is bound before its weights are read, so the saved snapshots replace these.
        """
        for text, resolved in self.analysis.resolved.items():
            if resolved.reference.role == SNAPSHOT and not resolved.members:
                if text not in self._snapshots:
                    name = "".join(c if c.isalnum() else "_" for c in text).strip("_")
                    self._snapshots[text] = self._constant_weight(name, resolved.shape)
                self._snapshots[text].assign(tf.cast(resolved.variable.value, "float32"))

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
    def __call__(self, *args, inputs=None, **kwargs):
        # Said before Keras' __call__, which re-creates an exception from its message (LossError has more).
        if inputs is None and self.reads_pass:
            raise LossError([], self.source, _NEEDS_INPUTS)
        return super().__call__(*args, inputs=inputs, **kwargs)

    def call(self, y_true=None, y_pred=None, inputs=None, training=False):
        if inputs is not None and self.differentiates_pass:  # SPEC 5.7: the pass and the formula on one tape
            return evaluate_through_pass(self, y_true, inputs, training)
        if inputs is not None:  # SPEC 5.1: one forward pass gives y_pred and every activation
            y_pred, forward = self.forward_pass(self._model, inputs, training)
            return self.evaluate(y_true, y_pred, forward, training=bool(training))[""]
        return self.evaluate(y_true, y_pred, training=bool(training))[""]

    def per_replica(self, *args, **kwargs):
        """``self(*args, **kwargs)`` divided by the replica count: the loss one replica differentiates in a
        custom loop under a distribution strategy (``tf.nn.scale_regularization_loss``'s rule; the term
        unchanged outside one). The optimizer sums the replicas' gradients, so the term counts once, and its
        reductions over the batch are already global (docs/distribution.md).

        >>> loss = term.per_replica(y, model(x, training=True))  # inside strategy.run  # doctest: +SKIP
        """
        return scale_for_replicas(self(*args, **kwargs))

    def forward_pass(self, model, inputs, training=None, tape: tf.GradientTape | None = None) -> tuple:
        """``model(inputs)`` with the activations the formula names kept: (y_pred, {text: tensor}).

        Given a ``tape`` (``gradient_pass``), the pass runs inside it, the inputs watched, and leaves it."""
        wanted = self.forward_references
        with recording([r.layer for r in wanted.values() if r.layer is not None]) as recorder, \
                tape if tape is not None else contextlib.nullcontext():
            if tape is not None:
                inputs = watched(inputs, tape)
            y_pred = model(inputs, training=training)  # a shared layer raises SharedLayerCall here
        values = {text: _select_output(inputs, r) if r.layer is None else recorder.value(r.layer, r.variable_name)
                  for text, r in wanted.items()}
        return y_pred, values

    def evaluate(self, y_true=None, y_pred=None, forward=None, tape: tf.GradientTape | None = None,
                 training: bool = False, step=None, parameters: bool = False) -> dict:
        """The loss (key ``""``) and every named term, for one batch: how to read the named terms of a
        formula that uses the targets (``term.terms`` has no batch to read them from). With ``parameters``,
        also every parameter's constrained value, from the same read the loss used.

        ``training=True`` counts a training step: ``step`` and the terms' history move on (SPEC §5.5-5.6).
        ``step`` is the count of steps before this one when the caller keeps it (fit(): the optimizer's).

        >>> values = model.term.evaluate(y, model(x))  # doctest: +SKIP
        >>> float(values[""]), float(values["data"])   # doctest: +SKIP
        """
        if self._lowered is None:
            raise LossError([], self.source, "this term is not bound to a model yet: call bind(model) first")
        if (self.forward_references and forward is None) or (self.differentiates_pass and tape is None):
            raise LossError([], self.source, _NEEDS_INPUTS)
        if tf.inside_function() or tape is not None:
            return self._evaluate(y_true, y_pred, forward, tape, training, step, parameters)
        return self._function(y_true, y_pred, forward, None, training, step, parameters)

    def end_epoch(self) -> None:
        """Close an epoch in a custom training loop (fit() does it itself): ``epoch`` counts one more,
        ``previous(L)`` moves one epoch back and ``epoch_start(L)`` starts again (SPEC §5.5)."""
        self._state.end_epoch()

    @property
    def state(self) -> TrainingState:
        """The training state the formula reads (``step``, ``epoch``, history), as non-trainable weights."""
        return self._state

    def _evaluate(self, y_true, y_pred, forward=None, tape: tf.GradientTape | None = None, training=False, step=None,
                  parameters=False) -> dict:
        if not self._lowered.gradient_groups:
            env = self._env(y_true, y_pred, forward, step)
            values = self._lowered(env)
        else:
            # grad(f, x): the formula's reads and steps recorded on the pass's tape (re-entered), or on one of
            # its own when no gradient goes through the pass (grad(norm(W)**2, W)).
            tape = tape if tape is not None else tf.GradientTape(persistent=True)
            with tape:
                env = self._env(y_true, y_pred, forward, step)
                values = self._lowered(env, differentiation(self, tape, forward))
        history = {text: values.pop(text) for text in self._lowered.history}  # this step's history values
        if training:  # after the values are read: this step's history holds this step's values
            self._state.after_training_step(values, history, step)
        # Parameter and term names never clash (E208).
        return {**values, **{name: env[name] for name in self.formula.params}} if parameters else values

    def _env(self, y_true, y_pred, forward, step=None) -> dict:
        """What the lowered formula reads: parameters, constant tensors, snapshots, variables, the batch, state."""
        # One protected read of the packed vector serves every scalar parameter.
        env = self._parameters.read(read_before_update)
        env.update((name, weight.value) for name, weight in self._tensors.items())
        for text, resolved in self.analysis.resolved.items():
            if resolved.members:
                continue  # a pattern: its members are entries of their own
            if text in self._snapshots:
                env[text] = self._snapshots[text].value
            elif resolved.variable is not None:
                env[text] = read_before_update(resolved.variable.value)
            elif resolved.reference.needs_forward_pass:
                env[text] = forward[text]
            else:
                env[text] = _select_output(y_pred if text.startswith("y_pred") else y_true, resolved)
        env.update(self._state.env(step))
        return env

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
    def params(self) -> dict:
        """Every parameter's constrained value by name: a float, or a numpy array for a tensor-valued one."""
        return self._parameters.values()

    def param_value(self, name: str) -> tf.Tensor:
        """One parameter's constrained value, as a tensor of its shape."""
        return self._parameters.value(name)

    def set_param(self, name: str, value) -> None:
        """Set a parameter by its constrained value (an array of its shape for a tensor-valued one)."""
        self._parameters.set(name, value)

    @property
    def packed_parameters(self) -> keras.Variable | None:
        """The variable holding every trainable scalar parameter, raw, in declaration order (``None``
        without one); :attr:`params` gives their constrained values by name."""
        return self._parameters.packed.variable if self._parameters.packed else None


_NEEDS_INPUTS = ("this formula reads the forward pass (an activation or inputs, or a gradient through the model): "
                 "call term(y_true, inputs=x), which runs the model on x once")


def _select_output(value, resolved):
    """One output of a multi-output model's targets or predictions (a dict by name, or a list)."""
    if resolved.output_index is None or value is None:
        return value
    if isinstance(value, dict):
        name = resolved.reference.path[-1]
        if name in value:
            return value[name]
    return keras.tree.flatten(value)[resolved.output_index]  # model.outputs order: dict keys sorted


def compile_term(src: str, model, jit_compile: bool = False, check_numerics: bool = False,
                 constants: dict | None = None) -> FormulaTerm:
    """See :func:`lossdsl.compile`."""
    return FormulaTerm(src, jit_compile=jit_compile, check_numerics=check_numerics, constants=constants).bind(model)

