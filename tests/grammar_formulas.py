"""Random formulas derived from grammar/lossdsl.lark, and hostile mutations of them (fuzzing helpers).

``derive(rng)`` walks the grammar's rules with random choices: statements, where clauses and every
expression alternative (add ... call, keyword, slice), with names drawn from what a formula really uses
(functions with their arity, layer references, targets, parameters) so that many derivations are valid;
the second edition's constructs too: patterns (``**.kernel``), comprehensions over them, ``initial(W)``
(of a reference, a pattern or a loop variable), ``grad(f, x)``, ``step``, ``epoch`` and the history
(``start``, ``epoch_start``, ``previous``, ``ema``) of a named term.
``mutate(rng, text)`` damages a formula: tokens dropped, swapped, duplicated or replaced, random
characters and bytes, huge numbers, deep nesting, very long names. ``rng`` is a ``random.Random``
(hypothesis' ``st.randoms()`` in the test suite, a seeded one in benchmarks/fuzz_long.py).
"""

from __future__ import annotations

import json
import random
import re
import tempfile
from pathlib import Path

from lossdsl.language.functions import BUILTINS

FUNCTIONS = {name: (len(spec.tensors), [o.name for o in spec.options]) for name, spec in BUILTINS.items()}
REFERENCES = ["L0.kernel", "L1.kernel", "L2.kernel", "L1.bias", "dense_1.kernel", "`dense-1`.kernel",
              "sub.dense1.kernel", "y_true", "y_pred", "L1.kernel.T", "out.kernel", "bn.moving_mean"]
#: A shape for each reference above: derived formulas that pass the checks against it must also run.
REFERENCE_SHAPES = {"L0.kernel": [4, 4], "L1.kernel": [10, 16], "L2.kernel": [16, 4], "L1.bias": [16],
                    "dense_1.kernel": [4, 3], "`dense-1`.kernel": [4, 4], "sub.dense1.kernel": [8, 3],
                    "out.kernel": [4, 1], "bn.moving_mean": [2], "y_true": [None, 4], "y_pred": [None, 4]}
PARAMETERS = ["a", "b", "s", "lam", "w_1"]
CONSTANTS = ["I", "pi", "inf"]
KINDS = ["real", "positive", "nonneg", "const", "(0, 1)", "(-1, 1)", "(2, 3)", "posit", "(1, 0)",
         "(-1e308, 1e308)", "(0, 1.7e308)", "(-3e38, 3e38)", "(1, 1.00000001)"]  # beyond or too wide for float32
NUMBERS = ["0", "1", "2", "0.5", ".5", "1e-4", "3.", "10", "1e3", "2.5e-1"]
OPTION_VALUES = ["0", "1", "-1", "2", "inf", "1.0", "(0, 1)", "10001", "100000", "3000000000"]  # eye() too large
VALID_OPTIONS = {"axis": ["0", "-1"], "ord": ["1", "2", "inf"], "from_logits": ["0", "1"], "delta": ["1.0", "0.5"]}
DATA_LOSSES = ["mse", "mae", "huber", "bce", "cce", "sparse_cce", "kld"]
PATTERNS = ["**.kernel", "*.kernel", "L*.kernel", "sub.*.kernel", "**.bias"]
HOSTILE_PATTERNS = ["nosuch*.kernel", "**.**", "*", "L?.kernel", "**.kernel.T"]
REDUCERS = ["sum", "mean", "max", "min"]
#: What grad(f, x) differentiates with respect to: references, a parameter, a pattern; then what E250 refuses.
GRADIENT_TARGETS = ["L1.kernel", "L2.kernel", "L1.bias", "a", "**.kernel"]
HOSTILE_GRADIENT_TARGETS = ["y_pred", "y_true", "inputs", "pi", "2*L1.kernel", "initial(L1.kernel)", "step"]
HISTORY = ["start({})", "epoch_start({})", "previous({})", "previous({}, 2)", "ema({}, 0.9)", "ema({}, 0.99)"]
HOSTILE_HISTORY = ["previous({}, 0)", "previous({}, 2.5)", "ema({}, 1)", "ema({}, -0.5)", "start({}, 2)",
                   "start(L1.kernel)", "ema(step, 0.9)", "previous(nosuch)", "start({} + 1)"]

