"""Syntax errors: a raw lark error becomes a named diagnostic (E100-E104, E109) with a hint."""

from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .diagnostics import Diagnostic
from .parser import BINARY_OPERATORS, SEPARATORS, Scan, tokens_until_error
from .source import Span

OPERAND_ENDS = {"NAME", "NUMBER", "QUOTED_NAME", "INF", "RPAR", "RSQB"}


def syntax_error(error: UnexpectedInput, scanned: Scan) -> Diagnostic:
    """A friendly, named diagnostic for a raw lark error in the text that was scanned."""
    text = scanned.text
    if isinstance(error, UnexpectedCharacters):
        offset = error.pos_in_stream
        char = text[offset]
        if char == "^":
            return Diagnostic("E104", "'^' is not a power operator", Span(offset, offset + 1),
                              "use ** for powers, for example a**2")
        if char == "`":
            line_end = text.find("\n", offset)
            return Diagnostic("E100", "a backtick name is not closed on this line",
                              Span(offset, len(text) if line_end == -1 else line_end),
                              "close the name with a second backtick: `dense-1`.kernel")
        return Diagnostic("E100", f"unexpected character '{char}'", Span(offset, offset + 1),
                          "remove it; operators are + - * / @ **")
    assert isinstance(error, UnexpectedToken)
    end = len(text) if error.token.type == "$END" else error.token.start_pos
    before = [token for token in tokens_until_error(scanned.lexed) if token.start_pos < end]
    return _classify_token(error.token, before, scanned, error.accepts or error.expected or set())


#: How the hint of a syntax error names what the parser would have accepted.
READABLE = {
    "NAME": "a name", "NUMBER": "a number", "INF": "inf", "QUOTED_NAME": "a `backtick name`",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "COMMA": "','", "COLON": "':'",
    "EQUAL": "'='", "DOT": "'.'", "WHERE": "'where'", "$END": "the end of the formula",
    "_NL": "a line break", "_SEMI": "';'",
}
VALUE_STARTS = {"NAME", "NUMBER", "INF", "QUOTED_NAME", "LPAR"}


def _expected(accepts: set) -> str:
    """'expected a value, ')' or ','': the accepted terminals in words, operators and values grouped."""
    words = []
    if accepts & VALUE_STARTS and "NAME" in accepts and "NUMBER" in accepts:
        words.append("a value")
        accepts = accepts - VALUE_STARTS - {"MINUS", "PLUS"}
    if len(accepts & BINARY_OPERATORS) > 2:
        words.append("an operator")
        accepts = accepts - BINARY_OPERATORS - {"DOT", "LSQB", "LPAR"}
    if {"$END", "_NL", "_SEMI"} <= accepts:
        words.append("the end of the statement")
        accepts = accepts - {"$END", "_NL", "_SEMI"}
    words += sorted(READABLE.get(name, f"'{name.lower()}'") for name in accepts
                    if name in READABLE or name in BINARY_OPERATORS and name not in ("PLUS", "MINUS"))
    return "expected " + (", ".join(words[:-1]) + " or " + words[-1] if len(words) > 1 else
                          words[0] if words else "something else")


def _last_statement(tokens: list[Token], scanned: Scan) -> list[Token]:
    """The tokens of the last non-empty statement (statements end at a separator outside brackets)."""
    statements = [[]]
    for token in tokens:
        if token.type in SEPARATORS and scanned.depth_at(token.start_pos) == 0:
            statements.append([])
        else:
            statements[-1].append(token)
    return next((statement for statement in reversed(statements) if statement), [])


def _classify_token(token: Token, before: list[Token], scanned: Scan, accepts: set) -> Diagnostic:
    text = scanned.text
    at_end = token.type == "$END"
    here = Span(len(text), len(text)) if at_end else Span(token.start_pos, token.end_pos)
    shown = "the end of the formula" if at_end else ("a line break" if token.type == "_NL" else f"'{token}'")
    previous = before[-1] if before else None
    prev_type = previous.type if previous is not None else None
    statement = _last_statement(before, scanned)
    after_where = any(t.type == "WHERE" for t in before)
    if prev_type in BINARY_OPERATORS | {"EQUAL", "COMMA"} and (at_end or token.type in SEPARATORS):
        return Diagnostic("E103", f"'{previous}' has nothing after it", Span(previous.start_pos, previous.end_pos),
                          "add the next declaration on the same line, or remove the ','" if prev_type == "COMMA" else
                          "add the missing operand, or remove the operator; to continue on the next line, "
                          "wrap the expression in parentheses")
    if token.type in BINARY_OPERATORS - {"MINUS", "PLUS"} | {"RPAR", "RSQB", "COMMA"} and \
            prev_type in BINARY_OPERATORS | {"LPAR", "LSQB", "COMMA", "EQUAL", None} | SEPARATORS:
        return Diagnostic("E102", f"missing operand before {shown}", here,
                          "every operator needs a value on both sides")
    if prev_type in OPERAND_ENDS and token.type in VALUE_STARTS and not after_where:
        return Diagnostic("E100", f"missing operator before {shown}", here,
                          "use * to multiply, or a line break or ';' to end a statement")
    if (at_end or token.type == "WHERE") and not after_where and \
            [t.type for t in statement[:2]] == ["NAME", "EQUAL"]:
        name = statement[0]
        return Diagnostic("E109", f"the formula has no loss: its last statement names the term '{name}'",
                          Span(name.start_pos, name.end_pos),
                          f"end the formula with the loss expression, for example: {name}")
    if prev_type in SEPARATORS and after_where and token.type not in ("WHERE", "$END"):
        return Diagnostic("E109", "nothing may follow the 'where' declarations except more of them", here,
                          "move this statement before the where clause")
    if prev_type in SEPARATORS and token.type in VALUE_STARTS | {"MINUS", "PLUS"}:
        return Diagnostic("E109", "only the last statement may be the loss; earlier ones must be named terms",
                          here, "name the earlier expression (t = ...) or join the statements with +")
    if token.type == "EQUAL":
        return Diagnostic("E109", "'=' names a term and must follow a single name at the start of a statement",
                          here, "write name = expression on its own line, or a keyword argument inside a call")
    if token.type == "WHERE":
        return Diagnostic("E109", "'where' declarations must come after the loss expression", here,
                          "move the where clause to the end of the formula")
    if token.type == "COMMA" and prev_type in OPERAND_ENDS and not scanned.depth_at(token.start_pos):
        return Diagnostic("E100", "unexpected ','", here,
                          "commas separate the arguments of a call or the declarations after 'where'; "
                          "combine values with an operator such as +")
    if at_end:
        return Diagnostic("E100", "the formula ends too early", here, _expected(set(accepts)))
    return Diagnostic("E100", f"unexpected {shown}", here, _expected(set(accepts)))
