"""The checked formula: sympy expressions for the loss and its named terms, parameters, references."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import sympy
from sympy.printing.latex import LatexPrinter
from sympy.printing.precedence import PRECEDENCE

from .diagnostics import Diagnostic
from .kinds import kind_of
from .source import Span, shortened

KINDS = ("real", "positive", "nonneg", "const", "interval")
#: The kind of a declared constant tensor (``where F: tensor``): given from Python, never trained.
TENSOR_KIND = "tensor"
#: What a reference names: a model's variable or output, the snapshot of a variable (``initial(W)``), a
#: constant tensor given from Python (``where F: tensor``), or training state the term layer keeps (``step``,
#: ``epoch``, a named term's history such as ``start(data)``: see history.py).
MODEL, SNAPSHOT, CONSTANT, STATE = "model", "snapshot", "constant", "state"
DEFAULT_INIT = {"real": 0.0, "positive": 1.0, "nonneg": 1.0}
TARGETS = ("y_true", "y_pred")
#: The batch of model inputs (SPEC §5.1): ``inputs``, ``inputs.<name>``, ``inputs.in<i>``.
INPUTS = "inputs"
#: The last part of a reference to what a layer computed in this batch's forward pass (SPEC §5.1).
ACTIVATIONS = ("output", "input")
LAYER_INDEX = re.compile(r"L(\d+)")

#: The identity matrix ``I``, sized by context (it is never a parameter).
IDENTITY = sympy.Symbol("I", nonnegative=True)


@dataclass(frozen=True)
class Parameter:
    """A value trained by lossdsl (or a ``const``): declared in a ``where`` clause, or implicit (any free
    identifier). A scalar unless declared with a shape (``c: real[10, 8]``); the kind holds entry-wise."""

    name: str
    kind: str = "real"  # one of KINDS
    init: float = 0.0  # in the constrained space
    lower: float | None = None  # open bounds of an interval kind
    upper: float | None = None
    declared: bool = False
    span: Span = Span(0, 0)  # the declaration, or the first use
    shape: tuple[int, ...] = ()  # () for a scalar

    @property
    def trainable(self) -> bool:
        return self.kind != "const"

    @property
    def symbol(self) -> sympy.Symbol:
        return parameter_symbol(self.name, self.kind, self.lower, self.upper)

    def describe(self) -> str:
        kind = f"({self.lower:g}, {self.upper:g})" if self.kind == "interval" else self.kind
        if self.shape:
            kind += f"[{', '.join(map(str, self.shape))}]"
        return f"{self.name}: {kind} = {self.init:g}" + ("" if self.declared else "  (implicit)")


@functools.lru_cache(maxsize=4096)  # a Symbol is a value; sympy's own cache costs ~3 us a call, and is cleared often
def parameter_symbol(name: str, kind: str, lower: float | None = None, upper: float | None = None) -> sympy.Symbol:
    """The sympy symbol of a parameter, with the sign its kind guarantees."""
    if kind == "positive" or (kind == "interval" and lower >= 0):
        return sympy.Symbol(name, positive=True)
    if kind == "nonneg":
        return sympy.Symbol(name, nonnegative=True)
    if kind == "interval" and upper <= 0:
        return sympy.Symbol(name, negative=True)
    return sympy.Symbol(name, real=True)


@dataclass(frozen=True)
class Reference:
    """A name in the formula that stands for a tensor of the model: a layer variable, y_true or y_pred.

    ``path`` is the chain as written: strings for names, integers for ``L<i>`` indices. ``role`` says what
    the reference stands for: the model's own tensor (MODEL), the value the variable at ``path`` had when
    the formula was attached or compiled (SNAPSHOT, written ``initial(path)``), or a constant tensor
    given from Python (CONSTANT, declared ``where F: tensor``; ``path`` is its name alone).
    """

    text: str
    path: tuple
    span: Span
    role: str = MODEL

    @property
    def in_model(self) -> bool:
        """Whether the model resolves it: a variable or output, or the variable a snapshot copies."""
        return self.role not in (CONSTANT, STATE)

    @property
    def variable_text(self) -> str:
        """The text of the model reference it reads: ``L1.kernel`` for ``initial(L1.kernel)``."""
        return self.text[len("initial("):-1] if self.role == SNAPSHOT else self.text
    pattern: bool = False  # a path with wildcards (**.kernel): it stands for every variable it matches
    #: Known to be >= 0: ``step``, ``epoch``, and the history of a term that is (the stability facts use it).
    nonnegative: bool = False

    @property
    def symbol(self) -> sympy.Symbol:
        return reference_symbol(self.text, self.nonnegative)

    @property
    def is_target(self) -> bool:
        return self.role == MODEL and self.path[0] in TARGETS

    @property
    def is_inputs(self) -> bool:
        return self.path[0] == INPUTS

    @property
    def is_activation(self) -> bool:
        """``<layer>.output`` / ``<layer>.input``: a tensor of this batch's forward pass, not a variable."""
        return len(self.path) > 1 and self.path[-1] in ACTIVATIONS and not self.is_target and not self.is_inputs

    @property
    def needs_forward_pass(self) -> bool:
        """Read from the forward pass that gave ``y_pred``: an activation or the model inputs."""
        return self.is_inputs or self.is_activation


