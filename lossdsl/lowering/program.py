"""The lowered program of a formula, planned without TensorFlow (SPEC §3.1, §4: ``lossdsl explain``).

:func:`plan` walks the sympy tree once, lowering each node by its kind's ``lower`` facet (one
declaration per node kind: :mod:`lossdsl.language.kinds`, written with :mod:`.ops`), into a straight-line
program with one step per distinct node. Equal sympy subtrees are equal keys of a memo, so a repeated
subexpression is one step, and a named term is one step however often the loss uses it. A node with no
TensorFlow op fails here, never when the program runs.

The steps name their TensorFlow functions without importing TensorFlow (:mod:`.deferred`):
:class:`~lossdsl.lowering.lower.LoweredFormula` makes the program callable.

>>> import lossdsl
>>> plan(lossdsl.parse("reg = norm(L0.kernel)\\n2 * reg")).ops
['reg = euclidean_norm(L0.kernel)', 'loss = 2 * reg']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Mapping

import sympy

from ..language.diagnostics import Diagnostic
from ..language.errors import LossError
from ..language.findings import Finding
from ..language.formula import IDENTITY, STATE, Formula, term_symbol
from ..language.kinds import kind_of
from ..language.kinds.collections import unresolved_pattern
from ..language.shape_algebra import BATCH, has_batch, runtime
from . import ops
from .ops import identity_without_partner


@dataclass
class Step:
    """One value of the program: an input read from the env, a constant, or an op on earlier steps."""

    name: str
    fn: Callable | None = None  # the op's function, as the facet gave it (Named functions not yet looked up)
    inputs: tuple[int, ...] = ()
    text: str | None = None  # None for inputs and constants, which are not ops
    reads: str | None = None  # the env key of an input
    seeded: bool = False  # a random draw: fn(seed generator, dtype, *inputs)
    across: Callable | None = None  # the op over the global batch, for a step over the batch
    value: float | None = None  # a constant's value
    differentiates: str | None = None  # grad(f, x): x's text; inputs are (f, x), the value is taken on a tape

    @property
    def over_batch(self) -> bool:
        """A reduction over the batch: computed over the global batch under a distribution strategy."""
        return self.across is not None


@dataclass(frozen=True)
class GradientGroup:
    """The ``grad`` targets of one differentiated step: ``f`` is local when it holds the replica's batch;
    ``batched`` says which targets are parts of the batch (not summed over replicas)."""

    targets: tuple[str, ...]
    local: bool
    batched: tuple[bool, ...]


@dataclass
class Program:
    """The planned steps; ``outputs`` maps each named term (and "" the loss) to the step computing it.

    ``ops`` shows one line per computed step, in evaluation order (what ``lossdsl explain`` prints);
    ``over_batch`` names the steps that reduce over the batch; ``inputs`` are the env keys, in order of use.
    """

    steps: list[Step]
    outputs: dict[str, int]
    #: grad(f, x): the targets of each differentiated step, by its index (empty without grad)
    gradient_groups: dict[int, GradientGroup] = field(default_factory=dict)
    #: the text of each history value (``start(data)``) -> the step computing it: the program hands it out too
    history: dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        steps = self.steps
        self.inputs = list(dict.fromkeys(step.reads for step in steps if step.reads))
        self.ops = [f"{s.name} = {self.shown(s)}" for s in steps if s.text is not None]
        self.over_batch = [step.name for step in steps if step.over_batch]
        loss = steps[self.outputs[""]].name
        if loss != "loss":
            self.ops.append(f"loss = {loss}")

    def shown(self, step: Step) -> str:
        """A computed step's op with its inputs' names: ``euclidean_norm(L0.kernel)``."""
        return step.text.format(*(self.steps[i].name for i in step.inputs))


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
        return self.add(Step(f"{self.prefix}{self.computed}", made.fn, inputs, made.text, seeded=made.seeded,
                             across=made.across if over_batch else None, differentiates=made.differentiates))

    def gradient_groups(self) -> dict[int, GradientGroup]:
        """The ``grad`` targets of each differentiated step (by its index): one backward pass each."""
        targets: dict[int, list[str]] = {}
        for step in self.steps:
            if step.differentiates:
                targets.setdefault(step.inputs[0], []).append(step.differentiates)
        shapes = {index: shape for node, index in self.memo.items() if (shape := self.node_shapes.get(node)) is not None}
        groups = {}
        for index, texts in targets.items():
            texts = list(dict.fromkeys(texts))
            shape = shapes.get(index)
            local = bool(shape) and runtime(shape[0])  # holds the replica's part of the batch
            batched = tuple(self.formula.references[t].needs_forward_pass if t in self.formula.references else False
                            for t in texts)
            groups[index] = GradientGroup(tuple(texts), local, batched)
        return groups

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
        return Step(name, value=value)

    def add(self, step: Step) -> int:
        self.steps.append(step)
        return len(self.steps) - 1

    def name(self, index: int, name: str) -> None:
        """Show a computed step under a term's name (cosmetic: ``ops`` only)."""
        step = self.steps[index]
        if step.text is not None and re.fullmatch(re.escape(self.prefix) + r"\d+", step.name):
            step.name = name


def plan(formula: Formula, node_shapes: Mapping | None = None) -> Program:
    """The formula's program; LossError at once for any node with no TensorFlow op. Imports no TensorFlow.

    Given ``node_shapes`` (``Analysis.node_shapes``), the steps that reduce over the batch are marked
    (``over_batch``): they are computed over the global batch under a distribution strategy.
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
    return Program(compiler.steps, outputs, compiler.gradient_groups(), history)


def is_history(reference) -> bool:
    """A named term's history (``start(data)``, ``ema(data, 0.9)``), which the term layer keeps."""
    return reference is not None and reference.role == STATE and len(reference.path) == 3


def history_step(name: str, path: tuple, stored: int, term: int) -> Step:
    """The value of ``function(term, option)``: the stored one, or the term's own while that is NaN (not yet
    there); ``ema`` takes in the current value too. No gradient flows through history (SPEC §5.6)."""
    function, _term, option = path
    tf = ops.tf  # loaded when the step runs, not when it is planned
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