TOKEN = re.compile(r"\s+|`[^`\n]*`|#[^\n]*|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|\w+|\*\*|.", re.S)
REPLACEMENTS = ["(", ")", "[", "]", ",", ";", "\n", "where", "=", "**", "@", "-", "+", "*", "/", ":", ".", "`",
                "inf", "I", "L7", "L99999999999999999999", "1e999", "0", "norm", "x", "T", "#", "^", "'", "\\"]
HUGE_NUMBERS = ["1e999", "9" * 400, "1e308", "1.7976931348623157e308", "1e-400", "0" * 300 + "1",
                "123456789" * 30 + ".5", "1e99999999999",
                # at and beyond the edges of float32, the type the loss is computed in
                "3.4e38", "3.5e38", "1e39", "1.2e-38", "1e-40", "1e-320",
                # constants sympy would compute exactly: ten billion digits, or more than Python prints
                "(10**-10**10)", "(2**-20000)", "((1000001/1000000)**100000)", "(9**9**9)"]
FLOAT32_EDGES = ["1e300", "1e39", "3.4e38", "1.2e-38", "1e-40", "1e-320", "0"]
ODD_CHARACTERS = "\x00\x01\x07\x0b\x1b\x7f\u00a0\u00d7\u03b1\u200b\u2028\ufeff\U0001f600\ud800'\"^$?!\\{}|~&%<>"


