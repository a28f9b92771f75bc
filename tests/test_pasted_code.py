"""E112: TensorFlow and Keras code pasted into a formula gets told what to write instead."""

import pytest

import lossdsl
from lossdsl.language.source import Source

# (formula, [(line, column, hint)]) — every finding is E112
PASTED = [
    ("tf.norm(model.layers[2].kernel)", [(1, 1, "write norm(...)"), (1, 9, "write L2")]),
    ("tf.reduce_sum(tf.square(model.get_layer('dense').kernel))",
     [(1, 1, "write sum(...)"), (1, 15, "write square(...)"), (1, 25, "write dense, the layer's name")]),
    ("tf.reduce_mean(x) + tf.math.reduce_max(y)", [(1, 1, "write mean(...)"), (1, 21, "write max(...)")]),
    ("mse(y_true, y_pred)\n+ 0.1 * tf.linalg.matmul(a, b)", [(2, 9, "write A @ B")]),
    ("norm(model.get_layer(name=\"dense-1\").kernel)", [(1, 6, "write `dense-1`, the layer's name")]),
    ("tf.einsum('ij->', W)", [(1, 1, "the formula's function for it")]),
    ("norm(self.model.layers[0].kernel)", [(1, 6, "write L0")]),
]


@pytest.mark.parametrize("text, expected", PASTED)
def test_pasted_tensorflow_is_told_what_to_write(text, expected):
    found = lossdsl.check(text)
    source = Source(text)
    assert [(d.code, *vars(source.position(d.span.start)).values()) for d in found] == [
        ("E112", line, column) for line, column, _ in expected]
    for diagnostic, (*_, hint) in zip(found, expected):
        assert hint in diagnostic.hint


@pytest.mark.parametrize("text, code", [
    ("norm(L2.kernel) + tf", None),            # a parameter named tf is valid: nothing pasted is reported
    ("norm(tf.kernel)", None),                 # a layer named tf, likewise
    ("norm(tf.kernel) + (", "E101"),           # ... even beside an error: only calls of tf.<name> are code
    ("nrom(L2.kernel)", "E201"),               # other errors keep their own messages
    ("a*norm(L0.kernel", "E101"),
])
def test_formulas_without_pasted_code_keep_their_diagnostics(text, code):
    assert [d.code for d in lossdsl.check(text) if d.is_error][:1] == ([code] if code else [])


def test_the_cli_shows_the_replacement(capsys):
    from lossdsl.cli import main
    assert main(["lint", "tf.norm(model.layers[2].kernel)"]) == 1
    out = capsys.readouterr().out
    assert "<arg1>:1:9: E112 'model.layers[2]' is Keras code" in out and "hint: write L2" in out
