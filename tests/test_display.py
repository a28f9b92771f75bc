"""How formulas and findings show in a terminal and a notebook: short reprs, line:column, LaTeX."""

import lossdsl


def test_a_diagnostic_reads_line_column_code_message():
    (found,) = lossdsl.check("a +\nnorm(L0.kernel")
    assert str(found) == "2:5: E101 '(' is never closed (hint: add the missing ')')"
    assert repr(found) == "<Diagnostic 2:5: E101 '(' is never closed>"
    assert repr(lossdsl.Diagnostic("W401", "unbounded", lossdsl.Span(3, 4))) == "<Diagnostic offsets 3-4: W401 unbounded>"


def test_a_loss_errors_diagnostics_know_their_lines():
    try:
        lossdsl.parse("data = mse(y_true, y_pred)\ndata ^ 2")
    except lossdsl.LossSyntaxError as error:
        assert [str(d) for d in error.diagnostics] == ["2:6: E104 '^' is not a power operator (hint: use ** for "
                                                        "powers, for example a**2)"]
    else:
        raise AssertionError("no LossSyntaxError")


def test_render_text_is_public_and_shows_the_caret():
    src = "a*norm(L0.kernel"
    assert lossdsl.render_text(lossdsl.check(src), lossdsl.Source(src)) == (
        "<formula>:1:7: E101 '(' is never closed\n  a*norm(L0.kernel\n        ^\n  hint: add the missing ')'")


def test_a_formula_shows_typeset_in_a_notebook_and_briefly_in_a_repr():
    formula = lossdsl.parse("data = mse(y_true, y_pred)\ndata + a * norm(L1.kernel)\nwhere a: positive = 0.5")
    assert formula._repr_latex_() == r"$\begin{aligned}" + formula.latex() + r"\end{aligned}$"
    assert repr(formula) == ("<Formula 'data = mse(y_true, y_pred)\\ndata + a * norm(L1.kernel)\\nwhere a: positive = 0.5'; "
                             "terms: data; params: a: positive = 0.5>")
    long = lossdsl.parse(" + ".join(f"norm(L{i}.kernel)" for i in range(100)))
    assert len(repr(long)) < 100 and "Span" not in repr(long)
