"""Text -> Formula, built while the LALR parser runs; problems are collected, never raised.

The builder is the parser's transformer: lark calls the method named by a grammar alias at each reduction
(``add``, ``call``, ...), with the results of the parts already reduced (see ``expression_rules``). No parse
tree is made. Declarations are read first, so that a parameter is typed at its first use even though
its ``where`` clause comes after it.
"""

from __future__ import annotations

import functools
import math
import threading

import sympy
from lark import Token
from lark.exceptions import UnexpectedInput
from sympy import Mul

from . import batch_size, functions, history, nodes
from .calls import INVALID, Keyword, Parenthesized
from .comprehensions import CollectionReductions
from .gradient_targets import GRAD, nested_gradient, target_problem
from .catalogue import FLOAT_TOO_LARGE
from .declarations import Shaped, declare
from .diagnostics import Diagnostic
from .formula import CONSTANT, DEFAULT_INIT, IDENTITY, INPUTS, LAYER_INDEX, MODEL, SNAPSHOT, TARGETS, \
    Formula, Parameter, Reference, parameter_symbol, term_symbol
from .parser import MAX_NESTING, Scan, lark_parser, nesting_problems, scan
from .expression_rules import AttributePath, Chain, ExpressionRules, Identifier, Piece, Slice, span_of
from .patterns import collection_problems
from .snapshots import INITIAL, snapshot
from .source import Source, Span, shortened
from .syntax_errors import syntax_error

CONSTANTS = {"pi": sympy.pi}
RESERVED = {*TARGETS, INPUTS, "I", "pi", "inf", INITIAL, batch_size.NAME, *history.PROGRESS, *history.HISTORY}
#: The language editions (SPEC §5.5). A formula saved with a model records its edition: one saved before the
#: second (no edition recorded) may use the names the second reserved as parameters and term names.
EDITION = 2
#: The names the first edition reserved; the functions of its minimum set (SPEC §2.5) besides.
FIRST_EDITION_RESERVED = {*TARGETS, "I", "pi", "inf"}
FIRST_EDITION_FUNCTIONS = frozenset(
    "norm sum mean max min abs sqrt square exp log log1p sin cos tanh sigmoid softplus relu clip maximum minimum "
    "trace diag eye dot cosine mse mae huber bce cce sparse_cce kld stop".split())

_this_thread = threading.local()


def build_formula(text: str, edition: int = EDITION) -> tuple[Formula | None, list[Diagnostic]]:
    """The Formula for ``text`` (``None`` if it has errors), and every diagnostic found on the way.

    ``edition`` 1 reads a formula saved before the second edition: the names reserved since (``step``,
    ``inputs``, ``var``, ...) are parameter and term names there, as they were then."""
    scanned = scan(text)
    if scanned.problems:
        return None, scanned.problems
    builder = getattr(_this_thread, "builder", None)
    if builder is None:
        builder = _this_thread.builder = FormulaBuilder()
    if builder.text is not None:  # called again from inside a build (a user's function): a builder of its own
        builder = FormulaBuilder()
    builder.edition = edition
    try:
        return builder.build(scanned, scanned.where)
    finally:
        builder.text = None