class Deriver:
    """One random derivation of the grammar's ``start`` rule; ``depth`` bounds the recursion.

    A ``hostile`` derivation also uses what the grammar accepts but the checks reject: unknown names
    and kinds, wrong arity, bad options, attributes of computed values.
    """

    def __init__(self, rng: random.Random, max_depth: int = 6, hostile: bool = True):
        self.rng, self.max_depth, self.hostile = rng, max_depth, hostile
        self.budget = rng.choice([5, 20, 60])  # atoms left: past it, every choice takes the shortest way out
        self.terms: list[str] = []
        self.declared: set[str] = set()
        self.loop_variables: list[str] = []  # the comprehensions' variables in scope

    def odd(self, probability: float) -> bool:
        return self.hostile and self.rng.random() < probability

    def pick(self, options):
        return options[self.rng.randrange(len(options))]

    def start(self) -> str:
        statements = []
        for index in range(self.rng.choice([0, 0, 1, 1, 2, 3])):
            name = self.pick(["data", "reg", "t", "r2", "penalty"] + (["a", "norm"] if self.hostile else []))
            name += str(index) if self.odd(0.3) or name in self.terms else ""
            statements.append(f"{name} = {self.expr(0)}")
            self.terms.append(name)
        statements.append(self.expr(0))
        clauses = [self.where_clause() for _ in range(self.rng.choice([0, 0, 0, 1, 1, 2]))]
        separator = self.pick(["\n", "\n", "; ", "\n\n", "  # a comment\n", ";\n"])
        return separator.join(statements + clauses) + self.pick(["", "", "\n", " # end"])

    def where_clause(self) -> str:
        declarations = []
        names = PARAMETERS if self.hostile else [p for p in PARAMETERS if p not in self.declared]
        for name in self.rng.sample(names, min(len(names), self.rng.randint(1, 3))):
            self.declared.add(name)
            kind = self.pick(KINDS if self.hostile else KINDS[:4])
            text = name + (": " + kind if kind != "real" or self.rng.random() < 0.5 else "")
            if self.hostile and self.rng.random() < 0.6:
                text += " = " + self.pick(["", "", "-", "+"]) + self.pick(NUMBERS + ["inf"] + FLOAT32_EDGES)
            elif kind == "const" or self.rng.random() < 0.5:
                text += " = " + self.pick(["0.5", "1", "2", "1e-3"])
            declarations.append(text)
        return "where " + ", ".join(declarations)

    # expr: product | expr (+|-) product;  product: unary | product (*|/|@) unary;  unary: (-|+) unary | power
    def expr(self, depth: int) -> str:
        text = self.product(depth)
        for _ in range(self.count(depth)):
            text += self.pick([" + ", " - ", "+", "-"]) + self.product(depth)
        return text

    def product(self, depth: int) -> str:
        text = self.unary(depth)
        for _ in range(self.count(depth)):
            text += self.pick([" * ", " / ", " @ ", "*", "/"]) + self.unary(depth)
        return text

    def unary(self, depth: int) -> str:
        if self.rng.random() < 0.12:
            return self.pick(["-", "+", "- "]) + self.unary(depth + 1)
        return self.power(depth)

    def power(self, depth: int) -> str:
        if self.rng.random() < 0.12:
            return self.postfix(depth) + self.pick(["**", " ** "]) + self.unary(depth + 1)
        return self.postfix(depth)

    def postfix(self, depth: int) -> str:
        text = self.atom(depth)
        while self.odd(0.1):
            text += self.pick([".T", ".kernel", ".`odd-name`", f"[{self.subscripts(depth + 1)}]"])
        return text

    def subscripts(self, depth: int) -> str:
        parts = []
        for _ in range(self.rng.randint(1, 3)):
            if self.rng.random() < 0.4:  # slice: [expr] : [expr] [: [expr]]
                bounds = [self.small_int() if self.rng.random() < 0.6 else "" for _ in range(self.rng.choice([2, 3]))]
                parts.append(":".join(bounds))
            else:
                parts.append(self.small_int() if self.rng.random() < 0.8 else self.expr(depth + 1))
        return ", ".join(parts)

    def small_int(self) -> str:
        return self.pick(["0", "1", "2", "-1", "3", "10"])

    def atom(self, depth: int) -> str:
        self.budget -= 1
        if depth >= self.max_depth or self.budget <= 0:
            return self.leaf()
        roll = self.rng.random()
        if roll < 0.35:
            return self.call(depth + 1)
        if roll < 0.45:
            return "(" + self.pick(["", "", "\n"]) + self.expr(depth + 1) + ")"
        if roll < 0.50:
            return self.collection(depth + 1)
        return self.leaf()

    def collection(self, depth: int) -> str:
        """A reduction over a pattern (member-wise, ``initial(P)`` paired with ``P``) or a comprehension."""
        pattern = self.pick(HOSTILE_PATTERNS) if self.odd(0.15) else self.pick(PATTERNS)
        reducer = self.pick(REDUCERS) if not self.odd(0.05) else self.pick(["norm", "exp", "mse"])
        roll = self.rng.random()
        if roll < 0.3:
            return self.pick([f"{reducer}(square({pattern}))", f"norm({pattern})", f"{reducer}(abs({pattern}))",
                              f"{reducer}(square({pattern} - initial({pattern})))",
                              f"norm({pattern} - initial({pattern}))"])
        if roll < 0.4 and self.hostile:  # a collection where one tensor is needed, two in one reduction
            return self.pick([f"{pattern} @ L1.kernel", f"initial({pattern})", f"sum({pattern} - L*.bias)",
                              f"sum({pattern}, axis=0)", f"grad({pattern}, a)"])
        variable = self.pick(["W", "V"]) if not self.odd(0.1) else self.pick(["a", "L1", "step", "for"])
        self.loop_variables.append(variable)
        try:
            body = self.pick([f"square({variable} - initial({variable}))", f"norm({variable}.T @ {variable} - I)",
                              f"square({variable})", None])
            body = body or self.expr(depth)
        finally:
            self.loop_variables.pop()
        if self.odd(0.05):  # the loop variable outside its comprehension
            body += f" + {variable}"
        return f"{reducer}({body} for {variable} in {pattern})"

    def leaf(self) -> str:
        roll = self.rng.random()
        if self.loop_variables and roll < 0.3:
            variable = self.loop_variables[-1]
            return self.pick([variable, variable, f"initial({variable})", f"{variable}.T"])
        if roll < 0.06:
            return self.progress()
        if roll < 0.1:
            return f"initial({self.pick(list(REFERENCE_SHAPES)[:9])})"
        if roll < 0.35:
            return self.pick(REFERENCES)
        if roll < 0.6:
            return self.pick(PARAMETERS + self.terms)
        if roll < 0.85 or not self.hostile:
            return self.pick(NUMBERS)
        return self.pick(CONSTANTS + ["`dense-1`", "L3", "nosuch.kernel", "y_pred[0]"])

    def progress(self) -> str:
        """``step``, ``epoch`` or the history of a named term (of something else when hostile)."""
        if not self.terms or self.rng.random() < 0.3:
            return self.pick(["step", "epoch"])
        term = self.pick(self.terms)
        return self.pick(HOSTILE_HISTORY if self.odd(0.2) else HISTORY).format(term)

    def gradient(self, depth: int) -> str:
        target = self.pick(HOSTILE_GRADIENT_TARGETS) if self.odd(0.2) else self.pick(GRADIENT_TARGETS)
        f = self.expr(depth)
        if self.odd(0.05):  # a second derivative
            f = f"grad({f}, {target})"
        value = f"grad({f}, {target})"
        # a gradient has its target's shape (a pattern's is a collection): mostly reduced, as a penalty is
        if self.rng.random() < 0.7 and not self.odd(0.3):
            return self.pick(["sum(square({}))", "norm({})", "mean({})"]).format(value)
        return value

    def call(self, depth: int) -> str:
        name = self.pick(list(FUNCTIONS)) if not self.odd(0.08) else self.pick(["nrom", "foo", "L1", "exp_"])
        if name == "grad" and not self.odd(0.1):
            return self.gradient(depth)
        tensors, options = FUNCTIONS.get(name, (1, []))
        if self.odd(0.1):  # wrong arity
            tensors = max(0, tensors + self.pick([-1, 1]))
        if name == "eye" and not self.hostile:
            return f"eye({self.pick(['2', '3', 'n=4'])})"
        elif name in DATA_LOSSES and not self.hostile:
            arguments = ["y_true", "y_pred"]
        else:
            arguments = [self.expr(depth) for _ in range(tensors)]
        for option in options:
            if self.rng.random() < 0.3:
                values = OPTION_VALUES if self.hostile else VALID_OPTIONS.get(option, ["1"])
                arguments.append(f"{option}={self.pick(values)}")
        if self.odd(0.05):
            arguments.append(f"{self.pick(['axes', 'ord', 'x'])}={self.pick(OPTION_VALUES)}")
        return f"{name}({', '.join(arguments)}{self.pick(['', '', ','])})"

    def count(self, depth: int) -> int:
        if depth >= self.max_depth or self.budget <= 0:
            return 0
        return self.pick([0, 0, 0, 1, 1, 2, 3])


