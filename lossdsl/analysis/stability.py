"""The stability checks: is the loss bounded below in each trainable parameter (W401, W405), and are
``log``, ``sqrt`` and divisions applied to values that cannot be zero or negative (W402, W403)?

Semantics. Each trainable parameter is examined alone, the other parameters fixed at any value of their
domain. A tensor block (a norm, a data loss, ``sum(W)``) is a fixed unknown with the sign its node
declares; for the bounded-below question a non-negative block is taken as *strictly* positive, which is
what makes the uncertainty weighting ``exp(-s)*mse(y_true, y_pred) + s`` bounded (with a data loss of
exactly 0 it would fall like ``s``, but a loss that is exactly 0 has nothing left to weight). The loss is
unbounded below in ``p`` when, for some value of the rest, it tends to -inf as ``p`` approaches an end of
its domain: -inf/+inf for real, 0+/+inf for positive and nonneg, both bounds of an interval. Poles inside
the domain (``1/a`` at ``a = 0``) are W403's business, not W401's. Values inside ``stop(...)`` are
constants for training and never make the loss unbounded.

How each question is decided, cheapest first:

======================================  =========================================================
summand whose value range is bounded    bounded, no algebra (norms, squares, ``exp``, data losses,
below (interval arithmetic, ranges.py)  ``a*norm(W)`` with ``a: positive``, ``(a-1)**2``)
sum of summands with ``p``              asymptotic expansion at each end (asymptotics.py); the
                                        first growing term whose coefficient is not provably
                                        >= 0 decides: proved < 0, or < 0 for sampled values of
                                        the other symbols (witness.py) -> unbounded; proved > 0
                                        -> bounded; a term whose coefficient can vanish passes
                                        the decision to the next one
expansion impossible                    ``sympy.limit`` with blocks as signed symbols, under a
                                        time budget (limits.py); then "could not decide", W405
======================================  =========================================================

Verdicts are remembered by the shape of the summands (symbols and blocks replaced by their ranges), so
formulas that differ only in layer names share one. Only decided verdicts are remembered, and a formula's
findings only when no sympy budget ran out: what depends on the machine's speed is computed again. The
budget is CPU time of the checking thread, whichever it is (limit_fallback.py).
log/sqrt/division (W402, W403) is range arithmetic.
"""

from __future__ import annotations

import functools
import math
import time

import sympy

from ..language import nodes
from .asymptotics import End, Expander, Series, add
from ..language.diagnostics import Diagnostic
from ..language.formula import Formula, Parameter
from ..language.kinds import BUILTIN_KINDS, kind_of
from .limit_fallback import BUDGET as LIMIT_BUDGET, OutOfTime, bounded_at
from .ranges import NONNEG, POSITIVE, REAL, Range, RangeFinder, make, number_of, point
from .collapse import collapse_finding, ends
from .joint import joint_findings
from .rays import BOUNDED, RISING, UNBOUNDED, UNKNOWN, decide_series, square_completes, summands

_VERDICTS: dict = {}  # (shape of the summands with p, end, domain of p) -> verdict
FORMULA_BUDGET = 0.5  # CPU seconds of sympy.limit for one formula, all parameters together
# Nodes of the summands examined, all parameters together (30-100 us each): the check is O(parameters x their
# summands), and a product of 2,500 parameters took over ten minutes.
WORK_LIMIT = 4_000
# Nodes of a parameter's summands differentiated for W406, at most: a derivative through 150 nested
# functions is a product of 150 factors whose sign interval arithmetic cannot prove anyway.
COLLAPSE_WORK = 400
# Functions and powers nested above the parameter in a summand differentiated for W406, at most: sympy
# differentiates each level through everything below it, so a tower a**a**...**x of 64 (127 nodes) took 0.6 s.
COLLAPSE_NESTING = 24


def check_stability(formula: Formula) -> list[Diagnostic]:
    """W401-W405 for a formula (W404, an unused declaration, is reported by the builder).

    >>> import lossdsl
    >>> [d.code for d in check_stability(lossdsl.parse("a*norm(L0.kernel) + norm(L1.kernel)"))]
    ['W401']
    """
    try:
        return list(_check(formula))
    except _Unrepeatable as result:
        return list(result.diagnostics)


