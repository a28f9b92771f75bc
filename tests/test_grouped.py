"""One warning per code, not one per finding, and excerpts of long lines cut around the span (issue 11 item 16).

A formula with 100 unconstrained weights ``c0..c99`` on one 1,300-character line printed 100 W401
warnings at compile/attach, each with a 3-line excerpt of the whole line.
"""

import json
import warnings

import keras
import pytest

import lossdsl
from lossdsl.cli.main import main
from lossdsl.language.source import Source, Span

HUNDRED = "mse(y_true, y_pred) + " + " + ".join(f"c{i}*norm(L1.kernel)" for i in range(100))


def model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


def test_compile_says_each_code_once_naming_every_place():
    found = lossdsl.check(HUNDRED)
    codes = list(dict.fromkeys(d.code for d in found))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lossdsl.compile(HUNDRED, model())
    said = [str(w.message) for w in caught if issubclass(w.category, lossdsl.LossWarning)]
    assert len(said) == len(codes)
    for code, text in zip(codes, said):
        mine = [d for d in found if d.code == code]
        assert code in text.splitlines()[0]
        for d in mine:  # every place, by line and column, with its message
            assert f"{d.position.line}:{d.position.column}: {d.message}" in text
        assert text.count("hint") <= 3
        assert max(map(len, text.splitlines())) <= max(200, max(len(d.message) for d in mine) + 20)


def test_lint_text_groups_by_code_and_json_keeps_one_record_per_finding(capsys):
    found = lossdsl.check(HUNDRED)
    main(["lint", HUNDRED])
    text = capsys.readouterr().out
    assert sum(line.startswith("<") for line in text.splitlines()) == len({d.code for d in found})
    main(["lint", "--format", "json", HUNDRED])
    records = json.loads(capsys.readouterr().out)
    assert [(r["code"], r["line"], r["column"]) for r in records] == \
        [(d.code, d.position.line, d.position.column) for d in found]


def test_one_or_two_findings_of_a_code_read_as_before():
    from lossdsl.language.grouped import render_grouped
    for text in ("mse(y_true, y_pred) - 2*p", "mse(y_true, y_pred) - 2*p - 3*q"):
        found = [d for d in lossdsl.check(text) if d.code == "W401"]
        assert render_grouped(found, Source(text)) == [lossdsl.render_text(found, Source(text))]


LINE = "".join(f"{i % 10}" for i in range(400))  # the character at offset i is str(i % 10)

# (line, span, width) -> the excerpt's two lines (each after its 2-space indent)
EXCERPTS = [
    ("norm(x)", Span(5, 6), 160, ("norm(x)", "     ^")),
    (LINE[:160], Span(150, 152), 160, (LINE[:160], " " * 150 + "^^")),  # fits: not cut
    (LINE, Span(0, 3), 20, (LINE[:20] + "...", "^^^")),  # cut on the right only
    (LINE, Span(398, 400), 20, ("..." + LINE[380:], " " * 21 + "^^")),  # cut on the left only
    (LINE, Span(200, 203), 20, ("..." + LINE[195:215] + "...", " " * 8 + "^^^")),  # both sides
    (LINE, Span(200, 300), 20, ("..." + LINE[195:215] + "...", " " * 8 + "^" * 15)),  # span longer than shown
]


@pytest.mark.parametrize("line, span, width, expected", EXCERPTS)
def test_excerpts_of_long_lines_are_cut_around_the_span_with_visible_marks(line, span, width, expected):
    shown, carets = Source(line).excerpt(span, max_width=width).splitlines()
    assert (shown[2:], carets[2:]) == expected
