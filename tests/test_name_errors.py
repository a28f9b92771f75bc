"""Formulas that parse but misuse a name (E2xx), found without a model, at the right line and column."""

import pytest

import lossdsl
from lossdsl import CODES, Source

# (source, code, line, column, words the message or hint must contain)
NAME_ERRORS = [
    # unknown functions, with "did you mean" when a name is close
    ("nrom(L1.kernel)", "E201", 1, 1, "did you mean 'norm'?"),
    ("softplsu(L1.kernel)", "E201", 1, 1, "did you mean 'softplus'?"),
    ("a * sigmod(L1.kernel)", "E201", 1, 5, "did you mean 'sigmoid'?"),
    ("xyz(L1.kernel)", "E201", 1, 1, "unknown function 'xyz'"),
    ("I(3)", "E201", 1, 1, "eye(3)"),
    ("norm(L1(3))", "E201", 1, 6, "'L1' is a layer, not a function"),
    ("y_pred(0)", "E201", 1, 1, "not a function"),
    # wrong number of arguments
    ("norm()", "E202", 1, 1, "norm() is missing x"),
    ("norm(L1.kernel, 1, 2, 3)", "E202", 1, 23, "takes at most 3 argument(s), got 4"),
    ("mse(y_true)", "E202", 1, 1, "mse() is missing y_pred"),
    ("sum(clip(L1.kernel, 0))", "E202", 1, 5, "the signature is clip(x, lo, hi)"),
    ("norm(eye())", "E202", 1, 6, "eye() is missing n"),
    # unknown, repeated or misplaced keywords
    ("norm(L1.kernel, foo=1)", "E203", 1, 17, "'foo' is not an argument of norm()"),
    ("sum(L1.kernel, axes=0)", "E203", 1, 16, "did you mean 'axis'?"),
    ("norm(L1.kernel, ord=1, ord=2)", "E203", 1, 24, "'ord' is given twice"),
    ("norm(L1.kernel, 1, ord=2)", "E203", 1, 20, "'ord' is given twice"),
    ("norm(x=L1.kernel, 2)", "E203", 1, 19, "a positional argument follows a keyword argument"),
    # parameters declared twice, initial values outside the domain, unknown kinds
    ("a\nwhere a: real, a: positive", "E204", 2, 16, "first declared at line 2, column 7"),
    ("a\nwhere a: positive\nwhere a: nonneg", "E204", 3, 7, "declared twice"),
    ("a\nwhere a: positive = -1", "E205", 2, 21, "is not > 0"),
    ("a\nwhere a: positive = 0", "E205", 2, 21, "is not > 0"),
    ("a\nwhere a: nonneg = -0.5", "E205", 2, 19, "is not >= 0"),
    ("a\nwhere a: (0, 1) = 2", "E205", 2, 19, "is not inside (0, 1)"),
    ("a\nwhere a: (0, 1) = 0", "E205", 2, 19, "is not inside (0, 1)"),
    ("a\nwhere a: (1, 0)", "E205", 2, 10, "empty or unbounded"),
    ("a\nwhere a: (-inf, 0)", "E205", 2, 10, "empty or unbounded"),
    ("a\nwhere a: const", "E205", 2, 7, "needs a value"),
    ("a\nwhere a: positive = inf", "E205", 2, 21, "must be finite"),
    ("a\nwhere a: blah", "E206", 2, 10, "unknown parameter kind 'blah'"),
    ("a\nwhere a: posative", "E206", 2, 10, "did you mean 'positive'?"),
    ("a\nwhere a: interval", "E206", 2, 10, "(lo, hi)"),
    # named terms defined twice, used before their definition, or using themselves
    ("t = a\nt = b\nt", "E207", 2, 1, "term 't' is defined twice"),
    ("s = t\nt = 1\ns", "E207", 2, 1, "used at line 1, column 5 before it is defined"),
    ("t = t + 1\nt", "E207", 1, 5, "uses itself"),
    # reserved names
    ("y_true = 1\na", "E208", 1, 1, "reserved"),
    ("L0 = 1\na", "E208", 1, 1, "reserved"),
    ("I = 1\na", "E208", 1, 1, "reserved"),
    ("norm = 1\na", "E208", 1, 1, "a function"),
    ("a = 1\na\nwhere a: positive", "E208", 1, 1, "a parameter"),
    ("a\nwhere y_pred: real", "E208", 2, 7, "reserved"),
    ("a\nwhere pi: real", "E208", 2, 7, "reserved"),
    ("a\nwhere L3: real", "E208", 2, 7, "reserved"),
    ("a\nwhere I: real", "E208", 2, 7, "reserved"),
    ("a\nwhere sum: positive", "E208", 2, 7, "'sum' is a function"),
    # layers and functions used as values
    ("L1 + 1", "E212", 1, 1, "use one of its variables, for example L1.kernel"),
    ("norm(`dense-1`)", "E212", 1, 6, "`dense-1`.kernel"),
    ("norm(L1.T)", "E212", 1, 6, "'L1' is a layer"),
    ("norm", "E214", 1, 1, "call it: norm(...)"),
    ("mean(norm, 1)", "E214", 1, 6, "'norm' is a function, not a value"),
    # constant options and indices
    ("sum(L1.kernel[a])", "E213", 1, 15, "whole numbers"),
    ("sum(L1.kernel[0.5])", "E213", 1, 15, "whole numbers"),
    ("sum(L1.kernel[0:1.5])", "E213", 1, 15, "whole numbers"),
    ("norm(L1.kernel, ord=3)", "E213", 1, 17, "1, 2 or inf"),
    ("norm(L1.kernel, axis=0.5)", "E213", 1, 17, "integer axis"),
    ("norm(L1.kernel, axis=a)", "E213", 1, 17, "integer axis"),
    ("norm(eye(0))", "E213", 1, 10, "positive whole number"),
    ("norm(eye(2.0))", "E213", 1, 10, "positive whole number"),
    ("huber(y_true, y_pred, delta=0)", "E213", 1, 23, "positive number"),
    ("huber(y_true, y_pred, delta=inf)", "E213", 1, 23, "positive number"),
    ("bce(y_true, y_pred, from_logits=2)", "E213", 1, 21, "0 or 1"),
    # attributes of computed values
    ("norm((L1.kernel + L2.kernel).kernel)", "E216", 1, 30, "only .T (transpose) can"),
    ("norm(L1.kernel.T.bias)", "E216", 1, 18, "cannot follow a computed value"),
]