class _Unrepeatable(Exception):
    """Findings that depend on how fast sympy ran here: raised, so that lru_cache does not keep them."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]):
        super().__init__()
        self.diagnostics = diagnostics


@functools.lru_cache(maxsize=4096)
def _check(formula: Formula) -> tuple[Diagnostic, ...]:
    params = {p.symbol: p for p in formula.params.values()}  # Parameter.symbol builds a new Symbol each time
    symbols = {symbol: domain(p) for symbol, p in params.items()}
    depends = {symbol: {symbol} for symbol in params}  # symbol -> the parameters it stands for
    for name, definition in formula.terms.items():  # in order: a term only uses earlier ones
        term = formula.term_symbol(name)
        symbols[term] = RangeFinder(symbols).of(definition)
        depends[term] = set().union(*(depends.get(s, ()) for s in definition.free_symbols))
    finder = RangeFinder(symbols)
    found, warned = [], set()
    trainable = {symbol: p for symbol, p in params.items() if p.trainable}
    for node, code, message, hint in _domain_problems(formula, finder, set(trainable)):
        found.append(Diagnostic(code, message, formula.span_of(node), hint))
        warned |= set().union(*(depends.get(s, ()) for s in node.free_symbols))
    if not trainable:  # blocks alone can still fall: mse(y_true, y_pred) - 0.01*norm(W)
        loss = formula.expanded() if formula.terms else formula.expr
        joint = joint_findings(formula, summands(loss), params, finder, RangeFinder(symbols, strict=True))
        return tuple(found + [finding.diagnostic for finding in joint])
    loss = formula.expanded() if formula.terms else formula.expr  # expanded() clears sympy's cache
    analysis = _Boundedness(loss, params, finder, RangeFinder(symbols, strict=True))
    work, too_large = 0, []
    for symbol, param in trainable.items():
        if not analysis.needs_algebra(symbol):
            continue  # bounded below summand by summand: nothing to decide
        work += analysis.work(symbol)
        if work > WORK_LIMIT:
            too_large.append(param)
            continue
        # A parameter already warned about (log(a), 1/a) is not worth a slow sympy.limit: the warning stands.
        found += analysis.diagnostics(param, symbol, use_sympy=symbol not in warned)
    if too_large:
        found = tuple(found + [_too_large(too_large)])
    else:
        if not any(d.code == "W401" for d in found):
            found = _with_joint_findings(formula, analysis, params, found)
        if not any(d.code == "W401" for d in found):  # an unbounded loss has worse problems than a collapse
            found += _collapses(analysis, trainable, {d.span for d in found if d.code == "W405"})
        found = tuple(found)
    if analysis.out_of_time:
        raise _Unrepeatable(found)
    return found


def _collapses(analysis: _Boundedness, trainable: dict, undecided: set) -> list[Diagnostic]:
    """W406 for each parameter small enough to differentiate (sympy.diff recurses through every level)."""
    found = []
    for symbol, param in trainable.items():
        if param.span not in undecided and symbol not in analysis.rising:
            finding = collapse_finding(param, analysis.with_param[symbol], analysis.strict,
                                       lambda summand, symbol=symbol: analysis.size(summand) <= COLLAPSE_WORK
                                       and _nesting(summand, symbol) <= COLLAPSE_NESTING)
            found += [finding] if finding else []
    return found


def _nesting(expr: sympy.Expr, symbol: sympy.Symbol) -> int:
    """How many nodes other than sums and products stand above ``symbol``'s deepest use in ``expr``."""
    if expr == symbol:
        return 0
    inner = max((_nesting(arg, symbol) for arg in expr.args if arg.has(symbol)), default=0)
    return inner + (not (expr.is_Add or expr.is_Mul))


