"""One method per grammar alias: what the formula builder makes of each expression the parser reduces.

lark calls ``add(children)`` when it reduces ``expr PLUS product -> add``, with the children already
reduced: a :class:`Piece` for each part of the formula and a lark token for each kept terminal (operators,
names, brackets; ``None`` for an omitted optional part). The methods use the builder's ``value``,
``located``, ``report`` (see ``builder.FormulaBuilder``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy
from lark import Token
from sympy import Add, Integer, Mul, Pow, Tuple

from . import nodes
from .calls import INVALID, Keyword, Parenthesized, bind_call
from .constant_parts import exact_power_problem
from .formula import LAYER_INDEX
from .parser import MAX_NESTING
from .source import Span


class Piece:
    """What one reduction hands to the next: a value, where it is written, and how deep it nests.

    ``value`` is a sympy node or one of the builder's open forms (below). ``height`` counts the levels of
    the formula below the piece, as the nesting limit counts them (``parser._check_depth``): a piece adds a
    level of its own unless it is flat (parentheses, an argument or subscript list, a keyword, a path).
    Past the limit no more nodes are built (a flat piece holds only what is built already): the formula
    is rejected (E106), and sympy must not be handed a tree deeper than Python's stack.
    """

    __slots__ = ("value", "span", "height", "levels")

    def __init__(self, value, span: Span, height: int = 0, flat: bool = False):
        self.value = value if flat or height <= MAX_NESTING + 1 else INVALID
        self.span = span
        self.height = height
        self.levels = height if flat else height + 1  # what it puts under its parent


@dataclass
class Identifier:
    """An identifier not yet known to be a parameter, a term, a target or a layer."""

    text: str
    quoted: bool = False


@dataclass
class AttributePath:
    """An attribute chain such as ``sub.dense1.kernel``, not yet closed."""

    parts: list


@dataclass
class Chain:
    """The operands of a left-associative chain (a + b - c), closed into one n-ary node when used.

    Building the node once at the end keeps a chain of n operands linear; rebuilding it at every
    operator was quadratic (17 s for a sum of 5,000 terms).
    """

    cls: type
    args: list


@dataclass
class Slice:
    parts: tuple  # start, stop, step: pieces or None


def span_of(part: Token | Piece) -> Span:
    """Where a lark token or a piece is written."""
    return Span(part.start_pos, part.end_pos) if isinstance(part, Token) else part.span


#: sympy parses a decimal literal in ~20 us; the same literal is the same Float.
_float_literal = functools.lru_cache(maxsize=4096)(sympy.Float)


class ExpressionRules:
    """The expression half of the formula builder: one method per alias of the grammar's expressions."""

    def number(self, children) -> Piece:
        token = children[0]
        text = str(token)
        if text.isdigit() and len(text) < 19:
            value = Integer(int(text))
        else:
            # located: a literal float32 cannot hold is reported where it is written (constant_parts)
            value = INVALID if self.finite_float(token) is None else self.located(_float_literal(text), span_of(token))
        return Piece(value, span_of(token))

    def infinity(self, children) -> Piece:
        return Piece(sympy.oo, span_of(children[0]))

    def name(self, children) -> Piece:
        token = children[0]
        return Piece(Identifier(str(token)), span_of(token))

    def quoted_name(self, children) -> Piece:
        token = children[0]
        return Piece(Identifier(str(token)[1:-1], quoted=True), span_of(token))

    def group(self, children) -> Piece:
        opening, inner, closing = children
        return Piece(self.value(inner), Span(opening.start_pos, closing.end_pos), inner.levels, flat=True)

    def tuple(self, children) -> Piece:
        """``(a, b, ...)``: kept as its pieces, for an option to read (``axis=(0, 1)``)."""
        opening, *items, closing = children
        return Piece(Parenthesized(items), Span(opening.start_pos, closing.end_pos),
                     max(item.levels for item in items), flat=True)

    def attribute(self, children) -> Piece:
        base, name = children
        span = Span(base.span.start, name.end_pos)
        quoted = name.type == "QUOTED_NAME"  # sub.`dense-1`.kernel: a child whose name is not an identifier
        if name == "T" and not quoted:
            return Piece(self.located(nodes.Transposed(self.value(base), evaluate=False), span), span, base.levels)
        # Any other attribute is a step of a path, which becomes one symbol: no level, for it or its base.
        if type(base.value) is Identifier:
            root = base.value.text
            path = [int(root[1:]) if LAYER_INDEX.fullmatch(root) and not base.value.quoted else root]
        elif type(base.value) is AttributePath:
            path = base.value.parts
        else:
            problem = self.report("E216", f"'.{name}' cannot follow a computed value; only .T (transpose) can",
                                  span_of(name), "attributes name layers and variables: L1.kernel, block.dense.bias")
            return Piece(problem, span, base.height, flat=True)
        part = str(name)[1:-1] if quoted else int(name[1:]) if LAYER_INDEX.fullmatch(name) else str(name)
        return Piece(AttributePath(path + [part]), span, base.height, flat=True)

    def binary(self, cls: type, left: Piece, right_value: sympy.Expr, span: Span, right_levels: int) -> Piece:
        """One n-ary node per chain (a + b + c), so long formulas stay shallow; + * @ are associative."""
        chain = left.value
        if type(chain) is Chain and chain.cls is cls:  # the chain's own left operand is no level deeper
            chain.args.append(right_value)  # each chain object has exactly one parent, so growing it is safe
            return Piece(chain, span, max(left.height, right_levels))
        value = self.value(left)
        args = [*value.args, right_value] if type(value) is cls else [value, right_value]
        return Piece(Chain(cls, args), span, max(left.levels, right_levels))

    def add(self, children) -> Piece:
        left, _op, right = children
        return self.binary(Add, left, self.value(right), Span(left.span.start, right.span.end), right.levels)

    def sub(self, children) -> Piece:
        left, op, right = children
        end = right.span.end
        negated = self.negated(self.value(right), Span(op.start_pos, end))
        return self.binary(Add, left, negated, Span(left.span.start, end), right.levels)

    def mul(self, children) -> Piece:
        left, _op, right = children
        return self.binary(Mul, left, self.value(right), Span(left.span.start, right.span.end), right.levels)

    def div(self, children) -> Piece:
        left, op, right = children
        end = right.span.end
        reciprocal = self.located(Pow(self.value(right), -1, evaluate=False), Span(op.start_pos, end))
        return self.binary(Mul, left, reciprocal, Span(left.span.start, end), right.levels)

    def matmul(self, children) -> Piece:
        left, _op, right = children
        return self.binary(nodes.MatrixProduct, left, self.value(right), Span(left.span.start, right.span.end),
                           right.levels)

    def pow(self, children) -> Piece:
        base, _op, exponent = children
        span = Span(base.span.start, exponent.span.end)
        power = self.located(Pow(self.value(base), self.value(exponent), evaluate=False), span)
        too_large = exact_power_problem(power, self.spans, self.text) if power.is_number else None
        if too_large:  # refused before an assumption query around it computes it
            self.diagnostics.append(too_large)
            power = INVALID
        return Piece(power, span, max(base.levels, exponent.levels))

    def neg(self, children) -> Piece:
        op, operand = children
        span = Span(op.start_pos, operand.span.end)
        return Piece(self.negated(self.value(operand), span), span, operand.levels)

    def pos(self, children) -> Piece:
        op, operand = children
        return Piece(self.value(operand), Span(op.start_pos, operand.span.end), operand.levels)

    def keyword(self, children) -> Piece:
        name, value = children
        return Piece(Keyword(str(name), value), Span(name.start_pos, value.span.end), value.levels, flat=True)

    def arguments(self, pieces) -> Piece:
        """A call's arguments, or an index's subscripts: the list of their pieces, which adds no level."""
        return Piece(pieces, Span(pieces[0].span.start, pieces[-1].span.end), max(p.levels for p in pieces),
                     flat=True)

    subscripts = arguments

    def call(self, children) -> Piece:
        name, _open, arguments, closing = children
        span = Span(name.start_pos, closing.end_pos)
        result = bind_call(self, str(name), span_of(name), [] if arguments is None else arguments.value)
        return Piece(self.located(result, span), span, 0 if arguments is None else arguments.height)

    def slice(self, children) -> Piece:
        start, _colon, stop, _colon2, step = children
        written = [child for child in children if child is not None]  # a colon at least
        span = Span(span_of(written[0]).start, span_of(written[-1]).end)
        return Piece(Slice((start, stop, step)), span,
                     max((part.levels for part in (start, stop, step) if part is not None), default=0))

    def index(self, children) -> Piece:
        base, _open, subscripts, closing = children
        span = Span(base.span.start, closing.end_pos)
        items = subscripts.value
        positions = Tuple(*[self.subscript(item) for item in items])
        indexed = nodes.Index(self.value(base), positions, evaluate=False)
        for position, item in enumerate(items):
            self.located_part(indexed, position, item.span)
        return Piece(self.located(indexed, span), span, max(base.levels, subscripts.height))

    def subscript(self, item: Piece) -> sympy.Expr:
        if type(item.value) is Slice:
            return Tuple(*(nodes.OMITTED if part is None else self.integer(part, item.span)
                           for part in item.value.parts))
        return self.integer(item, item.span)

    def integer(self, item: Piece, span: Span) -> sympy.Expr:
        value = self.value(item)
        if isinstance(value, Integer) or value is INVALID:
            return value
        return self.report("E213", "indices and slice bounds must be whole numbers", span,
                           "write integer constants, for example x[0, 1:3]")