@pytest.mark.parametrize("source, code, line, column, words", NAME_ERRORS,
                         ids=[repr(case[0][:30]) for case in NAME_ERRORS])
def test_name_error(diagnose, source, code, line, column, words):
    located, found = diagnose(source)
    assert located == [(code, line, column)]
    assert words in f"{found[0].message} {found[0].hint}"
    assert found[0].hint
    assert code in CODES


def test_name_errors_are_all_collected(diagnose):
    located, _ = diagnose("nrom(L1.kernel) + L1 + norm(x, foo=1)\nwhere a: blah")
    assert located == [("E201", 1, 1), ("E212", 1, 19), ("E203", 1, 32), ("E206", 2, 10)]


def test_unknown_function_without_close_name_points_to_the_table(diagnose):
    _, found = diagnose("xyz(L1.kernel)")
    assert "did you mean" not in found[0].hint


@pytest.mark.parametrize("source, located", [
    ("a\nwhere a: positive, b: nonneg", [("W404", 2, 20)]),
    ("norm(L1.kernel)\nwhere a", [("W404", 2, 7)]),
])
def test_an_unused_declaration_is_a_warning(diagnose, source, located):
    assert diagnose(source)[0] == []
    unused = [d for d in lossdsl.check(source) if d.code == "W404"]
    positions = [Source(source).position(d.span.start) for d in unused]
    assert [(d.code, p.line, p.column) for d, p in zip(unused, positions)] == located
