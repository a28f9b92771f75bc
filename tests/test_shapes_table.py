"""Static shapes from a table of reference shapes (no model, no TensorFlow): E3xx and E215."""

import re

import pytest

import lossdsl
from lossdsl.analysis.shapes import infer_shapes

SHAPES = {
    "L1.kernel": [10, 16], "L1.bias": [16], "L2.kernel": [16, 4], "L2.bias": [4], "L3.kernel": [3, 3, 8],
    "sq.kernel": [8, 8], "rows.kernel": [None, 8], "y_true": [None, 4], "y_pred": [None, 4],
}

# (source, code, line, column, words the message or hint must contain)
SHAPE_ERRORS = [
    # elementwise operands that do not broadcast
    ("norm(L1.kernel + L2.kernel)", "E301", 1, 6, "(10, 16) and (16, 4) do not broadcast"),
    ("norm(L1.bias * L2.bias)", "E301", 1, 6, "(16,) and (4,)"),
    ("sum(L1.kernel - L2.bias)", "E301", 1, 5, "(10, 16) and (4,)"),
    ("mse(y_true, y_pred) + norm(y_pred - L1.bias)", "E301", 1, 28, "(None, 4) and (16,)"),
    ("dot(L1.bias, L2.bias)", "E301", 1, 1, "do not broadcast"),
    ("cosine(L1.kernel, L2.kernel)", "E301", 1, 1, "do not broadcast"),
    # the batch (None) against a fixed size would work for one batch size only (a TF error at run time)
    ("norm(L2.kernel + y_pred)", "E301", 1, 6, "known only at run time"),
    ("norm(sq.kernel / sum(y_true[:, :2], axis=1))", "E301", 1, 6, "(8, 8) and (None,)"),
    # matrix products
    ("norm(L1.kernel @ L1.kernel)", "E302", 1, 6, "inner dimensions 16 and 10 differ"),
    ("norm(L1.kernel @ L2.kernel @ L1.kernel)", "E302", 1, 6, "(10, 4) @ (10, 16)"),
    ("norm(L1.bias @ L2.bias)", "E302", 1, 6, "16 and 4 differ"),
    ("norm(2 @ L1.kernel)", "E302", 1, 6, "use * to scale by a scalar"),
    ("norm(y_pred.T @ L2.kernel.T)", "E302", 1, 6, "inner dimensions None and 4 differ"),
    # sparse_cce takes class indices: the predictions' shape without the class axis
    ("sparse_cce(y_true, y_pred)", "E308", 1, 1, "class indices of shape (None,) for predictions (None, 4)"),
    ("sparse_cce(y_true[:, 0], y_pred[:, 0])", "E308", 1, 1, "got (None,)"),
    ("sparse_cce(y_true[:, 0], 2)", "E308", 1, 1, "predictions with a class axis"),
    # the loss must be a scalar
    ("L1.kernel", "E303", 1, 1, "the loss has shape (10, 16)"),
    ("L1.kernel @ L2.kernel", "E303", 1, 1, "(10, 4)"),
    ("t = norm(L1.kernel, axis=0)\nt", "E303", 2, 1, "(16,)"),
    ("y_pred", "E303", 1, 1, "(None, 4)"),
    # .T needs a matrix
    ("norm(L1.bias.T)", "E304", 1, 6, "got shape (16,)"),
    ("norm(L3.kernel.T)", "E304", 1, 6, "(3, 3, 8)"),
    ("norm(a.T)", "E304", 1, 6, "scalar ()"),
    # axes and indices out of range
    # (the span is the axis or subscript at fault)
    ("sum(L1.kernel, axis=2)", "E305", 1, 16, "valid axes are -2..1"),
    ("sum(L1.kernel, axis=-3)", "E305", 1, 16, "axis -3"),
    ("sum(L1.kernel, 2)", "E305", 1, 16, "axis 2"),
    ("norm(L1.bias, axis=1)", "E305", 1, 15, "valid axes are -1..0"),
    ("norm(L1.kernel[:, 1:3], 2,\n     -3)", "E305", 2, 6, "axis -3"),
    ("mean(a, axis=0)", "E305", 1, 9, "a scalar has no axes"),
    ("L1.bias[16]", "E306", 1, 9, "valid indices are -16..15"),
    ("L1.bias[-17]", "E306", 1, 9, "index -17"),
    ("L1.bias[0, 0]", "E306", 1, 12, "2 indices for shape (16,)"),
    ("sum(L1.kernel[:, ::0])", "E306", 1, 18, "step cannot be zero"),
    ("sum(y_pred[:, ::0])", "E306", 1, 15, "step cannot be zero"),
    # I needs a square matrix beside it
    ("norm(I)", "E307", 1, 1, "I has no size here"),
    ("I", "E307", 1, 1, "eye(n)"),
    ("norm(L1.kernel - I)", "E307", 1, 6, "cannot be sized from (10, 16)"),
    ("norm(y_pred * I)", "E307", 1, 6, "cannot be sized from (None, 4)"),
    ("norm(L1.bias - I)", "E307", 1, 6, "(16,)"),
    ("norm(I + 1)", "E307", 1, 6, "no size"),
    ("trace(I)", "E307", 1, 1, "no size"),
    ("norm(I @ I)", "E307", 1, 6, "no size"),
    # rank a function needs
    ("trace(L1.bias)", "E308", 1, 1, "trace() needs rank 2"),
    ("sum(diag(L3.kernel))", "E308", 1, 5, "rank 1 or 2"),
    # references the table does not know
    ("norm(L9.kernel)", "E215", 1, 6, "no shape is known for 'L9.kernel'"),
    ("norm(L1.kernle)", "E215", 1, 6, "did you mean 'L1.kernel'?"),
]


