"""Parse tree -> Formula. Built bottom-up without recursion; problems are collected, never raised."""

from __future__ import annotations

import math
from dataclasses import dataclass

import sympy
from lark import Token, Tree
from sympy import Add, Integer, Mul, Pow, Tuple

from . import batch_size, functions, nodes
from .calls import INVALID, Keyword, Parenthesized, bind_call
from .catalogue import FLOAT_TOO_LARGE
from .declarations import declare
from .diagnostics import Diagnostic
from .formula import DEFAULT_INIT, IDENTITY, LAYER_INDEX, TARGETS, Formula, Parameter, Reference, \
    parameter_symbol, term_symbol
from .parser import span_of as parser_span_of
from .source import Source, Span, shortened

CONSTANTS = {"pi": sympy.pi}
RESERVED = {*TARGETS, "I", "pi", "inf", batch_size.NAME}


@dataclass
class _Name:
    """An identifier not yet known to be a parameter, a term, a target or a layer."""

    text: str
    span: Span
    quoted: bool = False


@dataclass
class _Path:
    """An attribute chain such as ``sub.dense1.kernel``, not yet closed."""

    parts: list
    span: Span


@dataclass
class _Chain:
    """The operands of a left-associative chain (a + b - c), closed into one n-ary node when used.

    Building the node once at the end keeps a chain of n operands linear; rebuilding it at every
    operator was quadratic (17 s for a sum of 5,000 terms).
    """

    cls: type
    args: list
    span: Span


@dataclass
class _Slice:
    parts: tuple  # start, stop, step: values or None


def span_of(item) -> Span:
    """The span of a lark token or tree, or of a builder's own intermediate value."""
    return parser_span_of(item) if isinstance(item, (Token, Tree)) else item.span


