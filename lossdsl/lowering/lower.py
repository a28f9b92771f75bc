"""Lowering: a checked formula -> a pure TensorFlow function of its inputs (SPEC §3.1).

:func:`lower` plans the formula's program (:mod:`.program`: one step per distinct node, without
TensorFlow) and makes it callable: a :class:`LoweredFormula`.

Calling the :class:`LoweredFormula` runs the steps on the tensors it is given (variable reads,
targets, parameter values) without copying them, so it traces into ``tf.function`` (also with
``jit_compile=True``) and records on a ``tf.GradientTape``. It computes in float64 if an input is
float64, else in float32; other inputs (float16, bfloat16, integers) are cast to that dtype.
"""

from __future__ import annotations

from typing import Callable, Mapping

import keras
import sympy
import tensorflow as tf

from ..language.diagnostics import Diagnostic
from ..language.errors import LossError
from ..language.formula import Formula
from ..language.kinds.random_draws import RandomDraw
from .deferred import bound
from .differentiation import Differentiation, gradients
from .program import Program, Step, plan
from .replicas import across_replicas


class LoweredFormula:
    """The formula as a pure function of its inputs: ``lowered(env)`` -> {term name: value, "": loss}.

    ``env`` maps reference texts ("L0.kernel", "y_true", "`dense-1`.kernel") and parameter names to
    tensors. ``ops`` lists the TensorFlow ops, one per computed node, in evaluation order;
    ``over_batch`` names the steps that reduce over the batch (global under a distribution strategy).
    """

    def __init__(self, formula: Formula, program: Program, check_numerics: bool = False, seed_generator=None):
        self.formula = formula
        steps = program.steps
        #: grad(f, x): the targets of each differentiated step, by its index (empty without grad)
        self.gradient_groups = program.gradient_groups
        self.history = program.history  # the text of each history value -> its step: returned under that key
        # The random draws' generator: the term layer's, so that it is tracked and saved; else the formula's own.
        if seed_generator is None and any(step.seeded for step in steps):
            seed_generator = keras.random.SeedGenerator()
        self.seed_generator = seed_generator
        self.program = program
        self.steps = steps
        self.outputs = program.outputs
        self.calls = [_callable(step) for step in steps]  # TensorFlow's own functions, looked up once here
        self.check_numerics = check_numerics
        self.checks = self.numerics_messages() if check_numerics else None  # (value, gradient) message a step
        self.inputs, self.ops, self.over_batch = program.inputs, program.ops, program.over_batch

    @property
    def differentiates(self) -> tuple[str, ...]:
        """The text of every ``grad`` target, in order of use."""
        return tuple(dict.fromkeys(t for group in self.gradient_groups.values() for t in group.targets))

    # Straight-line code: AutoGraph (a caller's tf.function) has nothing to convert, and converting
    # the program and the ops it calls took ~2 s of the first trace.
    @tf.autograph.experimental.do_not_convert
    def __call__(self, env: Mapping[str, tf.Tensor], differentiation: Differentiation | None = None
                 ) -> dict[str, tf.Tensor]:
        """The values; ``differentiation`` is the tape (recording) a ``grad`` is taken on: without it, a program
        with ``grad`` records its own steps on a tape of its own (``grad(norm(W)**2, W)``)."""
        missing = [name for name in self.inputs if env.get(name) is None]
        if missing:
            raise LossError([self.missing(name) for name in missing], self.formula.source)
        if self.gradient_groups and differentiation is None:
            with tf.GradientTape(persistent=True) as tape:
                return self.run(env, Differentiation(tape))
        return self.run(env, differentiation)

    def run(self, env: Mapping[str, tf.Tensor], differentiation: Differentiation | None) -> dict[str, tf.Tensor]:
        # A variable is read once per call (never copied); every use of it sees that read.
        given = {name: tf.convert_to_tensor(env[name]) for name in self.inputs}
        sources = {}
        if differentiation is not None:
            for text in self.differentiates:
                source = sources[text] = differentiation.sources.get(text, given[text])
                if source.dtype.is_floating and not (isinstance(source, tf.Variable) and source.trainable):
                    differentiation.tape.watch(source)  # a trainable variable is watched already
        dtype = tf.float64 if any(value.dtype == tf.float64 for value in given.values()) else tf.float32
        values, taken = [], {}
        for index, (step, call) in enumerate(zip(self.steps, self.calls)):
            if step.seeded:
                value = call(self.seed_generator, dtype, *(values[i] for i in step.inputs))
            elif step.reads:
                value = given[step.reads]
                value = value if value.dtype == dtype else tf.cast(value, dtype)
            elif not step.inputs:  # a constant (inf included) or an op of the dtype alone (eye): nothing to check
                values.append(tf.constant(step.value, dtype) if call is None else call(dtype))
                continue
            elif step.differentiates:
                f = step.inputs[0]
                if f not in taken:  # every gradient of f at its first use: one backward pass
                    group = self.gradient_groups[f]
                    found = gradients(differentiation.tape, values[f], [sources[t] for t in group.targets], group,
                                      dtype)
                    taken[f] = dict(zip(group.targets, found))
                value = taken[f][step.differentiates]
            else:
                value = call(*(values[i] for i in step.inputs))
            if self.check_numerics and value.dtype.is_floating:
                # Later steps use the checked value, so the first step to go wrong is the one named.
                value = _checked(value, *self.checks[index])
            values.append(value)
        result = {name: values[index] for name, index in self.outputs.items()}
        result.update((text, values[index]) for text, index in self.history.items())
        return result

    def numerics_messages(self) -> list[tuple[str, str]]:
        """For each step, how a check_numerics error names it: its value, then its gradient (and whence it came)."""
        names = {index: name for name, index in self.outputs.items() if name}
        names[self.outputs[""]] = ""
        shown = [self.what(step, names.get(index)) for index, step in enumerate(self.steps)]
        users: list[list[str]] = [[] for _ in self.steps]
        for index, step in enumerate(self.steps):
            for used in dict.fromkeys(step.inputs):
                users[used].append(shown[index])
        return [(f"lossdsl check_numerics: {shown[i]} has NaN or Inf values",
                 f"lossdsl check_numerics: the gradient of the loss with respect to {shown[i]} has NaN or Inf "
                 f"values, coming back from {' or '.join(users[i]) or 'the loss'}") for i in range(len(self.steps))]

    def what(self, step: Step, output: str | None) -> str:
        """"the input 'x'", "term 'reg' = tf.math.log(x)", "step t3 = tf.sqrt(y)" or "the loss = t + t3"."""
        if step.reads:
            return f"the input '{step.reads}'"
        what = "the loss" if output == "" else f"term '{output}'" if output else f"step {step.name}"
        return f"{what} = {self.program.shown(step)}" if step.text else what

    def missing(self, name: str) -> Diagnostic:
        reference = self.formula.references.get(name)
        if reference is None:
            return Diagnostic("E215", f"no value was given for parameter '{name}'", self.formula.params[name].span)
        hint = "pass the batch: term(y_true, y_pred)" if reference.is_target else None
        return Diagnostic("E215", f"no value was given for '{name}'", reference.span, hint)

    def __repr__(self) -> str:
        return "LoweredFormula(\n  " + "\n  ".join(self.ops) + "\n)"