def _with_joint_findings(formula: Formula, analysis: _Boundedness, params: dict, found: list) -> list[Diagnostic]:
    """The per-parameter findings and the joint ones; a path that falls settles a parameter's W405."""
    joint = joint_findings(formula, analysis.summands, params, analysis.finder, analysis.strict)
    settled = {formula.params[name].span for finding in joint for name in finding.moved}
    return [d for d in found if not (d.code == "W405" and d.span in settled)] + [f.diagnostic for f in joint]


def _too_large(params: list[Parameter]) -> Diagnostic:
    """One W405 for the parameters left undecided when the analysis reached WORK_LIMIT."""
    names = [f"'{p.name}'" for p in params]
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5:,} more" if len(names) > 5 else "")
    return Diagnostic("W405", f"the loss is too large to decide whether it is bounded below in {shown}", params[0].span,
                      "the check's cost grows with the part of the formula each parameter is in; "
                      "check smaller formulas, or bound the parameters: where a: (lo, hi)")


def domain(param: Parameter) -> Range:
    """The values a parameter can take: real, (0, inf), [0, inf), (lo, hi), or its constant value."""
    if param.kind == "interval":
        return make(param.lower, param.upper, False, False)
    return {"real": REAL, "positive": POSITIVE, "nonneg": NONNEG}.get(param.kind) or point(param.init)


def _hint(param: Parameter, falling: list[End]) -> str:
    name = param.name
    if param.kind == "real" and [end.value for end in falling] == [-math.inf]:
        return f"declare `where {name}: positive`, or use the form exp(-{name})*term + {name}"
    finite = [end for end in falling if not math.isinf(end.value)]
    if finite:
        example = f" (as in term/{name}**2 + log({name}))" if finite[0] == End(0.0, 1) else ""
        return (f"add a term that grows as {finite[0].describe(name)}{example}, or keep {name} away from "
                f"{finite[0].value:g} with a narrower interval: where {name}: (lo, hi)")
    return f"weight the terms with '{name}' by something that cannot be negative ({name}**2, exp({name})), " \
           f"or bound it: where {name}: (lo, hi)"


_NOTHING = frozenset()


class _Containment:
    """Which trainable parameters a node depends on, outside ``stop(...)``; memoized per node."""

    def __init__(self, params: set):
        self.params = params
        self.memo: dict = {}

    def of(self, node: sympy.Basic) -> frozenset:
        if not node.args:  # a leaf: no memo, hashing a sympy Float is slow
            return frozenset((node,)) if node.is_Symbol and node in self.params else _NOTHING
        found = self.memo.get(node)
        if found is None:
            found = _NOTHING
            if not isinstance(node, nodes.StopGradient):
                for arg in node.args:
                    inner = self.of(arg)
                    found = found | inner if found and inner else found or inner
            self.memo[node] = found
        return found

    def __call__(self, node: sympy.Basic, param: sympy.Symbol) -> bool:
        return param in self.of(node)