@pytest.mark.parametrize("source, code, line, column, words", SHAPE_ERRORS,
                         ids=[case[0][:40] for case in SHAPE_ERRORS])
def test_shape_error(diagnose, source, code, line, column, words):
    located, found = diagnose(source, shapes=SHAPES)
    assert located == [(code, line, column)]
    assert words in f"{found[0].message} {found[0].hint}"
    assert found[0].hint


@pytest.mark.parametrize("source", [
    "norm(L1.kernel.T @ L1.kernel - I)",
    "norm(sq.kernel - 2*I) + norm(-I + sq.kernel) + norm(sq.kernel - I/2) + norm(sq.kernel - a*I)",
    "norm(I @ sq.kernel) + norm(L1.kernel @ I) + norm(sq.kernel * I)",
    "norm(L2.kernel.T @ L1.kernel.T)",
    "sum(rows.kernel @ sq.kernel)",
    "norm(y_pred.T @ y_true) + mean(y_pred * y_true) + norm(y_pred - L2.bias)",
    "sparse_cce(y_true[:, 0], y_pred) + sparse_cce(y_true[:, :1], y_pred, from_logits=1)",
    "mse(y_true, y_pred) + mean(y_pred[:, 0])",
    "trace(sq.kernel) + sum(diag(L1.bias)) + sum(L1.kernel[0, 2:5]) + sum(L1.kernel[::-1])",
    "norm(L1.kernel, axis=0) @ L1.kernel[0]",
    "dot(L1.kernel @ L2.kernel, L2.bias)",
])
def test_shapes_that_agree(diagnose, source):
    assert diagnose(source, shapes=SHAPES)[0] == []


def test_one_mistake_per_statement_is_reported_once_each(diagnose):
    located, _ = diagnose("norm(L1.kernel + L2.kernel) + norm(L1.bias @ L2.bias)", shapes=SHAPES)
    assert located == [("E301", 1, 6), ("E302", 1, 36)]


def test_shapes_need_a_table():
    assert lossdsl.check("L1.kernel") == []  # without shapes, no shape can be wrong


@pytest.mark.parametrize("table, message", [
    (5, "shapes must map reference text to a shape"),
    ({"L1.kernel": "10x16"}, "shapes['L1.kernel'] = '10x16' is not a shape"),
    ({"L1.kernel": [10, -1]}, "shapes['L1.kernel'] = [10, -1] is not a shape"),
    ({"L1.kernel": [10.0, 16]}, "shapes['L1.kernel'] = [10.0, 16] is not a shape"),
    ({"L1.kernel": [True]}, "is not a shape"),
    ({1: [10, 16]}, "shapes[1] = [10, 16] is not a shape"),
])
def test_a_malformed_table_is_a_type_error_naming_the_entry(table, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        lossdsl.check("norm(L1.kernel)", shapes=table)


def test_tuples_and_unknown_shapes_are_tables_too():
    assert [d.code for d in lossdsl.check("norm(L1.kernel @ L2.kernel)", shapes={"L1.kernel": (10, 16),
                                                                               "L2.kernel": None})] == []


@pytest.mark.parametrize("source, expected", [
    ("t = L1.kernel @ L2.kernel\nu = sum(t, axis=0)\nnorm(u)", {"t": (10, 4), "u": (4,), "": ()}),
    ("p = y_pred[:, 1:3]\nmean(p)", {"p": (None, 2), "": ()}),
    ("d = diag(L1.bias)\nk = L1.kernel.T[::2]\ntrace(d) + sum(k)", {"d": (16, 16), "k": (8, 10), "": ()}),
    ("g = sq.kernel - I\nnorm(g)", {"g": (8, 8), "": ()}),
    ("e = eye(3)\nm = L3.kernel @ sq.kernel\nsum(m) + sum(e)", {"e": (3, 3), "m": (3, 3, 8), "": ()}),
])
def test_inferred_shapes_of_terms(source, expected):
    shapes, problems = infer_shapes(lossdsl.parse(source), SHAPES)
    assert problems == []
    assert shapes == expected
