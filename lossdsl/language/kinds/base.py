"""What a node kind is: one declaration of every fact lossdsl knows about one operation.

A :class:`NodeKind` holds, for one sympy node class, its call signature (for a function), shape rule,
sign and value-range facts, asymptotic rule, plain-sympy form, lowering to TensorFlow, LaTeX and a
one-line doc. The analysis and lowering stages walk formulas and read these facets; they keep no table
of their own. A facet that a kind does not have is :data:`UNDECIDED`, never missing: the stability check
turns it into W405, never into a guess (model: sympy2jax's one ``_lookup`` table, extended by users).

No facet imports a later stage: a lowering facet is called by the lowering stage with that stage's
helpers (``lib``: the module :mod:`lossdsl.lowering.ops`, holding ``tf``, ``Op`` and ``resolve``).
Lowering plans the program without TensorFlow (``lossdsl explain``), so a lowering facet touches
``lib.tf``, ``lib.keras`` and ``lib.replicas`` only inside the functions it returns (they import
TensorFlow on first use), and names a function it hands over as it is by its path:
``lib.resolve("tf.math.log1p")``, ``lib.resolve("euclidean_norm")``, ``lib.resolve("replicas.global_sum")``.
"""

from __future__ import annotations

from collections import ChainMap
from dataclasses import dataclass, field
from typing import Callable

import sympy
from sympy import Tuple

from ..shape_algebra import broadcast