@functools.lru_cache(maxsize=4096)
def reference_symbol(text: str, nonnegative: bool = False) -> sympy.Symbol:
    """The sympy symbol of a reference, by its text (``L1.kernel``)."""
    return sympy.Symbol(text, nonnegative=True) if nonnegative else sympy.Symbol(text, real=True)


@dataclass(frozen=True, eq=False)
class Formula:
    """A parsed formula. ``expr`` is the loss; it refers to named terms by their symbols (see ``expanded``).

    >>> import lossdsl
    >>> f = lossdsl.parse("data = mse(y_true, y_pred)\\ndata + a * norm(L1.kernel)\\nwhere a: positive = 0.5")
    >>> f.expr
    a*Norm(L1.kernel, 2, ()) + data
    >>> f.params["a"].describe()
    'a: positive = 0.5'
    """

    source: str
    expr: sympy.Expr
    terms: dict[str, sympy.Expr]
    params: dict[str, Parameter]
    references: dict[str, Reference]
    spans: dict = field(repr=False)  # sympy node -> Span of its first occurrence
    warnings: tuple[Diagnostic, ...] = ()
    #: (node, part) -> Span of a part of its first occurrence: an option by name (``"axis"``), a subscript by
    #: position. A part is a constant that sympy shares between nodes, so it has no span of its own.
    part_spans: dict = field(default_factory=dict, repr=False)
    #: The constant tensors declared (``where F: tensor``), with where each is declared, used or not.
    tensors: dict[str, Span] = field(default_factory=dict, repr=False)

    def term_symbol(self, name: str) -> sympy.Symbol:
        return term_symbol(name, self.terms[name])

    def expanded(self, expr: sympy.Expr | None = None) -> sympy.Expr:
        """``expr`` (default: the loss) with every named term replaced by its definition."""
        expr = self.expr if expr is None else expr
        if not self.terms:
            return expr  # entering sympy.evaluate(False) clears sympy's whole cache: skip it when there is nothing to do
        with sympy.evaluate(False):  # keep the tree as written: xreplace would otherwise re-sort and fold it
            # Each definition is expanded once, in order (a term uses only earlier ones), then the loss
            # in one pass: one pass per term over the whole loss took 12 s for 1,000 terms.
            definitions = {}
            for name, definition in self.terms.items():
                definitions[self.term_symbol(name)] = definition.xreplace(definitions)
            return expr.xreplace(definitions)

    @property
    def trainable_params(self) -> list[Parameter]:
        return [p for p in self.params.values() if p.trainable]

    def span_of(self, node: sympy.Basic, part: str | int | None = None) -> Span:
        """Where ``node`` (or the given part of it) is written; the whole text for a node built by a check."""
        if part is not None and (node, part) in self.part_spans:
            return self.part_spans[node, part]
        return self.spans.get(node, Span(0, len(self.source)))

    def latex(self) -> str:
        """The formula in LaTeX: one line per named term, then the loss."""
        names = {ref.symbol: _reference_latex(ref) for ref in self.references.values()}
        names.update({self.term_symbol(n): r"\mathrm{%s}" % _latex_escape(n) for n in self.terms})
        lines = [r"\mathrm{%s} = %s" % (_latex_escape(n), _to_latex(e, names)) for n, e in self.terms.items()]
        lines.append(_to_latex(self.expr, names))
        return r" \\ ".join(lines)

    def _repr_latex_(self) -> str:  # Jupyter shows the formula typeset
        return r"$\begin{aligned}%s\end{aligned}$" % self.latex()

    def __repr__(self) -> str:
        params = ", ".join(p.describe() for p in self.params.values())
        parts = [repr(shortened(self.source.strip(), 80))] + ([f"terms: {', '.join(self.terms)}"] if self.terms else []) + (
            [f"params: {params}"] if params else [])
        return f"<Formula {'; '.join(parts)}>"