# ------------------------------------------------------------------------- bounded below
class _Boundedness:
    """W401 / W405 for one formula: is the loss bounded below in each trainable parameter?"""

    def __init__(self, loss: sympy.Expr, params: dict, finder: RangeFinder, strict: RangeFinder):
        self.finder, self.strict, self.scalars = finder, strict, frozenset(params)
        trainable = {symbol for symbol, param in params.items() if param.trainable}
        self.contains = _Containment(trainable)
        self.summands = summands(loss)
        # Indexed once: scanning every summand for every parameter took minutes for 5,000 of each.
        self.with_param: dict = {symbol: [] for symbol in trainable}
        for summand in self.summands:
            for symbol in self.contains.of(summand):
                self.with_param[symbol].append(summand)
        self.sympy_budget = FORMULA_BUDGET
        self.out_of_time = False  # some verdict was left undecided for lack of time: it may differ next run
        self.sizes: dict = {}  # summand -> node count, for the parameters that need algebra only
        self.rising: set = set()  # parameters whose loss tends to +inf at both ends of their domain

    def work(self, symbol: sympy.Symbol) -> int:
        """The nodes the analysis of one parameter walks: those of the summands it is in."""
        return sum(self.size(summand) for summand in self.with_param[symbol])

    def size(self, summand: sympy.Expr) -> int:
        if summand not in self.sizes:
            self.sizes[summand] = sum(1 for _ in sympy.preorder_traversal(summand))
        return self.sizes[summand]

    def needs_algebra(self, symbol: sympy.Symbol) -> bool:
        """False when every summand with the parameter is bounded below (value ranges, memoized: cheap)."""
        return not all(self.finder.of(s).lo > -math.inf for s in self.with_param[symbol])

    def diagnostics(self, param: Parameter, symbol: sympy.Symbol, use_sympy: bool) -> list[Diagnostic]:
        with_p = self.with_param[symbol]
        if not self.needs_algebra(symbol):
            return []  # every summand with the parameter is bounded below: no algebra needed
        shape = self.shape(with_p, symbol)
        verdicts = {end: self.verdict(with_p, symbol, end, use_sympy, shape) for end in ends(param)}
        if all(v == RISING for v in verdicts.values()):
            self.rising.add(symbol)  # +inf at both ends: an optimum inside, no collapse to look for
        falling = [end for end, v in verdicts.items() if v == UNBOUNDED]
        undecided = [end for end, v in verdicts.items() if v == UNKNOWN]
        name = param.name
        if falling:
            where = " and as ".join(end.describe(name) for end in falling)
            return [Diagnostic("W401", f"the loss is unbounded below in '{name}': it tends to -inf as {where}",
                               param.span, _hint(param, falling))]
        if undecided and use_sympy:
            where = " or ".join(end.describe(name) for end in undecided)
            return [Diagnostic("W405", f"could not decide whether the loss is bounded below in '{name}' as {where}",
                               param.span, f"the check is symbolic; if the loss is bounded below in '{name}', "
                                           f"ignore this warning, or bound it: where {name}: (lo, hi)")]
        return []

    def verdict(self, with_p: list, param: sympy.Symbol, end: End, use_sympy: bool, shape: tuple) -> str:
        """The verdict at one end, remembered by the shape of the summands: many formulas share one."""
        key = (shape, end, self.finder.of(param))
        found = _VERDICTS.get(key)  # one read: another thread may clear the table between two
        if found is None:
            try:
                found = self.decide(with_p, param, end, use_sympy)
            except (ArithmeticError, TypeError, ValueError):  # sympy's arithmetic on 1/0 (zoo) or nan may raise
                found = UNKNOWN
            if found == UNKNOWN:
                return found  # may depend on the time left for sympy: not remembered
            if len(_VERDICTS) >= 10_000:
                _VERDICTS.clear()
            _VERDICTS[key] = found
        return found

    def shape(self, node: sympy.Basic | list, param: sympy.Symbol, atoms: dict | None = None) -> tuple:
        """The structure of ``node`` with each symbol or tensor block replaced by its number and ranges.

        The verdict sees such an atom only through its ranges and whether it is a parameter (expansion,
        signs and witnesses work on the structure above the atoms), so equal shapes have equal verdicts.
        """
        atoms = {} if atoms is None else atoms
        if isinstance(node, list):
            return tuple(self.shape(summand, param, atoms) for summand in node)
        if node.is_Number:
            return (float(node),)
        if node == param:
            return ("p",)
        if node.is_Symbol or (isinstance(node, nodes.TensorFunction) and not self.contains(node, param)):
            # whether it is a parameter matters too: a parameter is a scalar, a reference may be a tensor
            return (atoms.setdefault(node, len(atoms)), self.finder.of(node), self.strict.of(node),
                    node in self.scalars)
        return (type(node), *(self.shape(arg, param, atoms) for arg in node.args))

    def decide(self, with_p: list, param: sympy.Symbol, end: End, use_sympy: bool) -> str:
        expander = Expander(param, end, lambda node: self.contains(node, param), self.strict.of, self.scalars)
        total, rescued = Series(), False
        for summand in with_p:
            expanded = expander.expand(summand)
            if expanded is not None:
                total = add(total, expanded)
            elif self.finder.of(summand).lo > -math.inf:
                rescued = True  # bounded below: it cannot make the loss fall, but it might stop a fall
            else:
                total = None
        verdict = decide_series(total, self.strict) if total is not None else UNKNOWN
        if verdict == UNBOUNDED and rescued:
            verdict = UNKNOWN
        if verdict == UNKNOWN and square_completes(sympy.Add(*with_p), param, self.strict):
            verdict = BOUNDED
        if verdict == UNKNOWN and use_sympy:
            verdict = self.ask_sympy(with_p, param, end)
        return verdict

    def ask_sympy(self, with_p: list, param: sympy.Symbol, end: End) -> str:
        """The verdict of ``sympy.limit`` within what is left of the formula's time budget."""
        if self.sympy_budget <= 0:
            self.out_of_time = True
            return UNKNOWN
        start = time.thread_time()  # CPU time, like the limit itself: threads side by side each get it all
        try:
            bounded = bounded_at(sympy.Add(*with_p), param, end, self.contains, self.strict,
                                 seconds=min(LIMIT_BUDGET, self.sympy_budget))  # the formula's budget is a cap
        except OutOfTime:
            self.out_of_time, bounded = True, None
        self.sympy_budget -= time.thread_time() - start
        return UNKNOWN if bounded is None else BOUNDED if bounded else UNBOUNDED


