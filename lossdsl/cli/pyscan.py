"""Formula string literals in Python source, found with ``ast`` (the file is never imported or run).

A literal counts when it is the formula argument of ``lossdsl.check/parse/compile/attach`` (or of those
names imported ``from lossdsl``), positionally or as ``src=``, or when that argument is a name bound once
to a string literal in the calling function or at module level (``FORMULA = "..."``; a name bound more
than once, or to anything else, is not followed). f-strings and computed arguments are skipped.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from ..language.diagnostics import Diagnostic
from ..language.source import Span

#: The public functions that take a formula, and the position of the formula among their arguments.
FORMULA_ARGUMENT = {"analyze": 0, "check": 0, "parse": 0, "compile": 0, "attach": 1}
FORMULA_KEYWORD = "src"

_PREFIX = re.compile(r"[rRuUbB]*")


@dataclass(frozen=True)
class Snippet:
    """A formula inside a larger text: the literal's ``span`` there, and where its content starts.

    ``content_start`` is ``None`` when offsets in the formula do not map one-to-one onto the text
    (escape sequences, implicit concatenation); diagnostics then point at the whole literal.
    """

    text: str
    span: Span
    content_start: int | None

    def place(self, diagnostic: Diagnostic) -> Diagnostic:
        """The diagnostic with its span moved from the formula into the surrounding text."""
        if self.content_start is not None:
            return diagnostic.shifted(self.content_start)
        return Diagnostic(diagnostic.code, diagnostic.message, self.span, diagnostic.hint)


def whole_text(text: str) -> Snippet:
    """A formula that is the whole text (a command-line argument, a file, stdin)."""
    return Snippet(text, Span(0, len(text)), 0)


def find_formulas(code: str, filename: str = "<unknown>") -> list[Snippet]:
    """Every formula literal in ``code`` (a Python module read as text), in order of appearance.

    Raises ``SyntaxError`` (or ``ValueError`` for a NUL byte) when ``code`` is not valid Python.

    >>> [s.text for s in find_formulas("import lossdsl\\nlossdsl.check('norm(L0.kernel)')")]
    ['norm(L0.kernel)']
    """
    tree = ast.parse(code, filename)
    offsets = _Offsets(code)
    modules, functions = _lossdsl_names(tree)
    module_strings = _string_bindings(tree)
    literals = {}
    for scope in [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]:
        strings = module_strings if scope is tree else {**module_strings, **_string_bindings(scope)}
        for node in _own_nodes(scope):
            if isinstance(node, ast.Call):
                name = _called_function(node.func, modules, functions)
                literal = _formula_argument(node, name, strings) if name else None
                if literal is not None:  # a constant reached from two calls is one formula
                    literals[(literal.lineno, literal.col_offset)] = literal
    snippets = [_snippet(literal, code, offsets) for literal in literals.values()]
    return sorted(snippets, key=lambda s: s.span.start)


def _own_nodes(scope: ast.AST):
    """The nodes of a module or function, without those of the functions defined inside it."""
    pending = list(ast.iter_child_nodes(scope))
    while pending:
        node = pending.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            pending.extend(ast.iter_child_nodes(node))


def _string_bindings(scope: ast.AST) -> dict[str, ast.Constant | None]:
    """Names bound in ``scope`` -> the string literal they are bound to; ``None`` for a name bound more
    than once or to anything else, so that it shadows an outer binding instead of following it."""
    literal_of = {}  # the target of `NAME = "..."` or `NAME: str = "..."` -> the value
    for node in _own_nodes(scope):
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            literal_of[id(node.targets[0])] = node.value
        elif isinstance(node, ast.AnnAssign):
            literal_of[id(node.target)] = node.value
    bound: dict[str, ast.Constant | None] = {}
    for node in _own_nodes(scope):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            value = literal_of.get(id(node))
            bound[node.id] = value if node.id not in bound and _is_string(value) else None
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(dict.fromkeys(node.names))
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef)):
        arguments = scope.args
        bound.update(dict.fromkeys(a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                                    arguments.vararg, arguments.kwarg] if a is not None))
    return bound


def _is_string(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def _lossdsl_names(tree: ast.Module) -> tuple[set[str], dict[str, str]]:
    """Names bound to the lossdsl module, and local names of its formula functions (alias -> function)."""
    modules, functions = {"lossdsl"}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.asname for alias in node.names if alias.name == "lossdsl" and alias.asname)
        elif isinstance(node, ast.ImportFrom) and node.module == "lossdsl" and not node.level:
            functions.update((alias.asname or alias.name, alias.name)
                             for alias in node.names if alias.name in FORMULA_ARGUMENT)
    return modules, functions


def _called_function(func: ast.expr, modules: set[str], functions: dict[str, str]) -> str | None:
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in modules:
        return func.attr if func.attr in FORMULA_ARGUMENT else None
    if isinstance(func, ast.Name):
        return functions.get(func.id)
    return None


def _formula_argument(call: ast.Call, function: str, strings: dict[str, ast.Constant | None]) -> ast.Constant | None:
    index = FORMULA_ARGUMENT[function]
    positional = call.args[:next((i for i, a in enumerate(call.args) if isinstance(a, ast.Starred)), len(call.args))]
    argument = positional[index] if index < len(positional) else next(
        (k.value for k in call.keywords if k.arg == FORMULA_KEYWORD), None)
    if isinstance(argument, ast.Name):
        argument = strings.get(argument.id)
    if _is_string(argument):
        return argument
    return None  # an f-string, a variable bound to anything else, a call: not known without running the code


def _snippet(literal: ast.Constant, code: str, offsets: _Offsets) -> Snippet:
    start = offsets.offset(literal.lineno, literal.col_offset)
    end = offsets.offset(literal.end_lineno, literal.end_col_offset)
    written = code[start:end]
    prefix = _PREFIX.match(written).end()
    quote = 3 if written.startswith(('"""', "'''"), prefix) else 1
    content = written[prefix + quote:len(written) - quote]
    # Escapes only ever make the written text longer than the value, and implicit concatenation adds
    # quotes between the parts, so equal texts mean every character maps to itself.
    exact = content == literal.value
    return Snippet(literal.value, Span(start, end), start + prefix + quote if exact else None)


class _Offsets:
    """ast positions (1-based line, UTF-8 byte column) -> character offsets into the text."""

    def __init__(self, code: str):
        self.lines = code.split("\n")  # ast's line breaks; str.splitlines would also split at \f and others
        self.starts = [0]
        for line in self.lines[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def offset(self, line: int, byte_column: int) -> int:
        text = self.lines[line - 1]
        column = byte_column if text.isascii() else len(text.encode("utf-8")[:byte_column].decode("utf-8"))
        return self.starts[line - 1] + column