def term_symbol(name: str, definition: sympy.Expr) -> sympy.Symbol:
    """The symbol standing for a named term, non-negative when its definition is."""
    return sympy.Symbol(name, nonnegative=True) if _is_nonnegative(definition) else sympy.Symbol(name, real=True)


def _is_nonnegative(expr: sympy.Expr) -> bool:
    """Whether a definition is surely >= 0, judged from its structure.

    Not sympy's ``is_nonnegative``: on a large definition its assumption system expands, factors and
    simplifies for seconds (9 s for one 600-character term), and it raises on nan and zoo (log(0)**2).
    """
    if expr.is_Atom:  # a symbol or a number: sympy answers at once
        return bool(expr.is_nonnegative)
    kind = kind_of(type(expr))
    return kind is not None and kind.sign_of(expr, _nonnegative_sign) is not None


def _nonnegative_sign(expr: sympy.Expr) -> str | None:
    return "nonnegative" if _is_nonnegative(expr) else None


class _LatexPrinter(LatexPrinter):
    """sympy's LaTeX printer without its one slow path."""

    def _print_LoopVariable(self, expr):  # initial(W) of a comprehension's W: W at step 0, like a snapshot
        if expr.name.startswith("initial("):
            return r"%s^{(0)}" % self._print_Symbol(sympy.Symbol(expr.name[len("initial("):-1]))
        return self._print_Symbol(expr)

    def _print_Mul(self, expr):
        # sympy's own splits a product into a fraction, and for a power or exp() with a symbolic exponent
        # that sympy finds negative (x * t**-exp(s)) it simplifies the exponent, for seconds when it is
        # large: such a product is printed as written.
        factors = sympy.Mul.make_args(expr)
        if not any(isinstance(f, sympy.exp) or f.is_Pow and not f.exp.is_Number for f in factors):
            return super()._print_Mul(expr)
        sign = ""
        if factors[0].is_Number and factors[0].is_negative:  # -2**x, not (-1) 2^{x}
            sign, factors = "- ", (() if factors[0] == -1 else (-factors[0],)) + factors[1:]
        return sign + " ".join(self.parenthesize(factor, PRECEDENCE["Mul"]) for factor in factors)


def _to_latex(expr: sympy.Expr, names: dict) -> str:
    printer = _LatexPrinter({"symbol_names": names, "order": "none"})
    try:
        return printer.doprint(expr)
    # sympy's printer loops on a negative power of an unevaluated number (abs(-1)**-2), and its assumptions
    # raise on some products with nan (exp(0/0)*x, depending on sympy's shuffles): print the numbers folded.
    except (RecursionError, ArithmeticError, TypeError, ValueError):
        folded = expr.replace(lambda node: node.is_number and not node.is_Atom, lambda node: node.doit())
        return printer.doprint(folded)


def _reference_latex(reference: Reference) -> str:
    """A reference in LaTeX: a snapshot as the variable at step 0 (W^{(0)}), as L2-SP papers write it."""
    if reference.role == SNAPSHOT:
        return r"\mathtt{%s}^{(0)}" % _latex_escape(reference.variable_text)
    if reference.role == STATE:
        return _state_latex(reference.path)
    return r"\mathtt{%s}" % _latex_escape(reference.text)


def _state_latex(path: tuple) -> str:
    """``step`` as t, ``epoch`` as e; a term's history as papers write it: L^{(0)} for start(L), L^{(e-2)}
    for previous(L, 2), L^{(e_0)} for epoch_start(L), \bar{L}_{0.9} for ema(L, 0.9)."""
    if len(path) == 1:
        return {"step": "t", "epoch": "e"}.get(path[0], r"\mathrm{%s}" % _latex_escape(path[0]))
    function, term, option = path
    name = r"\mathrm{%s}" % _latex_escape(term)
    if function == "ema":
        return r"\bar{%s}_{%g}" % (name, option)
    superscript = {"start": "0", "epoch_start": "e_0", "previous": f"e-{option or 1}"}[function]
    return r"%s^{(%s)}" % (name, superscript)


def _latex_escape(text: str) -> str:
    return text.replace("\\", r"\backslash ").replace("_", r"\_").replace("`", "").replace("{", r"\{").replace("}", r"\}")
