"""Text -> lark parse tree with positions. One LALR parser, built once; syntax errors become named diagnostics."""

from __future__ import annotations

import functools
import hashlib
import os
import re
import sys
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lark import PostLex

from .diagnostics import Diagnostic
from .source import Span

#: Documented resource limits (docs/reliability.md): beyond them a formula gets E107 / E106.
MAX_SOURCE_CHARS = 100_000
MAX_TOKENS = 5_000  # names, numbers, operators and brackets: at up to ~0.2 ms a token, checked within ~1 s
MAX_NESTING = 64

# What the lexer will make a token of, counted before lexing (a C-speed scan); comments match so they
# can be skipped, separators (line breaks, ';') are not counted: the post-lexer drops all but one a run.
_COUNTED_TOKEN = re.compile(r"#[^\n]*|`[^`\n]*`?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|\w+|\*\*|[^\s;]")

TOO_LONG_HINT = "simplify it, or split it into several formulas (one lossdsl.compile term each)"
OPENERS = {"(": ")", "[": "]"}
CLOSERS = {")": "(", "]": "["}
BINARY_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT", "POW"}
OPERAND_ENDS = {"NAME", "NUMBER", "QUOTED_NAME", "INF", "RPAR", "RSQB"}
SEPARATORS = {"_NL", "_SEMI"}

# Left-associative chains that the formula builder flattens into one n-ary node: they add no depth.
# Operators whose chains become one sympy node: a + b - c is one Add, a * b / c one Mul. @ shares their
# precedence but is a node of its own, so every switch between * and @ is a level (a*b@c*d@e nests).
FLAT_CHAINS = {"add": "sum", "sub": "sum", "mul": "product", "div": "product", "matmul": "matrix product"}
# Tree nodes that become no sympy node of their own.
NO_DEPTH = {"group", "arguments", "subscripts", "keyword", "signed_number"}


def grammar_path() -> Path:
    """The grammar file: inside the installed package, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent
    installed = package / "grammar" / "lossdsl.lark"
    return installed if installed.exists() else package.parent / "grammar" / "lossdsl.lark"


class _BracketNewlines(PostLex):
    """Drops newlines inside brackets, so a long formula may continue on the next line there.

    Also drops leading separators and all but the first of a run (blank lines, ';;'): they mean
    nothing, and each one costs the parser a rule reduction (100,000 blank lines took 4.5 s).
    """

    always_accept = ("_NL",)

    def process(self, stream):
        depth = 0  # local, so one parser can serve several threads
        after_separator = True
        for token in stream:
            if token.type in ("LPAR", "LSQB"):
                depth += 1
            elif token.type in ("RPAR", "RSQB"):
                depth = max(0, depth - 1)
            elif token.type == "_NL" and depth:
                continue
            if token.type in SEPARATORS:
                if after_separator:
                    continue
                after_separator = True
            else:
                after_separator = False
            yield token


@functools.lru_cache(maxsize=None)
def lark_parser() -> Lark:
    """The one LALR parser (built on first use, then shared; its tables are kept in the user's cache)."""
    grammar = grammar_path().read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic", propagate_positions=True, maybe_placeholders=True,
                postlex=_BracketNewlines(), cache=_table_cache(grammar))