# ------------------------------------------------------------------------ log, sqrt, 1/x
#: The function names that build a node with a domain (log, log1p), and the spellings of powers below 1.
DOMAIN_SPELLINGS = tuple(spec.name for kind in BUILTIN_KINDS.values() if kind.domain is not None
                         for spec in kind.calls) + ("sqrt", "/", "**")


def _domain_problems(formula: Formula, finder: RangeFinder, trainable: set):
    """(node, code, message, hint) for each log/sqrt/division whose argument can leave its domain."""
    if not any(spelling in formula.source for spelling in DOMAIN_SPELLINGS):
        return  # the only spellings that build a function with a domain or a negative or fractional power
    reported: set = set()
    stack = [formula.expr, *formula.terms.values()]
    while stack:
        node = stack.pop()
        stack.extend(node.args)  # a tree as written (terms are not expanded): no node is shared much
        if node.is_Pow or _domain_of(node) is not None:
            problem = _domain_problem(node, finder, trainable)
            if problem and node not in reported:  # the same text twice is reported once
                reported.add(node)
                yield (node, *problem)


def _domain_of(node: sympy.Basic) -> float | None:
    kind = kind_of(type(node))
    return None if kind is None else kind.domain


def _domain_problem(node: sympy.Basic, finder: RangeFinder, trainable: set) -> tuple[str, str, str] | None:
    argument = node.args[0]
    # A bare parameter is fixed by its declaration; anything else by what is computed from it.
    declare = f"keep '{argument}' above 0: declare `where {argument}: positive`, or an interval (lo, hi) with lo >= 0" \
        if argument in trainable else None
    edge = _domain_of(node)
    if edge is not None:
        name, r = kind_of(type(node)).calls[0].name, finder.of(argument)
        if r.lo < edge or (r.lo == edge and r.lo_closed):
            what = ("negative" if r.lo < edge else "zero") if edge == 0 else ("below -1" if r.lo < edge else "-1")
            return ("W402", f"{name} of a value that can be {what}", declare or
                    f"make the argument positive: {name}(x + 1e-6) for x >= 0, or {name}(softplus(x))")
    number = number_of(node.args[1]) if node.is_Pow else None
    if node.is_Pow and number is None and finder.of(argument).lo < 0:
        return ("W402", "power with a variable exponent of a value that can be negative",
                declare or "raise a positive value to it: softplus(x)**b, or exp(b*log(x)) for x > 0")
    if number is not None and number.is_finite:
        r, exponent = finder.of(argument), float(number)
        if exponent < 0 and r.has_zero:
            return ("W403", "division by a value that can be zero",
                    declare or "add a small positive constant to the denominator: x / (y + 1e-6)")
        if not exponent.is_integer() and r.lo < 0:
            return ("W402", "square root (fractional power) of a value that can be negative", declare or
                    "take it of a non-negative value: sqrt(square(x) + 1e-6), sqrt(abs(x)), or a norm")
    return None