def _callable(step: Step) -> Callable | None:
    """What running a step calls: its op, in its global form where it reduces over the batch."""
    fn = bound(step.fn)
    return across_replicas(fn, bound(step.across)) if step.over_batch else fn


def _checked(value: tf.Tensor, message: str, gradient_message: str) -> tf.Tensor:
    """``value``, with its value and its gradient checked for NaN and Inf (each with its own message)."""
    @tf.custom_gradient
    def check(x):
        return tf.debugging.check_numerics(x, message), lambda upstream: tf.debugging.check_numerics(
            upstream, gradient_message)
    return check(value)


def draws_random(formula: Formula) -> bool:
    """Whether the formula draws random tensors (its term layer then owns a SeedGenerator)."""
    return any(isinstance(node, RandomDraw) for expr in (formula.expr, *formula.terms.values())
               for node in sympy.preorder_traversal(expr))


def lower(formula: Formula, check_numerics: bool = False, node_shapes: Mapping | None = None,
          seed_generator=None) -> LoweredFormula:
    """The formula as a TensorFlow function; LossError at once for any node with no TensorFlow op.

    Given ``node_shapes`` (``Analysis.node_shapes``), every reduction over the batch is computed over
    the global batch when traced by several replicas of a distribution strategy (:mod:`.replicas`).

    With ``check_numerics``, every input and computed step is checked for NaN and Inf, its gradient
    too (``tf.debugging.check_numerics``): the first one found raises ``tf.errors.InvalidArgumentError``
    whose message names it ("term 'reg' = ...", "the loss = ...", "step t2 = ...", "the input 'y_pred'").
    Random draws come from ``seed_generator`` (a ``keras.random.SeedGenerator``), or from one of its own.

    >>> import lossdsl, tensorflow as tf
    >>> lowered = lower(lossdsl.parse("reg = norm(L0.kernel)\\n2 * reg"))
    >>> lowered.ops
    ['reg = euclidean_norm(L0.kernel)', 'loss = 2 * reg']
    >>> float(lowered({"L0.kernel": tf.constant([3.0, 4.0])})[""])
    10.0
    """
    return LoweredFormula(formula, plan(formula, node_shapes), check_numerics, seed_generator)
