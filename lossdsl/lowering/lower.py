"""Lowering: a checked formula -> a pure TensorFlow function of its inputs (SPEC §3.1).

:func:`lower` walks the sympy tree once, lowering each node by its kind's ``lower`` facet (one
declaration per node kind: :mod:`lossdsl.language.kinds`), into a straight-line program with one step
per distinct node. Equal sympy
subtrees are equal keys of a memo, so a repeated subexpression is one step, and a named term is one
step however often the loss uses it. A node with no TensorFlow op fails in :func:`lower`, never when
the program runs.

Calling the :class:`LoweredFormula` runs the steps on the tensors it is given (variable reads,
targets, parameter values) without copying them, so it traces into ``tf.function`` (also with
``jit_compile=True``) and records on a ``tf.GradientTape``. It computes in float64 if an input is
float64, else in float32; other inputs (float16, bfloat16, integers) are cast to that dtype.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Mapping

import keras
import sympy
import tensorflow as tf

from ..language.diagnostics import Diagnostic
from ..language.errors import LossError
from ..language.findings import Finding
from ..language.formula import IDENTITY, STATE, Formula, term_symbol
from ..language.kinds import kind_of
from ..language.shape_algebra import BATCH, has_batch
from ..language.kinds.random_draws import RandomDraw
from ..language.kinds.collections import unresolved_pattern
from . import ops
from .ops import identity_without_partner
from .replicas import across_replicas


@dataclass
class Step:
    """One value of the program: an input read from the env, a constant, or an op on earlier steps."""

    name: str
    fn: Callable | None = None
    inputs: tuple[int, ...] = ()
    text: str | None = None  # None for inputs and constants, which are not ops
    reads: str | None = None  # the env key of an input
    over_batch: bool = False  # a reduction over the batch: global under a distribution strategy
    seeded: bool = False  # a random draw: fn(seed generator, dtype, *inputs)


class _Compiler:
    """Builds the steps of one formula; ``memo`` maps each sympy node to the step computing it.

    ``node_shapes`` maps nodes to their shapes with the batch dimension marked (``Analysis.node_shapes``):
    an op whose arguments hold the batch and whose value does not reduces over the batch, and takes its
    global form under a distribution strategy.
    """

    def __init__(self, formula: Formula, node_shapes: Mapping | None = None):
        self.formula = formula
        self.node_shapes = node_shapes or {}
        self.steps: list[Step] = []
        self.memo: dict = {}
        taken = {*formula.terms, *formula.params}
        self.prefix = "t" if not any(re.fullmatch(r"t\d+", name) for name in taken) else "_t"
        self.computed = 0

    def lower(self, node) -> int:
        """The index of the step computing ``node``, adding it (and its inputs) the first time."""
        if node not in self.memo:
            self.memo[node] = self.new_step(node)
        return self.memo[node]

    def new_step(self, node) -> int:
        if node.is_Symbol and is_history(self.formula.references.get(node.name)):
            # The stored value (NaN until it exists) falls back on the term's value in this step: computed here
            # from the term's own step, so that the program stays a pure function of its inputs.
            path = self.formula.references[node.name].path
            stored = self.add(Step(node.name, reads=node.name))
            term = self.memo[self.formula.term_symbol(path[1])]
            self.computed += 1
            return self.add(history_step(f"{self.prefix}{self.computed}", path, stored, term))
        if node.is_Symbol:
            return self.add(self.input(node))
        if node.is_Number or node.is_NumberSymbol:
            return self.add(self.constant(node))
        kind = kind_of(type(node))
        if kind is None:
            raise Finding("E201", f"'{type(node).__name__}' has no TensorFlow lowering",
                          "register it with lossdsl.register_function(name, tf_function)", node=node)
        made = kind.lower(node, ops)
        if isinstance(made, sympy.Basic):  # the rule rewrote the node into an equal one
            return self.lower(made)
        inputs = tuple(self.lower(arg) for arg in made.inputs)
        self.computed += 1
        over_batch = made.across is not None and self.reduces_over_batch(node, made.inputs)
        fn = across_replicas(made.fn, made.across) if over_batch else made.fn
        return self.add(Step(f"{self.prefix}{self.computed}", fn, inputs, made.text, over_batch=over_batch,
                             seeded=made.seeded))

    def reduces_over_batch(self, node, inputs) -> bool:
        """The inputs hold the batch and the value does not. A batch-by-batch input (``y_pred @ y_pred.T``)
        does not count: each replica holds only a diagonal block of it, so no sum of parts is its value."""
        shapes = [self.node_shapes.get(arg) for arg in inputs]
        if any(shape is not None and sum(d is BATCH for d in shape) > 1 for shape in shapes):
            return False
        return any(map(has_batch, shapes)) and self.node_shapes.get(node) is not None \
            and not has_batch(self.node_shapes[node])

    def input(self, symbol) -> Step:
        name = symbol.name
        if symbol == IDENTITY:
            raise identity_without_partner(symbol)
        reference = self.formula.references.get(name)
        if reference is not None and reference.pattern:
            raise unresolved_pattern(name, symbol)
        if name not in self.formula.references and name not in self.formula.params:
            raise Finding("E215", f"'{name}' is not a reference, a parameter or a named term", node=symbol)
        return Step(name, reads=name)

    @staticmethod
    def constant(number) -> Step:
        value = float(number)
        name = {sympy.pi: "pi", sympy.oo: "inf", -sympy.oo: "-inf"}.get(number, f"{value:g}")
        return Step(name, fn=lambda dtype: tf.constant(value, dtype))

    def add(self, step: Step) -> int:
        self.steps.append(step)
        return len(self.steps) - 1

    def name(self, index: int, name: str) -> None:
        """Show a computed step under a term's name (cosmetic: ``ops`` only)."""
        step = self.steps[index]
        if step.text is not None and re.fullmatch(re.escape(self.prefix) + r"\d+", step.name):
            step.name = name


