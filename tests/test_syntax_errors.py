"""Text that is not a formula: each gets one syntax diagnostic (E1xx) at the right line and column."""

import pytest

from lossdsl import CODES
from lossdsl.language.extent import MAX_EXPANDED_NODES
from lossdsl.language.parser import MAX_TOKENS

# The limits move as the front end gets faster: the inputs below are sized from them.
DOUBLING = (MAX_EXPANDED_NODES + 1).bit_length() - 1  # the first t<k> = t<k-1> + t<k-1> over the node limit

# (source, code, line, column, words the message or hint must contain)
SYNTAX_ERRORS = [
    # unbalanced brackets: an unclosed one is reported at its opener
    ("norm(L0.kernel", "E101", 1, 5, "'(' is never closed"),
    ("norm(\n  L1.kernel\n", "E101", 1, 5, "add the missing ')'"),
    ("a + )", "E101", 1, 5, "')' has no matching '('"),
    ("a)", "E101", 1, 2, "no matching"),
    ("(a]", "E101", 1, 1, "']' closes the '(' opened earlier"),
    ("sum(L1.kernel[0)", "E101", 1, 14, "close '[' with ']'"),
    ("a / )", "E101", 1, 5, "no matching"),
    # missing operands and trailing operators
    ("a * * b", "E102", 1, 5, "missing operand before '*'"),
    ("* a", "E102", 1, 1, "missing operand"),
    ("norm(, x)", "E102", 1, 6, "missing operand before ','"),
    ("x[]", "E102", 1, 3, "missing operand before ']'"),
    ("a +", "E103", 1, 3, "'+' has nothing after it"),
    ("a @ ", "E103", 1, 3, "'@' has nothing after it"),
    ("a +\n b", "E103", 1, 3, "wrap the expression in parentheses"),
    ("t = \n a", "E103", 1, 3, "'=' has nothing after it"),
    ("a\nwhere a,", "E103", 2, 8, "add the next declaration"),
    # ^ is not a power
    ("a ^ 2", "E104", 1, 3, "use ** for powers"),
    ("a**2 ^ b", "E104", 1, 6, "**"),
    # empty formulas
    ("", "E105", 1, 1, "empty"),
    ("\n\n", "E105", 1, 1, "empty"),
    ("   # only a comment\n;", "E105", 1, 1, "empty"),
    # characters that are never part of a formula
    ("'x'", "E108", 1, 1, "strings are not part of the formula language"),
    ('norm("dense".kernel)', "E108", 1, 6, "backticks"),
    ("a\x00b", "E108", 1, 2, "U+0000"),
    ("a × b", "E108", 1, 3, "U+00D7"),
    ("α + 1", "E108", 1, 1, "U+03B1"),
    ("a\u200bb", "E108", 1, 2, "U+200B"),
    ("a $ b", "E100", 1, 3, "unexpected character '$'"),
    ("`dense-1.kernel", "E100", 1, 1, "backtick name is not closed"),
    # statements out of place
    ("a;b", "E109", 1, 3, "only the last statement may be the loss"),
    ("a\nb", "E109", 2, 1, "only the last statement may be the loss"),
    ("where a: positive = 1", "E109", 1, 1, "'where' declarations must come after the loss"),
    ("a\nwhere a: positive\nb", "E109", 3, 1, "nothing may follow the 'where' declarations"),
    ("a\nwhere a: positive; b", "E109", 2, 20, "nothing may follow"),
    ("t = norm(L1.kernel)", "E109", 1, 1, "no loss"),
    ("t = 1\nwhere t: real", "E109", 1, 1, "no loss"),
    ("1 = 2\n3", "E109", 1, 3, "'=' names a term"),
    # other unexpected tokens
    ("a b", "E100", 1, 3, "missing operator before 'b'"),
    ("norm(x) norm(y)", "E100", 1, 9, "use * to multiply"),
    ("2(a)", "E100", 1, 2, "missing operator before '('"),
    ("a,b", "E100", 1, 2, "commas separate the arguments of a call"),
    ("a..b", "E100", 1, 3, "expected a `backtick name` or a name"),
    ("x[1:2:3:4]", "E100", 1, 8, "expected ',' or ']'"),
    ("sum(x, axis=(0 1))", "E100", 1, 16, "missing operator before '1'"),
    ("a\nwhere 3", "E100", 2, 7, "expected a name"),
    ("a\nwhere a: (0 1)", "E100", 2, 13, "expected ','"),
    ("a\nwhere a: positive = x", "E100", 2, 21, "expected a number or inf"),
    ("a\nwhere a:", "E100", 2, 9, "ends too early"),
    # numbers beyond the float range
    ("1e999", "E110", 1, 1, "too large for float32"),
    ("a * 1" + "0" * 400, "E110", 1, 5, "too large"),
    ("a\nwhere a: positive = 1e999", "E110", 2, 21, "too large"),
    ("a\nwhere a: (0, 1e400)", "E110", 2, 14, "too large"),
    # resource limits
    ("(" * 10000 + "a" + ")" * 10000, "E106", 1, 65, "nested more than 64"),
    ("-" * 70 + "a", "E106", 1, 66, "nested more than 64"),
    ("x" + ".T" * 65, "E106", 1, 1, "nested more than 64"),
    ("a" * 100_001, "E107", 1, 100_001, "the limit is 100,000"),
    ("+".join(["a"] * (MAX_TOKENS // 2 + 1)), "E107", 1, MAX_TOKENS + 1,
     f"{MAX_TOKENS + 1:,} tokens; the limit is {MAX_TOKENS:,}"),
    # ... and with the named terms written out: a chain of terms nests, a doubling chain explodes
    ("\n".join(["t0 = exp(a)"] + [f"t{i} = exp(t{i - 1})" for i in range(1, 200)]) + "\nt199",
     "E106", 160, 8, "term 't159' is nested 161 levels deep"),
    ("\n".join(["t0 = a"] + [f"t{i} = t{i - 1} + t{i - 1}" for i in range(1, 40)]) + "\nt39",
     "E107", DOUBLING + 1, 7, f"term 't{DOUBLING}' has {2 ** (DOUBLING + 1) - 1:,} nodes"),
]


@pytest.mark.parametrize("source, code, line, column, words", SYNTAX_ERRORS,
                         ids=[repr(case[0][:30]) for case in SYNTAX_ERRORS])
def test_syntax_error(diagnose, source, code, line, column, words):
    located, found = diagnose(source)
    assert located == [(code, line, column)]
    assert words in f"{found[0].message} {found[0].hint}"
    assert found[0].hint  # every syntax error says how to fix it
    assert code in CODES


@pytest.mark.parametrize("source", [
    "(" * 64 + "a" + ")" * 64,
    "norm(" * 64 + "L1.kernel" + ")" * 64,
    "-" * 64 + "a",
    "**".join(["a"] * 65),
    "a" + ".T" * 64,
    " + ".join(["a"] * (MAX_TOKENS // 2)),  # chains are flat: length is not depth
])
def test_nesting_up_to_the_limit_is_accepted(diagnose, source):
    assert diagnose(source)[0] == []


@pytest.mark.parametrize("source", [
    "a  # a comment may hold anything: é, ', \", ^, \x00",
    "norm(`dénse-1`.kernel)",
    "norm(`dense 1`.kernel)",
    "a  # ; where b",
])
def test_comments_and_backtick_names_may_hold_any_character(diagnose, source):
    assert diagnose(source)[0] == []
