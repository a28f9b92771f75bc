"""The parser builds the formula while it parses: nesting is measured without a tree, the where clauses are
read before the statements that use them, separators the grammar need not see are blanked out, and every
thread parses with its own parser."""

import random
import threading

import pytest
from sympy import Symbol

import lossdsl
from lossdsl.language.builder import FormulaBuilder, build_formula
from lossdsl.language.frontend import analyze
from lossdsl.language.parser import MAX_NESTING, _check_depth, scan, tree_parser
from lossdsl.language.source import Span

from grammar_formulas import derive

# ------------------------------------------------------------------------- nesting, measured while parsing
#: One level of nesting each, wrapped around a formula: the constructs that nest without brackets, and some
#: that do (at most MAX_NESTING of those fit). ``{}`` is the inner formula.
LEVELS = ["-{}", "-({})", "exp({})", "({}).T", "({})**2", "2**{}", "({})[0]", "({})[0:1]", "s @ ({}) * b",
          "a - ({})", "maximum(a, y=({}))", "({}) / c", "t0 + ({}) * u", "({}) * c * d / e", "({}) @ W.kernel @ V"]


def wrapped(rng: random.Random, levels: int, inner: str) -> str:
    """``inner`` inside ``levels`` random constructs, brackets kept within MAX_NESTING."""
    text, brackets = inner, inner.count("(")
    for _ in range(levels):
        level = rng.choice([w for w in LEVELS if brackets + w.count("(") <= MAX_NESTING] or ["-{}"])
        text, brackets = level.format(text), brackets + level.count("(")
    return text


def nested_too_deep_by_tree(text: str) -> bool:
    """The reference: the depth walk over lark's tree, as the parser did before it built while parsing."""
    return bool(_check_depth(tree_parser().parse(scan(text).lexed, start="start")))


INNER = ["x", "2", "norm(L1.kernel)", "a * b", "x[0]", "sub.dense1.kernel", "(a + b) * c", "mean(x, axis=0)"]