class Marker:
    """A named facet value that is not a function: what a walker does for the kind itself."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: The facet is not known for this kind: an asymptotic rule gives "cannot tell" (W405), a plain-sympy
#: form makes the ``sympy.limit`` fallback give up.
UNDECIDED = Marker("UNDECIDED")
#: Asymptotic rules the expander applies by itself: a sum, a product, a power, and tensor operations
#: scalars factor out of (``sum(a*W) = a*sum(W)``; ``norm(a*W) = |a|*norm(W)``).
SUM, PRODUCT, POWER = Marker("SUM"), Marker("PRODUCT"), Marker("POWER")
LINEAR, ABSOLUTELY_LINEAR = Marker("LINEAR"), Marker("ABSOLUTELY_LINEAR")


@dataclass(frozen=True)
class Unary:
    """An asymptotic rule for a function of one argument: ``rule(expander, series of the argument)``."""

    rule: Callable


POSITIVE, NONNEGATIVE = "positive", "nonnegative"


@dataclass(frozen=True)
class Option:
    """A constant argument: ``kind`` is axis, order, positive, flag or size."""

    name: str
    kind: str
    default: object = None


@dataclass(frozen=True)
class FunctionSpec:
    """What a formula function takes and what it builds."""

    name: str
    build: Callable[..., sympy.Expr]  # (*tensors, *options) -> sympy node
    tensors: tuple[str, ...] = ("x",)
    options: tuple[Option, ...] = ()
    shape_rule: str | Callable = "elementwise"  # as given to register_function; the kind holds the rule
    summary: str = ""
    implementation: Callable | None = field(default=None, compare=False)  # registered functions only
    #: "tensors" or an option kind ("size"): the call takes any number of positional arguments of that kind
    variadic: str = ""
    #: Each call is its own node (a random draw): the call's offset in the text is its last argument.
    numbered: bool = False

    @property
    def parameter_names(self) -> tuple[str, ...]:
        return self.tensors + tuple(option.name for option in self.options)

    def signature(self) -> str:
        if self.variadic:
            return f"{self.name}({self.tensors[0] if self.tensors else 'n'}, ...)"
        options = [o.name if o.default is None else f"{o.name}={_shown_default(o.default)}" for o in self.options]
        return f"{self.name}({', '.join(self.tensors + tuple(options))})"


def _shown_default(value) -> str:
    if value == Tuple():
        return "None"
    if isinstance(value, Tuple):
        return ", ".join(str(axis) for axis in value)
    return "inf" if value == sympy.oo else f"{float(value):g}"


@dataclass(frozen=True)
class NodeKind:
    """Every fact about one node class. Facets are functions of the node, or a marker (see above).

    - ``shape(node, *argument shapes)``: the result shape; raises Finding for a misuse.
    - ``sign``: "positive", "nonnegative", None, or ``sign(node, sign_of)`` from the arguments' signs.
    - ``range(node, of)``: the value range, ``of(argument)`` giving an argument's range.
    - ``asymptotic``: a Unary rule, a marker the expander applies, or UNDECIDED.
    - ``plain``: the node's form in plain sympy, from its converted arguments (``sympy.limit``), or UNDECIDED.
    - ``lower(node, lib)``: an ``lib.Op``, or an equal sympy node to lower instead; TensorFlow only inside
      the Op's functions, or named by ``lib.resolve(path)`` (see above).
    - ``latex``: the LaTeX name (``\\operatorname{sum}``), ``latex(node, printer)``, or None where sympy prints it.
    - ``domain``: the bound its argument must stay above (log: 0, log1p: -1), checked as W402; None if any.
    """

    node: type
    doc: str
    shape: Callable
    sign: str | None | Callable
    range: Callable
    asymptotic: Unary | Marker
    plain: Callable | Marker
    lower: Callable
    latex: str | Callable | None = None
    calls: tuple[FunctionSpec, ...] = ()  # how a formula calls it (sqrt and square build a power); () for an operator
    domain: float | None = None

    def sign_of(self, node, sign_of: Callable) -> str | None:
        """The sign fact of ``node``, given what ``sign_of(argument)`` knows of its arguments."""
        return self.sign(node, sign_of) if callable(self.sign) else self.sign


BUILTIN_KINDS: dict[type, NodeKind] = {}
REGISTERED_KINDS: dict[type, NodeKind] = {}
#: Every kind: the user's first (register_function), then the built-ins.
KINDS = ChainMap(REGISTERED_KINDS, BUILTIN_KINDS)


def declare(kind: NodeKind) -> type:
    """Add a built-in kind; returns its node class, so a family module can name it."""
    BUILTIN_KINDS[kind.node] = kind
    return kind.node


def kind_of(cls: type) -> NodeKind | None:
    """The declaration of a node class, or None (a class of a function since unregistered)."""
    return BUILTIN_KINDS.get(cls) or REGISTERED_KINDS.get(cls)


def tensor_args(node) -> tuple:
    """The arguments that are tensors (a tensor function's options are constants)."""
    return node.tensors if isinstance(node, TensorFunction) else node.args


def _assumed_sign(arg) -> str | None:
    """What sympy's assumptions know of the sign of a node; unknown where they cannot work it out.

    Found by fuzzing: on ``kernel*tanh(kernel/inv(1))``, in most of the orders sympy shuffles its handlers
    in, the question reaches an ``evalf``/``expand`` whose comparison recurses past Python's limit."""
    try:
        return POSITIVE if arg.is_positive else NONNEGATIVE if arg.is_nonnegative else None
    except RecursionError:
        return None


class TensorFunction(sympy.Function):
    """A real-valued tensor operation; its sign facts and LaTeX come from its kind's declaration."""

    latex_name: str | None = None
    #: How many leading arguments are tensors; the rest are options.
    tensor_arity = 1

    def _eval_is_real(self):
        return True

    def _sign(self) -> str | None:
        kind = kind_of(type(self))
        return None if kind is None else kind.sign_of(self, _assumed_sign)

    def _eval_is_extended_nonnegative(self):
        return True if self._sign() in (POSITIVE, NONNEGATIVE) else None

    def _eval_is_extended_positive(self):
        return True if self._sign() == POSITIVE else None

    def _eval_derivative(self, symbol):
        # sympy's default differentiates every argument, options too (a Tuple axis has no .diff), and
        # sympy itself asks for derivatives, e.g. printing x*t**-exp(sum(k)). Unknown: left unevaluated.
        return sympy.S.Zero if not any(arg.has(symbol) for arg in self.tensors) else None

    @property
    def tensors(self) -> tuple:
        return self.args[: self.tensor_arity]

    @property
    def options(self) -> tuple:
        return () if self.tensor_arity is None else self.args[self.tensor_arity:]

    def _latex(self, printer, exp=None):
        """sympy's hook; ``exp`` is the printed exponent when the node is the base of a power."""
        body = self._latex_body(printer)
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def _latex_body(self, printer):
        kind = kind_of(type(self))
        latex = kind.latex if kind is not None else None
        if callable(latex):
            return latex(self, printer)
        name = latex or rf"\operatorname{{{type(self).__name__.lower()}}}"
        shown = [printer._print(arg) for arg in self.tensors]
        shown += [latex_option(opt, printer) for opt in self.options if opt != Tuple()]
        return rf"{name}\left({', '.join(shown)}\right)"


def latex_option(option, printer) -> str:
    """An option as written: a Tuple is always an axis option (``axis=-1``), anything else a constant."""
    if isinstance(option, Tuple):
        axes = ", ".join(printer._print(axis) for axis in option)
        return r"\mathrm{axis}=" + (axes if len(option) == 1 else rf"\left({axes}\right)")
    return printer._print(option)


# ------------------------------------------------------------------ helpers for declarations
def node_class(name: str, module: str, nargs: int, tensor_arity: int = 1, base: type | None = None,
               doc: str = "") -> type:
    """A sympy node class for a declaration: ``nargs`` arguments, the first ``tensor_arity`` of them tensors."""
    return type(name, (base or TensorFunction,), {"nargs": nargs, "tensor_arity": tensor_arity,
                                                 "__module__": module, "__doc__": doc})


def build(cls) -> Callable:
    """A call's builder: the node of ``cls`` on the bound arguments, as written (not evaluated)."""
    return lambda *args: cls(*args, evaluate=False)


def elementwise_shape(node, *shapes):
    """The shape facet of an elementwise operation: its tensor arguments broadcast together."""
    return broadcast(*shapes)


def on_ranges(rule: Callable) -> Callable:
    """A range facet from a rule on the ranges of the tensor arguments."""
    return lambda node, of: rule(*(of(arg) for arg in tensor_args(node)))


def same_sign(index: int = 0) -> Callable:
    """A sign facet: the sign of one argument (stop(x) is x)."""
    return lambda node, sign_of: sign_of(node.args[index])


def tf_op(path: str) -> Callable:
    """A lowering facet: the TensorFlow function at ``path`` (``tf.math.log1p``) of the tensor arguments
    (looked up when the program is made callable)."""
    def lower(node, lib):
        places = ", ".join("{%d}" % i for i in range(len(tensor_args(node))))
        return lib.Op(lib.resolve(path), tensor_args(node), f"{path}({places})")
    return lower