class FormulaBuilder(ExpressionRules, CollectionReductions):
    """Builds one formula at a time, during the parse; each thread has its own (with its own parser)."""

    def __init__(self):
        self.text: str | None = None
        self.edition = EDITION
        self.parser = lark_parser(transformer=self)

    def build(self, scanned: Scan, where: int | None) -> tuple[Formula | None, list[Diagnostic]]:
        """Parse the scanned text, whose first 'where' (if any) is at offset ``where``, into a Formula."""
        self.start_formula(scanned.text)
        self.find_loop_variables(scanned.lexed)
        try:
            if where is not None:
                self.read_declarations(scanned.lexed, where)
            self.parser.parse(scanned.lexed, start="start")
        except UnexpectedInput as error:
            return None, [syntax_error(error, scanned)]
        if self.unread_where is not None and where is None:  # a clause the scan did not see: read it first
            return self.build(scanned, self.unread_where)
        if self.too_deep:
            return None, nesting_problems(scanned.lexed)
        return self.finish(), self.diagnostics

    def start_formula(self, text: str) -> None:
        self.text = text
        self.source = Source(text)
        self.diagnostics: list[Diagnostic] = []
        self.terms: dict[str, sympy.Expr] = {}
        self.term_symbols: dict[str, sympy.Symbol] = {}
        self.params: dict[str, Parameter] = {}
        self.tensors: dict[str, Span] = {}  # where F: tensor -> the declaration
        self.references: dict[str, Reference] = {}
        self.spans: dict = {}
        self.part_spans: dict = {}
        self.used: set[str] = set()
        self.loss: sympy.Expr | None = None
        self.reading_declarations = self.declarations_read = self.too_deep = False
        self.unread_where: int | None = None
        self.batch_size_uses: list[Span] = []

    def read_declarations(self, lexed: str, where: int) -> None:
        """Declare the parameters of the where clauses, which start at offset ``where``, before the rest.

        The text before them is blanked rather than cut, so that every position stays as it is.
        """
        self.reading_declarations = True
        try:
            self.parser.parse(" " * where + lexed[where:], start="where_part")
            self.declarations_read = True
        except UnexpectedInput:
            pass  # the parse of the whole text names the error
        finally:
            self.reading_declarations = False

    def finish(self) -> Formula | None:
        self.loss = batch_size.bind_batch_size(self, self.loss, self.batch_size_uses)
        self.report_unused_declarations()
        self.loop_variables_out_of_scope()
        if any(d.is_error for d in self.diagnostics):
            return None
        # In the order a reader meets them: declarations first, then implicit parameters by first use.
        params = sorted(self.params.values(), key=lambda p: (not p.declared, p.span.start))
        references = sorted(self.references.values(), key=lambda r: r.span.start)
        formula = Formula(self.text, self.loss, self.terms, {p.name: p for p in params},
                          {r.text: r for r in references}, self.spans, tuple(self.diagnostics), self.part_spans,
                          dict(self.tensors))
        misused = collection_problems(formula)
        self.diagnostics += misused
        return None if misused else formula

    def report(self, code: str, message: str, span: Span, hint: str | None = None) -> sympy.Symbol:
        self.diagnostics.append(Diagnostic(code, message, span, hint))
        return INVALID

    # ------------------------------------------------------------ statements
    def start(self, statements: list[Piece]) -> None:
        """The whole formula: named terms (already defined), the loss, where clauses (already read)."""
        # A statement is at depth 0, so the deepest node in it is at depth levels - 1.
        self.too_deep = any(piece.levels - 1 > MAX_NESTING for piece in statements)
        if not self.too_deep:
            loss = next(piece for piece in statements if piece.value is not None)  # statements' values are None
            self.loss = self.value(loss)

    def term(self, children) -> Piece:
        name, definition = children
        self.define_term(name, self.value(definition))
        return Piece(None, Span(name.start_pos, definition.span.end), definition.levels)

    def where_clause(self, children) -> Piece:
        where = children[0]
        if not self.reading_declarations and not self.declarations_read:
            self.unread_where = where.start_pos
        return Piece(None, Span(where.start_pos, children[-1].span.end))

    def where_part(self, children) -> None:
        return None

    def declaration(self, children) -> Piece:
        name, kind, init = children
        if self.reading_declarations:
            declare(self, name, kind, init)
        last = init or kind
        return Piece(None, Span(name.start_pos, name.end_pos if last is None else last.span.end))

    def named_kind(self, children) -> Piece:
        word = children[0]
        return Piece(str(word), Span(word.start_pos, word.end_pos))

    def interval_kind(self, children) -> Piece:
        opening, lower, upper, closing = children
        return Piece((lower, upper), Span(opening.start_pos, closing.end_pos))

    def shaped_kind(self, children) -> Piece:
        kind, _open, dimensions, closing = children
        return Piece(Shaped(kind, dimensions.value), Span(kind.span.start, closing.end_pos))

    def dimensions(self, pieces) -> Piece:
        return Piece(pieces, Span(pieces[0].span.start, pieces[-1].span.end))

    def signed_number(self, children) -> Piece:
        sign, number = children
        return Piece((sign, number), Span((sign or number).start_pos, number.end_pos))

    def finite_float(self, token: Token) -> float | None:
        """The value of a number literal; ``None`` after reporting one too large for a float (E110)."""
        value = float(token)
        if math.isfinite(value):
            return value
        self.diagnostics.append(FLOAT_TOO_LARGE.at(span_of(token), what="number", written=shortened(str(token), 24)))
        return None

    def define_term(self, name: Token, value: sympy.Expr) -> None:
        span = span_of(name)
        if (self.is_reserved(name) or self.is_function(name) or name in self.params and self.params[name].declared
                or name in self.tensors):
            what = "a function" if self.is_function(name) else "reserved" if self.is_reserved(name) else \
                "a constant tensor" if name in self.tensors else "a parameter"
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
            self.term_symbols[str(name)] = term_symbol(str(name), value)

    def report_unused_declarations(self) -> None:
        for param in self.params.values():
            if param.declared and param.name not in self.used:
                self.report("W404", f"parameter '{param.name}' is declared but not used", param.span,
                            "remove the declaration, or use the parameter in the formula")
        for name, span in self.tensors.items():
            if name not in self.references:
                self.report("W404", f"tensor '{name}' is declared but not used", span,
                            "remove the declaration, or use the tensor in the formula")

    def is_reserved(self, name: str) -> bool:
        reserved = RESERVED if self.edition >= 2 else FIRST_EDITION_RESERVED
        return name in reserved or LAYER_INDEX.fullmatch(name) is not None

    def is_function(self, name: str) -> bool:
        """A function's name, not a value: in the first edition, only the functions it had (and the user's)."""
        spec = functions.lookup(name)
        if spec is None or self.edition >= 2:
            return spec is not None
        return name in FIRST_EDITION_FUNCTIONS or name not in functions.BUILTINS

    def reads_as_parameter(self, name: str) -> bool:
        """A name the second edition reserved, which a first-edition formula may use as a parameter."""
        return self.edition < 2 and not self.is_reserved(name) and not self.is_function(name)

    # ----------------------------------------------------------- values
    def value(self, piece: Piece) -> sympy.Expr:
        """Close an identifier, attribute chain or operator chain into the sympy value it stands for."""
        item = piece.value
        kind = type(item)
        if kind is Identifier:
            return self.name_value(item, piece.span)
        if kind is AttributePath:
            return self.reference(item.parts, piece.span)
        if kind is Chain:
            return self.located(item.cls(*item.args, evaluate=False), piece.span)
        if kind is Parenthesized:
            return self.report("E100", "a tuple is not a value", piece.span,
                               "tuples are options: sum(x, axis=(0, 1)), reshape(x, (2, -1))")
        if kind is Keyword or kind is Slice:
            return self.report("E100", "a keyword or slice is not allowed here", piece.span,
                               "keywords go inside calls (norm(x, ord=1)), slices inside brackets (x[0:2])")
        return item

    def name_value(self, name: Identifier, span: Span) -> sympy.Expr:
        text = name.text
        if name.quoted or LAYER_INDEX.fullmatch(text):
            return self.report("E212", f"'{text}' is a layer, not a value", span,
                               f"use one of its variables, for example {'`%s`' % text if name.quoted else text}.kernel")
        if self.reads_as_parameter(text) and text not in self.terms and text not in self.tensors \
                and text not in self.loop_names:
            return self.located(self.parameter(text, span), span)
        if text in TARGETS or text == INPUTS:
            return self.reference([text], span)
        if text in history.PROGRESS and self.edition >= 2:
            return history.progress(self, text, span)
        if text in history.HISTORY and self.edition >= 2:
            return self.report("E214", f"'{text}' is a function, not a value", span,
                               f"call it on a named term: {text}(data)")
        if text == "I":
            return self.located(IDENTITY, span)
        if text == batch_size.NAME:
            self.batch_size_uses.append(span)
            return self.located(nodes.BatchSize(nodes.BATCH, evaluate=False), span)
        if text in CONSTANTS:
            return CONSTANTS[text]
        if text in self.tensors:
            return self.reference([text], span, role=CONSTANT)
        if text == INITIAL:
            return self.report("E214", "'initial' is a function, not a value", span,
                               "call it on a variable: initial(L1.kernel)")
        if text in self.terms:
            return self.located(self.term_symbols[text], span)
        if text in self.loop_names:
            return self.loop_variable(text, span)
        if self.is_function(text):
            return self.report("E214", f"'{text}' is a function, not a value", span, f"call it: {text}(...)")
        return self.located(self.parameter(text, span), span)

    def parameter(self, name: str, span: Span) -> sympy.Symbol:
        self.used.add(name)
        param = self.params.get(name)
        # An implicit parameter is where it is first written; an operator's right operand is closed first.
        if param is None or (not param.declared and span.start < param.span.start):
            param = self.params[name] = Parameter(name, "real", DEFAULT_INIT["real"], span=span)
        return parameter_symbol(param.name, param.kind, param.lower, param.upper)

    def reference(self, parts: list, span: Span, role: str = MODEL, text: str | None = None,
                  nonnegative: bool = False, pattern: bool = False) -> sympy.Expr:
        if text is None:
            text = ".".join(f"L{p}" if isinstance(p, int) else f"`{p}`" if _needs_quotes(p) else p for p in parts)
            text = f"{INITIAL}({text})" if role == SNAPSHOT else text
        known = self.references.get(text)
        if known is None or span.start < known.span.start:
            known = self.references[text] = Reference(text, tuple(parts), span, role, pattern=pattern,
                                                      nonnegative=nonnegative)
        return self.located(known.symbol, span)

    def call(self, children) -> Piece:
        name = children[0]
        if name == GRAD and self.edition >= 2:
            return self.gradient_call(children)
        if (name != INITIAL and name not in history.HISTORY) or self.edition < 2:
            return super().call(children)
        _name, _open, arguments, closing = children
        span = Span(name.start_pos, closing.end_pos)
        form = snapshot if name == INITIAL else functools.partial(history.history, name=str(name))
        value = form(self, span_of(name), [] if arguments is None else arguments.value)
        return Piece(self.located(value, span), span, 0 if arguments is None else arguments.height)

    def gradient_call(self, children) -> Piece:
        """``grad(f, x)``: bound like any call once ``x`` is known to be a tensor to differentiate with respect to."""
        name, _open, arguments, closing = children
        span = Span(name.start_pos, closing.end_pos)
        pieces = [] if arguments is None else arguments.value
        if target_problem(self, pieces):
            return Piece(INVALID, span, 0 if arguments is None else arguments.height)
        made = super().call(children)
        if made.value is not INVALID and nested_gradient(self, made.value, pieces[0]):
            return Piece(INVALID, span, made.height)
        return made

    # Where a node is first written. Nodes are not built in the order they are written (an operator closes
    # its right operand first, a call's argument is built before the operator left of the call), so the
    # earliest span is kept, not the first one given.
    def located_part(self, node: sympy.Basic, part: str | int, span: Span) -> None:
        known = self.part_spans.get((node, part))
        if known is None or span.start < known.start:
            self.part_spans[node, part] = span

    def located(self, node: sympy.Basic, span: Span) -> sympy.Basic:
        known = self.spans.get(node)
        if known is None or span.start < known.start:
            self.spans[node] = span
        return node

    def negated(self, value: sympy.Expr, span: Span) -> sympy.Expr:
        """-value: a negative number, or a product led by -1 (flat, as sympy writes it: -2*I is (-1)*2*I)."""
        if value.is_Number:
            return -value
        factors = value.args if type(value) is Mul else (value,)
        return self.located(Mul(-1, *factors, evaluate=False), span)


def _needs_quotes(part: str) -> bool:
    """A name part written in backticks in a reference's text: not an identifier, or one that reads as L<i>."""
    return not part.isidentifier() or LAYER_INDEX.fullmatch(part) is not None