def deep_formulas(seed: int, count: int = 25) -> list[str]:
    """Formulas around the nesting limit: some constructs add one level, some two."""
    rng = random.Random(seed)
    texts = [wrapped(rng, rng.randrange(MAX_NESTING // 2, MAX_NESTING + 3), rng.choice(INNER)) for _ in range(count)]
    return [f"t = {text}\nt" if rng.random() < 0.5 else text for text in texts]  # a term is a level deeper


@pytest.mark.parametrize("seed", range(8))
def test_nesting_measured_while_parsing_agrees_with_the_tree(seed):
    verdicts = []
    for text in deep_formulas(seed):
        formula, diagnostics = analyze(text)
        codes = [d.code for d in diagnostics if d.is_error]
        assert (formula, codes) in ((None, ["E106"]), (formula, [])) and (formula is None) == bool(codes), text
        assert bool(codes) == nested_too_deep_by_tree(text), text
        verdicts.append(bool(codes))
    assert 0 < sum(verdicts) < len(verdicts)  # both sides of the limit are tried


@pytest.mark.parametrize("source, code, column", [
    ("-" * MAX_NESTING + "a", None, None),
    ("-" * (MAX_NESTING + 1) + "a", "E106", MAX_NESTING + 2),
    ("t = " + "-" * (MAX_NESTING - 1) + "a\nt", None, None),
    ("t = " + "-" * MAX_NESTING + "a\nt", "E106", MAX_NESTING + 5),
    ("x" + ".T" * MAX_NESTING, None, None),
    ("x" + ".T" * (MAX_NESTING + 1), "E106", 1),
    ("(" * MAX_NESTING + "-" * 2 + "a" + ")" * MAX_NESTING, None, None),  # parentheses add no level
    ("exp(" * (MAX_NESTING - 1) + "--a" + ")" * (MAX_NESTING - 1), "E106", 4 * (MAX_NESTING - 1) + 3),
])
def test_nesting_at_and_beyond_the_limit(source, code, column):
    formula, diagnostics = analyze(source)
    found = [(d.code, lossdsl.Source(source).position(d.span.start).column) for d in diagnostics if d.is_error]
    assert found == ([] if code is None else [(code, column)])
    assert (formula is None) == (code is not None)


# ------------------------------------------------------------------------- declarations first
@pytest.mark.parametrize("source, symbol", [
    ("a * norm(L1.kernel)\nwhere a: positive", Symbol("a", positive=True)),
    ("t = a * norm(L1.kernel)\nt + a\nwhere a: nonneg = 2", Symbol("a", nonnegative=True)),
    ("a * norm(L1.kernel); where a: (-2, -1)", Symbol("a", negative=True)),
    ("2where a: positive", None),  # 'where' right after a number is still the keyword: a is unused
])
def test_a_where_clause_types_the_uses_before_it(source, symbol):
    formula = lossdsl.parse(source)
    assert set(formula.expr.free_symbols) - {formula.references[r].symbol for r in formula.references} == \
        ({symbol} if symbol is not None else set()) | ({Symbol("t", nonnegative=True)} if "t =" in source else set())


def test_a_where_clause_the_scan_did_not_find_is_read_before_building_again():
    text = "a * norm(L1.kernel)\nwhere a: positive"
    formula, diagnostics = FormulaBuilder().build(scan(text), where=None)
    assert formula.expr == lossdsl.parse(text).expr and diagnostics == []
    assert formula.params["a"].kind == "positive"


# ------------------------------------------------------------------------- separators blanked before parsing
@pytest.mark.parametrize("source", [
    "norm(L1.kernel  # the first layer\n     + L2.kernel)",
    "norm(L1.kernel\r\n + L2.kernel)",
    "\n\n;; a\n\n\n;\n",
    "t = a;;; t + b\n\n# the end\n",
    "mean(L1.kernel[0,\n 1:3])",
    "norm(L1.`T`\n)",  # a closed backtick name right before a line break
])
def test_separators_that_mean_nothing(source):
    assert [d.code for d in lossdsl.check(source) if d.is_error] == []


@pytest.mark.parametrize("source, code, span", [
    ("norm(a;\n; b)", "E100", Span(6, 7)),  # inside brackets ';' is still a separator, a line break is not
    ("norm(a\n+ `b\n)", "E100", Span(9, 11)),  # an unclosed backtick name is reported where it starts
    ("norm(a # x\n + `b\n)", "E100", Span(14, 16)),
    ("f(``\n`x`)", "E100", Span(2, 4)),  # an empty one too
    ("a +\nb", "E103", Span(2, 3)),
])
def test_separators_that_are_errors(source, code, span):
    assert [(d.code, d.span) for d in lossdsl.check(source) if d.is_error] == [(code, span)]


# ------------------------------------------------------------------------- first occurrences
def test_a_repeated_reference_keeps_its_first_span():
    source = "norm(L9.kernel) + norm(exp(L9.kernel))"
    formula = lossdsl.parse(source)
    assert formula.references["L9.kernel"].span == Span(5, 14)
    assert formula.span_of(formula.references["L9.kernel"].symbol) == Span(5, 14)


# ------------------------------------------------------------------------- threads
def test_threads_build_the_same_formulas_as_one_thread():
    sources = [derive(random.Random(seed), max_depth=4, hostile=seed % 2 == 0) for seed in range(240)]
    expected = [_result(source) for source in sources]
    found: dict[int, list] = {}

    def parse_share(share: int) -> None:
        found[share] = [_result(source) for source in sources[share::4]]

    threads = [threading.Thread(target=parse_share, args=(share,)) for share in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for share in range(4):
        assert found[share] == expected[share::4]


def _result(source: str) -> tuple:
    formula, diagnostics = build_formula(source)
    if formula is None:
        return None, diagnostics
    return formula.expr, formula.terms, dict(formula.spans), diagnostics
