"""Text -> what the LALR parser needs: the checks before parsing, the parser itself, and the nesting limit.

The formula is built while the parser runs (``builder.FormulaBuilder`` is its transformer); syntax errors
are named in ``syntax_errors``.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput

from .diagnostics import Diagnostic
from .source import Span

#: Documented resource limits (docs/reliability.md): beyond them a formula gets E107 / E106.
MAX_SOURCE_CHARS = 100_000
MAX_TOKENS = 5_000  # names, numbers, operators and brackets: at up to ~0.2 ms a token, checked within ~1 s
MAX_NESTING = 64

TOO_LONG_HINT = "simplify it, or split it into several formulas (one lossdsl.compile term each)"
FLATTEN_HINT = "name inner parts as terms (t = ...) to flatten the formula"
OPENERS = {"(": ")", "[": "]"}
CLOSERS = {")": "(", "]": "["}
BINARY_OPERATORS = {"PLUS", "MINUS", "STAR", "SLASH", "AT", "POW"}
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


def lark_parser(transformer=None) -> Lark:
    """An LALR parser of the grammar; its tables are kept in the user's cache.

    With a ``transformer``, its methods (named by the grammar's aliases) build the result at each
    reduction and no tree is made; without one, the parser makes a tree with positions.
    """
    grammar = grammar_path().read_text(encoding="utf-8")
    with_tree = transformer is None
    return Lark(grammar, parser="lalr", lexer="basic", start=["start", "where_part"], maybe_placeholders=True,
                propagate_positions=with_tree, transformer=transformer,
                cache=_table_cache(grammar, "tree" if with_tree else "inline"))


@functools.lru_cache(maxsize=None)
def tree_parser() -> Lark:
    """The parser that makes trees, for what needs the whole tree: where a formula nests too deep."""
    return lark_parser()


def _table_cache(grammar: str, variant: str) -> str | bool:
    """lark's file for the built tables (~0.15 s to build, ~10 ms to load), or False if none can be kept.

    lark checks the file against the grammar, its options and versions, and rebuilds it when it does
    not match or cannot be read. A per-user directory, not lark's default in the shared temp directory:
    the file is a pickle. One file per ``variant`` of the options, so the two parsers do not overwrite
    each other's.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "lossdsl")
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:  # read-only home, no home: build the tables each time
        return False
    digest = hashlib.sha256(grammar.encode("utf-8")).hexdigest()[:16]
    return os.path.join(directory, f"parser-{variant}-{digest}-py{sys.version_info[0]}{sys.version_info[1]}.lark")


# ------------------------------------------------------------------------------- before parsing
#: One scan for every check before parsing. Comments and backtick names are taken whole, as the lexer
#: takes them (a backtick name ends at its closing backtick or at the line end); the rest is cut where the
#: lexer will cut it, so the tokens are counted before the (much slower) lexer runs. ASCII only: any
#: other character is reported before the count matters. Separators (line breaks, ';') are not
#: counted: all but one of a run are blanked out before the parser sees them.
_SCAN = re.compile(r"""
    (?P<comment>\#[^\n]*)
  | (?P<quoted>`[^`\n]*`?)
  | (?P<bad>['"]|[^\x20-\x7e\t\n\r\f])
  | (?P<bracket>[()\[\]])
  | (?P<separator>[\n;])
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>\w+)
  | \*\*|[^\s;]
""", re.VERBOSE | re.ASCII)


@dataclass
class Scan:
    """What the one pass over a text before parsing found.

    ``lexed`` is the text the parser reads: the same offsets, with the separators that mean nothing
    blanked out — line breaks inside brackets (a long formula may continue on the next line there),
    leading separators and all but the first of a run (each one would cost a rule reduction: 100,000
    blank lines took 4.5 s) — and the comments before blanked line breaks.
    """

    text: str
    problems: list[Diagnostic]
    where: int | None = None  # the offset of the first 'where': the declarations start there
    lexed: str = ""
    openers: list[int] = field(default_factory=list)  # offsets of the brackets, in order
    closers: list[int] = field(default_factory=list)

    def depth_at(self, offset: int) -> int:
        """How many brackets are open just before ``offset``."""
        return bisect.bisect_left(self.openers, offset) - bisect.bisect_left(self.closers, offset)


def scan(text: str) -> Scan:
    """One pass over ``text``: the first problem found before parsing (size, characters, brackets, tokens,
    in that order of precedence), and what the parser needs (see :class:`Scan`)."""
    too_large = _check_size(text)
    if too_large:
        return Scan(text, too_large)
    found = Scan(text, [], lexed=text)
    stack: list[tuple[str, int]] = []
    blanks: list[tuple[int, int]] = []
    tokens, token_limit_start, after_separator, previous = 0, None, True, None
    look_for_where = "where" in text
    for match in _SCAN.finditer(text):
        kind, offset = match.lastgroup, match.start()
        if kind == "separator":
            inside_brackets = stack and text[offset] == "\n"  # not a separator at all
            if inside_brackets or after_separator:
                _blank_separator(match, previous, blanks)
            else:
                after_separator = True
        elif kind != "comment":
            after_separator = False
            tokens += 1
            if tokens == MAX_TOKENS + 1:
                token_limit_start = offset
            if kind == "bad":
                return Scan(text, [_bad_character(text[offset], offset)])
            if kind == "bracket" and not found.problems:
                found.problems = _bracket(text[offset], offset, stack)
                (found.openers if text[offset] in OPENERS else found.closers).append(offset)
            elif kind == "word" and look_for_where and found.where is None and match.group() == "where":
                found.where = offset
        previous = match
    if stack and not found.problems:
        opener, start = stack[-1]
        found.problems = [Diagnostic("E101", f"'{opener}' is never closed", Span(start, start + 1),
                                     f"add the missing '{OPENERS[opener]}'")]
    if not found.problems and token_limit_start is not None:
        found.problems = [Diagnostic("E107", f"the formula has {tokens:,} tokens; the limit is {MAX_TOKENS:,}",
                                     Span(token_limit_start, len(text)), TOO_LONG_HINT)]
    if blanks:
        found.lexed = _blanked(text, blanks)
    return found


def _blank_separator(separator: re.Match, previous: re.Match | None, blanks: list[tuple[int, int]]) -> None:
    """Blank a separator out; a comment ends at the line break, so it goes with it. After an unclosed
    backtick name the line break stays, for the lexer to report the name there as it always has."""
    if previous is not None and previous.end() == separator.start():
        name = previous.group()
        if previous.lastgroup == "quoted" and (len(name) == 1 or not name.endswith("`")):
            return
        if previous.lastgroup == "comment":
            blanks.append(previous.span())
    blanks.append(separator.span())


def _blanked(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with the given (start, end) ranges, in order, replaced by spaces."""
    parts, done = [], 0
    for start, end in spans:
        parts += [text[done:start], " " * (end - start)]
        done = end
    return "".join(parts) + text[done:]


def _check_size(text: str) -> list[Diagnostic]:
    if len(text) > MAX_SOURCE_CHARS:
        return [Diagnostic("E107", f"the formula has {len(text):,} characters; the limit is {MAX_SOURCE_CHARS:,}",
                           Span(MAX_SOURCE_CHARS, len(text)), TOO_LONG_HINT)]
    # The cheap textual test first: lexing a long formula only to learn it is not empty costs ~0.2 s.
    if _blank(text) and not any(token.type not in SEPARATORS for token in tokens_until_error(text)):
        return [Diagnostic("E105", "the formula is empty", Span(0, len(text)),
                           "write an expression, for example: norm(L1.kernel)")]
    return []


def _blank(text: str) -> bool:
    return all(not line.split("#", 1)[0].strip(" \t\f\r;") for line in text.split("\n"))


def _bad_character(char: str, offset: int) -> Diagnostic:
    """A character that can never be part of a formula, outside comments and backtick names."""
    if char in "'\"":
        return Diagnostic("E108", "strings are not part of the formula language", Span(offset, offset + 1),
                          "a layer name that is not an identifier is written in backticks: `dense-1`.kernel")
    return Diagnostic("E108", f"character U+{ord(char):04X} is not allowed here", Span(offset, offset + 1),
                      "formulas are ASCII outside comments and backtick names")


def _bracket(char: str, offset: int, stack: list[tuple[str, int]]) -> list[Diagnostic]:
    """Push or pop one bracket: an unmatched or mismatched closer, or nesting beyond MAX_NESTING."""
    if char in OPENERS:
        stack.append((char, offset))
        if len(stack) > MAX_NESTING:
            return [Diagnostic("E106", f"brackets nested more than {MAX_NESTING} deep", Span(offset, offset + 1),
                               FLATTEN_HINT)]
        return []
    if not stack:
        return [Diagnostic("E101", f"'{char}' has no matching '{CLOSERS[char]}'", Span(offset, offset + 1),
                           f"remove it, or add the '{CLOSERS[char]}' it closes")]
    opener, start = stack.pop()
    if OPENERS[opener] != char:
        return [Diagnostic("E101", f"'{char}' closes the '{opener}' opened earlier", Span(start, offset + 1),
                           f"close '{opener}' with '{OPENERS[opener]}'")]
    return []


def tokens_until_error(text: str) -> list[Token]:
    """The tokens of ``text`` (as the parser reads it: ``Scan.lexed``) up to the first character the lexer
    rejects."""
    tokens = []
    try:
        for token in tree_parser().lex(text):
            tokens.append(token)
    except UnexpectedInput:
        pass
    return tokens


# ------------------------------------------------------------------------------- nesting
def nesting_problems(lexed: str) -> list[Diagnostic]:
    """Where a formula that parses nests beyond MAX_NESTING: E106 at the first node found too deep.

    Only called once the builder has measured a statement too deep: the tree is made for the position.
    """
    return _check_depth(tree_parser().parse(lexed, start="start"))


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
                               FLATTEN_HINT)]
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