def derive(rng: random.Random, max_depth: int = 6, hostile: bool = True) -> str:
    """A random derivation of the grammar's start rule."""
    return Deriver(rng, max_depth, hostile).start()


def tokens(text: str) -> list[str]:
    """The text cut into tokens and the whitespace between them (joined, they give the text back)."""
    return TOKEN.findall(text)


def mutate(rng: random.Random, text: str) -> str:
    """``text`` damaged by one to three random mutations."""
    for _ in range(rng.randint(1, 3)):
        text = MUTATIONS[rng.randrange(len(MUTATIONS))](rng, text)
    return text


TOKEN_EDITS = ("drop", "swap", "duplicate", "replace")


def edit_tokens(parts: list[str], action: str, i: int, j: int, replacement: str) -> None:
    """One edit in place: drop token i, swap it with token j, insert a copy of it at j, or replace it."""
    if action == "drop":
        del parts[i]
    elif action == "swap":
        parts[i], parts[j] = parts[j], parts[i]
    elif action == "duplicate":
        parts.insert(j, parts[i])
    else:
        parts[i] = replacement


def _token_edit(rng: random.Random, text: str) -> str:
    parts = tokens(text) or [""]
    edit_tokens(parts, rng.choice(TOKEN_EDITS), rng.randrange(len(parts)), rng.randrange(len(parts)),
                rng.choice(REPLACEMENTS))
    return "".join(parts)


def _insert(text: str, position: int, piece: str) -> str:
    return text[:position] + piece + text[position:]


def _random_characters(rng: random.Random, text: str) -> str:
    piece = "".join(rng.choice(ODD_CHARACTERS) if rng.random() < 0.5 else chr(rng.randrange(0x110000))
                    for _ in range(rng.randint(1, 4)))
    return _insert(text, rng.randint(0, len(text)), piece)


def _random_bytes(rng: random.Random, text: str) -> str:
    raw = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return _insert(text, rng.randint(0, len(text)), raw.decode("latin-1"))


def _huge_number(rng: random.Random, text: str) -> str:
    parts = tokens(text)
    numbers = [i for i, part in enumerate(parts) if part[:1].isdigit() or part[:1] == "."]
    if numbers:
        parts[rng.choice(numbers)] = rng.choice(HUGE_NUMBERS)
        return "".join(parts)
    return f"{rng.choice(HUGE_NUMBERS)} * ({text})"