class LoweredFormula:
    """The formula as a pure function of its inputs: ``lowered(env)`` -> {term name: value, "": loss}.

    ``env`` maps reference texts ("L0.kernel", "y_true", "`dense-1`.kernel") and parameter names to
    tensors. ``ops`` lists the TensorFlow ops, one per computed node, in evaluation order;
    ``over_batch`` names the steps that reduce over the batch (global under a distribution strategy).
    """

    def __init__(self, formula: Formula, steps: list[Step], outputs: dict[str, int], check_numerics: bool = False,
                 seed_generator=None, history: dict[str, int] | None = None):
        self.formula = formula
        self.history = history or {}  # the text of each history value -> its step: returned under that key
        # The random draws' generator: the term layer's, so that it is tracked and saved; else the formula's own.
        if seed_generator is None and any(step.seeded for step in steps):
            seed_generator = keras.random.SeedGenerator()
        self.seed_generator = seed_generator
        self.steps = steps
        self.outputs = outputs
        self.check_numerics = check_numerics
        self.checks = self.numerics_messages() if check_numerics else None  # (value, gradient) message a step
        self.inputs = list(dict.fromkeys(step.reads for step in steps if step.reads))  # in order of use
        self.ops = [f"{s.name} = {s.text.format(*(steps[i].name for i in s.inputs))}"
                    for s in steps if s.text is not None]
        self.over_batch = [step.name for step in steps if step.over_batch]
        loss = steps[outputs[""]].name
        if loss != "loss":
            self.ops.append(f"loss = {loss}")

    # Straight-line code: AutoGraph (a caller's tf.function) has nothing to convert, and converting
    # the program and the ops it calls took ~2 s of the first trace.
    @tf.autograph.experimental.do_not_convert
    def __call__(self, env: Mapping[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        missing = [name for name in self.inputs if env.get(name) is None]
        if missing:
            raise LossError([self.missing(name) for name in missing], self.formula.source)
        # A variable is read once per call (never copied); every use of it sees that read.
        given = {name: tf.convert_to_tensor(env[name]) for name in self.inputs}
        dtype = tf.float64 if any(value.dtype == tf.float64 for value in given.values()) else tf.float32
        values = []
        for index, step in enumerate(self.steps):
            if step.seeded:
                value = step.fn(self.seed_generator, dtype, *(values[i] for i in step.inputs))
            elif step.reads:
                value = given[step.reads]
                value = value if value.dtype == dtype else tf.cast(value, dtype)
            elif not step.inputs:
                values.append(step.fn(dtype))  # a constant, inf included: nothing to check
                continue
            else:
                value = step.fn(*(values[i] for i in step.inputs))
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
        return f"{what} = {step.text.format(*(self.steps[i].name for i in step.inputs))}" if step.text else what

    def missing(self, name: str) -> Diagnostic:
        reference = self.formula.references.get(name)
        if reference is None:
            return Diagnostic("E215", f"no value was given for parameter '{name}'", self.formula.params[name].span)
        hint = "pass the batch: term(y_true, y_pred)" if reference.is_target else None
        return Diagnostic("E215", f"no value was given for '{name}'", reference.span, hint)

    def __repr__(self) -> str:
        return "LoweredFormula(\n  " + "\n  ".join(self.ops) + "\n)"


def _checked(value: tf.Tensor, message: str, gradient_message: str) -> tf.Tensor:
    """``value``, with its value and its gradient checked for NaN and Inf (each with its own message)."""
    @tf.custom_gradient
    def check(x):
        return tf.debugging.check_numerics(x, message), lambda upstream: tf.debugging.check_numerics(
            upstream, gradient_message)
    return check(value)


def is_history(reference) -> bool:
    """A named term's history (``start(data)``, ``ema(data, 0.9)``), which the term layer keeps."""
    return reference is not None and reference.role == STATE and len(reference.path) == 3


def history_step(name: str, path: tuple, stored: int, term: int) -> Step:
    """The value of ``function(term, option)``: the stored one, or the term's own while that is NaN (not yet
    there); ``ema`` takes in the current value too. No gradient flows through history (SPEC §5.6)."""
    function, _term, option = path
    if function == "ema":
        decay = float(option)

        def fn(stored_value, current):
            current = tf.stop_gradient(current)
            return tf.where(tf.math.is_nan(stored_value), current, decay * stored_value + (1 - decay) * current)
        text = (f"tf.where(tf.math.is_nan({{0}}), tf.stop_gradient({{1}}), {decay:g} * {{0}} + {1 - decay:g} * "
                f"tf.stop_gradient({{1}}))")
    else:  # the stored value is an input, which has no gradient: only the term's value needs stopping
        def fn(stored_value, current):
            return tf.where(tf.math.is_nan(stored_value), tf.stop_gradient(current), stored_value)
        text = "tf.where(tf.math.is_nan({0}), tf.stop_gradient({1}), {0})"
    return Step(name, fn, (stored, term), text)


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
    compiler = _Compiler(formula, node_shapes)
    outputs = {}
    try:
        for name, definition in formula.terms.items():
            outputs[name] = compiler.memo[term_symbol(name, definition)] = compiler.lower(definition)
            compiler.name(outputs[name], name)
        outputs[""] = compiler.lower(formula.expr)
    except Finding as problem:
        raise LossError([Diagnostic(problem.code, problem.message, formula.span_of(problem.node), problem.hint)],
                        formula.source) from None
    compiler.name(outputs[""], "loss")
    # A history value as this step computed it is the value the term layer stores after the step: handed out
    # too, so that the update is one assign, not the fallback computed a second time.
    history = {text: compiler.memo[ref.symbol] for text, ref in formula.references.items() if is_history(ref)}
    return LoweredFormula(formula, compiler.steps, outputs, check_numerics, seed_generator, history)