def _table_cache(grammar: str) -> str | bool:
    """lark's file for the built tables (~0.15 s to build, ~10 ms to load), or False if none can be kept.

    lark checks the file against the grammar, its options and versions, and rebuilds it when it does
    not match or cannot be read. A per-user directory, not lark's default in the shared temp directory:
    the file is a pickle.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "lossdsl")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:  # read-only home, no home: build the tables each time
        return False
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    return os.path.join(directory, f"parser-{digest}-py{sys.version_info[0]}{sys.version_info[1]}.lark")


def parse_tree(text: str) -> tuple[Tree | None, list[Diagnostic]]:
    """The parse tree of ``text``, or ``None`` and the syntax diagnostics that explain why not."""
    problems = _check_size(text) or _check_characters(text) or _check_brackets(text) or _check_tokens(text)
    if problems:
        return None, problems
    try:
        tree = lark_parser().parse(text)
    except UnexpectedInput as error:
        return None, [_classify(error, text)]
    too_deep = _check_depth(tree)
    return (None, too_deep) if too_deep else (tree, [])


def _check_size(text: str) -> list[Diagnostic]:
    if len(text) > MAX_SOURCE_CHARS:
        return [Diagnostic("E107", f"the formula has {len(text):,} characters; the limit is {MAX_SOURCE_CHARS:,}",
                           Span(MAX_SOURCE_CHARS, len(text)), TOO_LONG_HINT)]
    # The cheap textual test first: lexing a long formula only to learn it is not empty costs ~0.2 s.
    if _blank(text) and not any(token.type not in SEPARATORS for token in _tokens_until_error(text)):
        return [Diagnostic("E105", "the formula is empty", Span(0, len(text)),
                           "write an expression, for example: norm(L1.kernel)")]
    return []


def _check_tokens(text: str) -> list[Diagnostic]:
    """More than MAX_TOKENS tokens: found by a regular expression, before the (much slower) lexer runs."""
    starts = [match.start() for match in _COUNTED_TOKEN.finditer(text) if text[match.start()] != "#"]
    if len(starts) <= MAX_TOKENS:
        return []
    return [Diagnostic("E107", f"the formula has {len(starts):,} tokens; the limit is {MAX_TOKENS:,}",
                       Span(starts[MAX_TOKENS], len(text)), TOO_LONG_HINT)]


def _blank(text: str) -> bool:
    return all(not line.split("#", 1)[0].strip(" \t\f\r;") for line in text.split("\n"))


def _check_characters(text: str) -> list[Diagnostic]:
    """Characters that can never be part of a formula, outside comments and backtick names."""
    for offset, char in _code_characters(text):
        if char in "'\"":
            return [Diagnostic("E108", "strings are not part of the formula language", Span(offset, offset + 1),
                               "a layer name that is not an identifier is written in backticks: `dense-1`.kernel")]
        if not (char.isascii() and (char.isprintable() or char in "\t\n\r\f")):
            return [Diagnostic("E108", f"character U+{ord(char):04X} is not allowed here", Span(offset, offset + 1),
                               "formulas are ASCII outside comments and backtick names")]
    return []


def _code_characters(text: str):
    """(offset, character) for every character that is not inside a comment or a backtick name."""
    in_comment = in_backticks = False
    for offset, char in enumerate(text):
        if char == "\n":
            in_comment = in_backticks = False
        elif in_comment:
            continue
        elif char == "`":
            in_backticks = not in_backticks
            continue
        elif in_backticks:
            continue
        elif char == "#":
            in_comment = True
            continue
        yield offset, char


def _check_brackets(text: str) -> list[Diagnostic]:
    """Unclosed, unmatched and mismatched brackets, and nesting beyond MAX_NESTING."""
    stack: list[tuple[str, int]] = []
    for offset, char in _code_characters(text):
        if char in OPENERS:
            stack.append((char, offset))
            if len(stack) > MAX_NESTING:
                return [Diagnostic("E106", f"brackets nested more than {MAX_NESTING} deep", Span(offset, offset + 1),
                                   "name inner parts as terms (t = ...) to flatten the formula")]
        elif char in CLOSERS:
            if not stack:
                return [Diagnostic("E101", f"'{char}' has no matching '{CLOSERS[char]}'", Span(offset, offset + 1),
                                   f"remove it, or add the '{CLOSERS[char]}' it closes")]
            opener, start = stack.pop()
            if OPENERS[opener] != char:
                return [Diagnostic("E101", f"'{char}' closes the '{opener}' opened earlier", Span(start, offset + 1),
                                   f"close '{opener}' with '{OPENERS[opener]}'")]
    if stack:
        opener, start = stack[-1]
        return [Diagnostic("E101", f"'{opener}' is never closed", Span(start, start + 1),
                           f"add the missing '{OPENERS[opener]}'")]
    return []


def _check_depth(tree: Tree) -> list[Diagnostic]:
    """Expression depth beyond MAX_NESTING (iteratively: the tree may be deeper than Python's stack).

    Depth counts the levels of the sympy tree the formula becomes: a call is one level (its argument
    list is not another); parentheses, a path (sub.dense1.kernel) and the left operand of a flattened
    chain add none.
    """
    todo = [(tree, -1)]  # the statements themselves are at depth 0
    while todo:
        node, depth = todo.pop()
        if depth > MAX_NESTING:
            return [Diagnostic("E106", f"expression nested more than {MAX_NESTING} levels deep", span_of(node),
                               "name inner parts as terms (t = ...) to flatten the formula")]
        own_chain = FLAT_CHAINS.get(node.data)
        for index, child in enumerate(node.children):
            if isinstance(child, Tree):
                flat = index == 0 and own_chain is not None and FLAT_CHAINS.get(child.data) == own_chain
                same_level = flat or child.data in NO_DEPTH or _is_path(node) or _is_path(child)
                todo.append((child, depth if same_level else depth + 1))
    return []


def _is_path(node: Tree) -> bool:
    """An attribute other than .T: a step of a path such as sub.dense1.kernel, which becomes one symbol."""
    return node.data == "attribute" and node.children[-1] != "T"


def span_of(node: Tree | Token) -> Span:
    """The source span of a lark token or tree (an empty tree, such as an omitted option: 0, 0)."""
    if isinstance(node, Token):
        return Span(node.start_pos, node.end_pos)
    return Span(node.meta.start_pos, node.meta.end_pos) if not node.meta.empty else Span(0, 0)


def _tokens_until_error(text: str) -> list[Token]:
    tokens = []
    try:
        for token in lark_parser().lex(text):
            tokens.append(token)
    except UnexpectedInput:
        pass
    return tokens


def _classify(error: UnexpectedInput, text: str) -> Diagnostic:
    """A friendly, named diagnostic for a raw lark error."""
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
    before = [token for token in _tokens_until_error(text) if token.start_pos < end]
    return _classify_token(error.token, before, text, error.accepts or error.expected or set())


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


def _last_statement(tokens: list[Token]) -> list[Token]:
    """The tokens of the last non-empty statement (statements end at a separator outside brackets)."""
    depth, statements = 0, [[]]
    for token in tokens:
        depth += (token.type in ("LPAR", "LSQB")) - (token.type in ("RPAR", "RSQB"))
        if depth == 0 and token.type in SEPARATORS:
            statements.append([])
        else:
            statements[-1].append(token)
    return next((statement for statement in reversed(statements) if statement), [])


def _classify_token(token: Token, before: list[Token], text: str, accepts: set) -> Diagnostic:
    at_end = token.type == "$END"
    here = Span(len(text), len(text)) if at_end else Span(token.start_pos, token.end_pos)
    shown = "the end of the formula" if at_end else ("a line break" if token.type == "_NL" else f"'{token}'")
    previous = before[-1] if before else None
    prev_type = previous.type if previous is not None else None
    statement = _last_statement(before)
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
    if token.type == "COMMA" and prev_type in OPERAND_ENDS and not _inside_brackets(before):
        return Diagnostic("E100", "unexpected ','", here,
                          "commas separate the arguments of a call or the declarations after 'where'; "
                          "combine values with an operator such as +")
    if at_end:
        return Diagnostic("E100", "the formula ends too early", here, _expected(set(accepts)))
    return Diagnostic("E100", f"unexpected {shown}", here, _expected(set(accepts)))


def _inside_brackets(tokens: list[Token]) -> bool:
    return sum((t.type in ("LPAR", "LSQB")) - (t.type in ("RPAR", "RSQB")) for t in tokens) > 0