def _deep_nesting(rng: random.Random, text: str) -> str:
    n = rng.choice([10, 63, 64, 65, 100, 1000, 5000])
    wrap = rng.choice(["parens", "calls", "unary", "power", "brackets", "unclosed", "terms"])
    if wrap == "parens":
        return "(" * n + text + ")" * n
    if wrap == "calls":
        return "exp(" * n + text + ")" * n
    if wrap == "unary":
        return "-" * n + "(" + text + ")"
    if wrap == "power":
        return "a**" * n + "(" + text + ")"
    if wrap == "brackets":
        return "L1.kernel" + "[0]" * n
    if wrap == "unclosed":
        return "(" * n + text
    return "\n".join(f"t{i} = exp(t{i - 1})" if i else f"t0 = {'exp(' * 40}a{')' * 40}"
                     for i in range(min(n, 300))) + f"\nt{min(n, 300) - 1} + ({text})"


def _long_name(rng: random.Random, text: str) -> str:
    name = rng.choice("abL_") + rng.choice(["a", "x1", "_"]) * rng.choice([100, 10_000, 49_000])
    parts = tokens(text)
    names = [i for i, part in enumerate(parts) if part[:1].isalpha()]
    if names and rng.random() < 0.7:
        parts[rng.choice(names)] = name
        return "".join(parts)
    return f"{text} + norm({name}.kernel)"


def _repeat(rng: random.Random, text: str) -> str:
    count = min(rng.choice([2, 10, 100, 2000]), 120_000 // (len(text) + 1) + 1)  # just past MAX_SOURCE_CHARS
    return rng.choice([" + ", " * ", "\n", ";"]).join([text] * count)


def _truncate(rng: random.Random, text: str) -> str:
    return text[:rng.randint(0, len(text))]


MUTATIONS = [_token_edit, _token_edit, _token_edit, _random_characters, _random_bytes, _huge_number,
             _deep_nesting, _long_name, _repeat, _truncate]


# ---------------------------------------------- the command line's other inputs: shapes and Python files
def hostile_shapes_text(rng: random.Random) -> str:
    """A ``--shapes`` file: a valid table, JSON nested past the parser's recursion, numbers of thousands of
    digits, or JSON-like noise."""
    roll = rng.random()
    if roll < 0.25:
        return json.dumps({rng.choice(REFERENCES): [rng.choice([None, 0, 1, 16, -1, 2.5, "x", True, 10**30])
                                                    for _ in range(rng.randint(0, 3))] for _ in range(3)})
    if roll < 0.5:
        depth = rng.choice([10, 999, 2000, 100_000])
        return rng.choice(["[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth, "[" * depth])
    if roll < 0.7:
        return '{"L1.kernel": [' + "9" * rng.choice([18, 19, 4300, 4301, 5000]) + "]}"
    return "".join(rng.choice('{}[]",:0123456789-eE.nul ') for _ in range(rng.randint(0, 200)))


def hostile_python_text(rng: random.Random) -> str:
    """A Python file for ``lossdsl lint``: a module calling lossdsl.check, or one nested past Python's parser
    (a long sum, a run of unary minus signs, deep brackets), or Python-like noise."""
    n = rng.choice([10, 1000, 3000, 200_000])
    shape = rng.choice(["module", "sum", "minus", "parens", "lists", "noise"])
    if shape == "module":
        return f"import lossdsl\nlossdsl.check({derive(rng, max_depth=3)!r})\n"
    if shape == "sum":
        return "x = " + "+".join(["1"] * min(n, 5000))
    if shape == "minus":
        return "x = " + "-" * n + "1"
    if shape in ("parens", "lists"):
        opening, closing = ("(", ")") if shape == "parens" else ("[", "]")
        return "x = " + opening * min(n, 5000) + closing * min(n, 5000)
    return "".join(rng.choice("import lossdsl.check()'\"\n x=+-[]{}:#\\\x00") for _ in range(rng.randint(0, 200)))


def read_as_input_file(kind: str, text: str):
    """``text`` read as the command line reads a shapes file (kind "shapes") or a Python file ("python"):
    the table or the lint target, or the InputError it was refused with."""
    from lossdsl.cli.inputs import InputError, load_shapes
    from lossdsl.cli.main import python_target
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("shapes.json" if kind == "shapes" else "module.py")
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            return load_shapes(str(path)) if kind == "shapes" else python_target(path)
        except InputError as error:
            return error