class FormulaBuilder:
    """Turns one parse tree into a :class:`Formula`, collecting diagnostics on the way."""

    def __init__(self, text: str):
        self.source = Source(text)
        self.diagnostics: list[Diagnostic] = []
        self.terms: dict[str, sympy.Expr] = {}
        self.params: dict[str, Parameter] = {}
        self.references: dict[str, Reference] = {}
        self.spans: dict = {}
        self.part_spans: dict = {}
        self.used: set[str] = set()
        self.batch_size_uses: list[Span] = []

    def report(self, code: str, message: str, span: Span, hint: str | None = None) -> sympy.Symbol:
        self.diagnostics.append(Diagnostic(code, message, span, hint))
        return INVALID

    def build(self, tree: Tree) -> Formula | None:
        statements = [child for child in tree.children if isinstance(child, Tree)]
        for clause in (s for s in statements if s.data == "where_clause"):
            for declaration in clause.children[1:]:
                declare(self, *declaration.children)
        loss = None
        for statement in statements:
            if statement.data == "term":
                self.define_term(statement.children[0], self.expression(statement.children[1]))
            elif statement.data != "where_clause":
                loss = self.expression(statement)
        loss = batch_size.bind_batch_size(self, loss, self.batch_size_uses)
        self.report_unused_declarations()
        if any(d.is_error for d in self.diagnostics):
            return None
        # In the order a reader meets them: declarations first, then implicit parameters by first use.
        params = sorted(self.params.values(), key=lambda p: (not p.declared, p.span.start))
        references = sorted(self.references.values(), key=lambda r: r.span.start)
        return Formula(self.source.text, loss, self.terms, {p.name: p for p in params},
                       {r.text: r for r in references}, self.spans, tuple(self.diagnostics), self.part_spans)

    # ------------------------------------------------------------ statements
    def finite_float(self, token: Token) -> float | None:
        """The value of a number literal; ``None`` after reporting one too large for a float (E110)."""
        value = float(token)
        if math.isfinite(value):
            return value
        self.diagnostics.append(FLOAT_TOO_LARGE.at(span_of(token), what="number", written=shortened(str(token), 24)))
        return None

    def define_term(self, name: Token, value: sympy.Expr) -> None:
        span = span_of(name)
        if self.is_reserved(name) or functions.lookup(name) or name in self.params and self.params[name].declared:
            what = "a function" if functions.lookup(name) else "reserved" if self.is_reserved(name) else "a parameter"
            self.report("E208", f"'{name}' is {what} and cannot name a term", span, "choose another name")
        elif name in self.terms:
            self.report("E207", f"term '{name}' is defined twice", span, "give the second term another name")
        elif name in self.params and self.params[name].span.start > span.start:
            self.report("E207", f"term '{name}' uses itself in its definition", self.params[name].span,
                        "a term cannot refer to itself; use another name for the inner value")
        elif name in self.params:
            used = self.source.position(self.params[name].span.start)
            self.report("E207", f"'{name}' is used at line {used.line}, column {used.column} before it is defined",
                        span, "define a named term before the statements that use it")
        else:
            self.terms[str(name)] = value

    def report_unused_declarations(self) -> None:
        for param in self.params.values():
            if param.declared and param.name not in self.used:
                self.report("W404", f"parameter '{param.name}' is declared but not used", param.span,
                            "remove the declaration, or use the parameter in the formula")

    @staticmethod
    def is_reserved(name: str) -> bool:
        return name in RESERVED or LAYER_INDEX.fullmatch(name) is not None

    # ----------------------------------------------------------- expressions
    def expression(self, tree: Tree) -> sympy.Expr:
        """The sympy value of an expression tree, built bottom-up (no recursion: chains can be long)."""
        values: dict[int, object] = {}
        for node in tree.iter_subtrees():
            children = [values[id(c)] if isinstance(c, Tree) else c for c in node.children]
            values[id(node)] = getattr(self, node.data)(node, *children)
        return self.value(values[id(tree)])

    def value(self, item) -> sympy.Expr:
        """Close an identifier or attribute chain into the sympy value it stands for."""
        if isinstance(item, _Name):
            return self.name_value(item)
        if isinstance(item, _Path):
            return self.reference(item.parts, item.span)
        if isinstance(item, _Chain):
            return self.located(item.cls(*item.args, evaluate=False), item.span)
        if isinstance(item, Parenthesized):
            return self.report("E100", "a tuple is not a value", item.span,
                               "tuples are options: sum(x, axis=(0, 1)), reshape(x, (2, -1))")
        if isinstance(item, (Keyword, _Slice)):
            return self.report("E100", "a keyword or slice is not allowed here", span_of(item),
                               "keywords go inside calls (norm(x, ord=1)), slices inside brackets (x[0:2])")
        return item

    def name_value(self, name: _Name) -> sympy.Expr:
        text, span = name.text, name.span
        if name.quoted or LAYER_INDEX.fullmatch(text):
            return self.report("E212", f"'{text}' is a layer, not a value", span,
                               f"use one of its variables, for example {'`%s`' % text if name.quoted else text}.kernel")
        if text in TARGETS:
            return self.reference([text], span)
        if text == "I":
            return self.located(IDENTITY, span)
        if text == batch_size.NAME:
            self.batch_size_uses.append(span)
            return self.located(nodes.BatchSize(nodes.BATCH, evaluate=False), span)
        if text in CONSTANTS:
            return CONSTANTS[text]
        if text in self.terms:
            return self.located(term_symbol(text, self.terms[text]), span)
        if functions.lookup(text):
            return self.report("E214", f"'{text}' is a function, not a value", span, f"call it: {text}(...)")
        return self.located(self.parameter(text, span), span)

    def parameter(self, name: str, span: Span) -> sympy.Symbol:
        self.used.add(name)
        param = self.params.get(name)
        if param is None or (not param.declared and span.start < param.span.start):  # subtrees come bottom-up
            param = self.params[name] = Parameter(name, "real", DEFAULT_INIT["real"], span=span)
        return parameter_symbol(param.name, param.kind, param.lower, param.upper)

    def reference(self, parts: list, span: Span) -> sympy.Expr:
        text = ".".join(f"L{p}" if isinstance(p, int) else f"`{p}`" if _needs_quotes(p) else p for p in parts)
        if text not in self.references:
            self.references[text] = Reference(text, tuple(parts), span)
        return self.located(self.references[text].symbol, span)

    def located_part(self, node: sympy.Basic, part: str | int, span: Span) -> None:
        self.part_spans.setdefault((node, part), span)

    def located(self, node: sympy.Basic, span: Span) -> sympy.Basic:
        self.spans.setdefault(node, span)
        return node

    # One method per grammar alias, called with the node and its already-built children.
    def number(self, node, token):
        text = str(token)
        if text.isdigit() and len(text) < 19:
            return Integer(int(text))
        return INVALID if self.finite_float(token) is None else sympy.Float(text)

    def infinity(self, node, token):
        return sympy.oo

    def name(self, node, token):
        return _Name(str(token), span_of(token))

    def quoted_name(self, node, token):
        return _Name(str(token)[1:-1], span_of(token), quoted=True)

    def group(self, node, _open, inner, _close):
        return self.value(inner)

    def attribute(self, node, base, name):
        span = span_of(node)
        quoted = name.type == "QUOTED_NAME"  # sub.`dense-1`.kernel: a child whose name is not an identifier
        if name == "T" and not quoted:
            return self.located(nodes.Transposed(self.value(base), evaluate=False), span)
        if isinstance(base, _Name):
            root = int(base.text[1:]) if LAYER_INDEX.fullmatch(base.text) and not base.quoted else base.text
            base = _Path([root], base.span)
        if isinstance(base, _Path):
            part = str(name)[1:-1] if quoted else int(name[1:]) if LAYER_INDEX.fullmatch(name) else str(name)
            return _Path(base.parts + [part], span)
        return self.report("E216", f"'.{name}' cannot follow a computed value; only .T (transpose) can",
                           span_of(name), "attributes name layers and variables: L1.kernel, block.dense.bias")

    def binary(self, node, cls, left, right) -> _Chain:
        """One n-ary node per chain (a + b + c), so long formulas stay shallow; + * @ are associative."""
        right = self.value(right)
        if isinstance(left, _Chain) and left.cls is cls:
            left.args.append(right)  # each chain object has exactly one parent, so growing it is safe
            left.span = span_of(node)
            return left
        left = self.value(left)
        return _Chain(cls, [*left.args, right] if type(left) is cls else [left, right], span_of(node))

    def add(self, node, left, _op, right):
        return self.binary(node, Add, left, right)

    def sub(self, node, left, op, right):
        negated = self.negated(self.value(right), Span(op.start_pos, span_of(node).end))
        return self.binary(node, Add, left, negated)

    def negated(self, value: sympy.Expr, span: Span) -> sympy.Expr:
        """-value: a negative number, or a product led by -1 (flat, as sympy writes it: -2*I is (-1)*2*I)."""
        if value.is_Number:
            return -value
        factors = value.args if type(value) is Mul else (value,)
        return self.located(Mul(-1, *factors, evaluate=False), span)

    def mul(self, node, left, _op, right):
        return self.binary(node, Mul, left, right)

    def div(self, node, left, op, right):
        right = self.value(right)
        return self.binary(node, Mul, left,
                           self.located(Pow(right, -1, evaluate=False), Span(op.start_pos, span_of(node).end)))

    def matmul(self, node, left, _op, right):
        return self.binary(node, nodes.MatrixProduct, left, right)

    def pow(self, node, base, _op, exponent):
        return self.located(Pow(self.value(base), self.value(exponent), evaluate=False), span_of(node))

    def neg(self, node, _op, operand):
        return self.negated(self.value(operand), span_of(node))

    def pos(self, node, _op, operand):
        return self.value(operand)

    def keyword(self, node, name, value):
        return Keyword(str(name), value, span_of(node))

    def tuple(self, node, _open, *items):
        return Parenthesized(items[:-1], span_of(node))  # the last child is the closing parenthesis

    def arguments(self, node, *items):
        return [(item, span_of(child)) for item, child in zip(items, node.children)]

    def subscripts(self, node, *items):
        return [(item, span_of(child)) for item, child in zip(items, node.children)]

    def slice(self, node, start, _colon, stop, _colon2, step):
        return _Slice((start, stop, step))

    def index(self, node, base, _open, items, _close):
        subscripts = [self.subscript(item, span) for item, span in items]
        indexed = nodes.Index(self.value(base), Tuple(*subscripts), evaluate=False)
        for position, (_, span) in enumerate(items):
            self.located_part(indexed, position, span)
        return self.located(indexed, span_of(node))

    def subscript(self, item, span: Span) -> sympy.Expr:
        if isinstance(item, _Slice):
            return Tuple(*(nodes.OMITTED if part is None else self.integer(part, span) for part in item.parts))
        return self.integer(item, span)

    def integer(self, item, span: Span) -> sympy.Expr:
        value = self.value(item)
        if isinstance(value, Integer) or value is INVALID:
            return value
        return self.report("E213", "indices and slice bounds must be whole numbers", span,
                           "write integer constants, for example x[0, 1:3]")

    def call(self, node, name, _open, arguments, _close):
        result = bind_call(self, str(name), span_of(name), arguments or [])
        return self.located(result, span_of(node))


def _needs_quotes(part: str) -> bool:
    """A name part written in backticks in a reference's text: not an identifier, or one that reads as L<i>."""
    return not part.isidentifier() or LAYER_INDEX.fullmatch(part) is not None

def build_formula(text: str, tree: Tree) -> tuple[Formula | None, list[Diagnostic]]:
    """The Formula for a parse tree, and every diagnostic found while building it."""
    builder = FormulaBuilder(text)
    formula = builder.build(tree)
    return formula, builder.diagnostics
