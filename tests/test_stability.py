"""The stability checks W401-W405: a table of formulas and the diagnostics they must give, each justified.

Diagnostics are compared as (code, line, column). W401/W405 point at a parameter (its declaration, or
its first use when implicit); W402/W403 at the log, sqrt or division at fault.
"""

import threading

import pytest

import lossdsl
from lossdsl import Source
from lossdsl.analysis.stability import check_stability

BOUNDEDNESS = ("W401", "W405")
DOMAIN = ("W402", "W403")


def found(src: str, codes: tuple = BOUNDEDNESS + DOMAIN) -> list[tuple[str, int, int]]:
    source = Source(src)
    positions = [(d.code, source.position(d.span.start)) for d in check_stability(lossdsl.parse(src))]
    return sorted((code, where.line, where.column) for code, where in positions if code in codes)


# Bounded below in every parameter: no W401 and no W405 (no false alarm), and no W402/W403 either. Formulas
# whose verdict changed with the joint analysis (SPEC §5.9: collapse, notes, blocks that move) are in
# test_joint_stability.py.
BOUNDED = [
    # an even power of a real parameter is >= 0
    "a**2*norm(W.kernel)",
    # a square
    "(a - 1)**2",
    # a polynomial: the leading term a**2 has a positive coefficient at both ends
    "a**2 - 2*a + norm(W.kernel)",
    # both weights of the convex combination lie in (0, 1)
    "a*mse(y_true, y_pred) + (1 - a)*mae(y_true, y_pred)\nwhere a: (0, 1)",
    # sigmoid(w) lies in (0, 1), so both weights are positive
    "sigmoid(w)*mse(y_true, y_pred) + (1 - sigmoid(w))*mae(y_true, y_pred)",
    # softplus is > 0
    "softplus(a)*norm(W.kernel)",
    # as a -> 0+, norm(W)/a -> +inf; as a -> inf, a grows
    "norm(W.kernel)/a + a\nwhere a: positive",
    # a*log(a) -> 0 as a -> 0+, and grows as a -> inf
    "a*log(a)\nwhere a: positive",
    # the two terms cancel
    "a*norm(W.kernel) - a*norm(W.kernel) + norm(V.kernel)",
    # log(sigmoid(a)) falls like a as a -> -inf, but a**2 grows faster
    "log(sigmoid(a)) + a**2",
    # exp(a) beats a as a -> inf; -a grows as a -> -inf
    "exp(a) - a",
    # a*a is a square even when written as a product
    "b*(a*a)\nwhere b: positive",
]


@pytest.mark.parametrize("src", BOUNDED)
def test_bounded_formulas_give_no_warning(src):
    assert found(src) == []


# Unbounded below: W401 at the parameter (line, column), each with the reason.
UNBOUNDED = [
    # the SPEC's divergence: a -> -inf takes a*norm(W) to -inf
    ("a*norm(L0.kernel) + norm(L1.kernel)", [("W401", 1, 1)]),
    ("mse(y_true, y_pred) + a*norm(L1.kernel)", [("W401", 1, 23)]),
    # -a**2*norm(W) falls at both ends
    ("-a**2*norm(W.kernel)", [("W401", 1, 2)]),
    # an odd power falls as a -> -inf
    ("a**3*norm(W.kernel)", [("W401", 1, 1)]),
    # log(a) -> -inf as a -> 0+; a declared parameter is shown at its declaration
    ("log(a)\nwhere a: positive", [("W401", 2, 7)]),
    # the sign of the uncertainty form flipped: -s -> -inf as s -> inf
    ("exp(-s)*mse(y_true, y_pred) - s", [("W401", 1, 6)]),
    # the weight b*norm(W) of a is negative for b < 0, and the other way round
    ("a*b*norm(W.kernel)", [("W401", 1, 1), ("W401", 1, 3)]),
    # sum(W) can be negative, and then a -> inf falls
    ("a*sum(L0.kernel)\nwhere a: positive", [("W401", 2, 7)]),
    # a difference of non-negative values can be negative
    ("a*(mse(y_true, y_pred) - norm(W.kernel))\nwhere a: positive", [("W401", 2, 7)]),
    # log(sigmoid(a)) behaves like a as a -> -inf
    ("log(sigmoid(a))", [("W401", 1, 13)]),
    # and log(softplus(a)) too: softplus(a) ~ exp(a) (log of a positive value: no W402)
    ("log(softplus(a))", [("W401", 1, 14)]),
    # -1/a -> -inf as a -> 0+
    ("-1/a\nwhere a: positive", [("W401", 2, 7)]),
    # as a -> -inf, exp(a) vanishes and -a**2 falls
    ("exp(a) - a**2", [("W401", 1, 5)]),
    # a constant of negative value
    ("c*a*norm(W.kernel)\nwhere c: const = -1, a: positive", [("W401", 2, 22)]),
    # the bracket's minimum over s is 1 + log(mse), negative when mse < 1/e: then a -> inf falls
    ("a*(exp(-s)*mse(y_true, y_pred) + s)\nwhere a: positive", [("W401", 2, 7)]),
    # tanh(a)*norm(W) is bounded and cannot stop -a
    ("tanh(a)*norm(W.kernel) - a", [("W401", 1, 6)]),
    # norm(a*W) - a = (norm(W) - 1)*a for a > 0: it falls when norm(W) < 1
    ("norm(a*L0.kernel) - a", [("W401", 1, 6)]),
    # log(a)*norm(W) -> -inf as a -> 0+, and a does not help
    ("log(a)*norm(W.kernel) + a\nwhere a: positive", [("W401", 2, 7)]),
    # through a named term: the implicit parameter is shown at its first use
    ("r = a*norm(L1.kernel)\nr + norm(L2.kernel)", [("W401", 1, 5)]),
    # with b = 0 the loss is -a; in b the loss is bounded (its only growing term is b**2*a**2 >= 0)
    ("b**2*a**2 - a", [("W401", 1, 6)]),
    # a factors out of the sum of a matrix product, which can have either sign
    ("sum(a*L1.kernel @ L2.kernel)", [("W401", 1, 5)]),
]


@pytest.mark.parametrize("src, expected", UNBOUNDED)
def test_unbounded_formulas_give_w401(src, expected):
    assert found(src) == expected


def test_w401_message_and_hint_say_how_to_fix_the_divergence():
    (diagnostic,) = check_stability(lossdsl.parse("a*norm(L0.kernel)+norm(L1.kernel)"))
    assert diagnostic.code == "W401"
    assert "'a'" in diagnostic.message and "a -> -inf" in diagnostic.message
    assert diagnostic.hint == "declare `where a: positive`, or use the form exp(-a)*term + a"


@pytest.mark.parametrize("src, ends, hint_word", [
    ("-a**2*norm(W.kernel)", "a -> -inf and as a -> +inf", "a**2"),
    ("log(a)\nwhere a: positive", "a -> 0+", "term/a**2 + log(a)"),
    ("a*mse(y_true, y_pred) - 2*a\nwhere a: (0.5, 3)", None, None),  # a bounded interval: bounded
])
def test_w401_names_the_ends_where_the_loss_falls(src, ends, hint_word):
    diagnostics = check_stability(lossdsl.parse(src))
    if ends is None:
        assert diagnostics == []
        return
    (diagnostic,) = diagnostics
    assert ends in diagnostic.message and hint_word in diagnostic.hint


# log, log1p, sqrt and division: (code, line, column) of the node at fault; W401/W405 not looked at here.
DOMAIN_CASES = [
    ("log(x)", [("W402", 1, 1)]),  # x is a real parameter: it can be 0 or negative
    ("sqrt(a)", [("W402", 1, 1)]),  # a real: negative values
    ("x**0.5", [("W402", 1, 1)]),  # the same, written as a power
    ("1/a", [("W403", 1, 2)]),  # the division is shown from its operator
    ("1/norm(W.kernel)", [("W403", 1, 2)]),  # a norm can be 0
    ("1/(norm(W.kernel) + 1e-6)", []),  # ... unless something positive is added
    ("1/a\nwhere a: positive", []),  # a positive parameter is never 0
    ("log(softplus(a))", []),  # softplus > 0
    ("log(norm(W.kernel))", [("W402", 1, 1)]),  # log(0)
    ("log(norm(W.kernel) + 1e-6)", []),
    ("log(1 - sigmoid(b))", []),  # 1 - sigmoid lies in (0, 1)
    ("log1p(a)", [("W402", 1, 1)]),  # a can be <= -1
    ("log1p(norm(W.kernel))", []),
    ("sqrt(sum(L1.kernel**2) + 1e-6)", []),  # a sum of squares is >= 0
    ("sum(sqrt(L1.kernel))", [("W402", 1, 5)]),  # a kernel has negative entries
    ("a**b", [("W402", 1, 1)]),  # a real power of a negative value is not a real number
    ("a**(1/3)", [("W402", 1, 1)]),  # 1/3 is a constant exponent, written as a division
    ("norm(W.kernel)**(1/3) + norm(W.kernel)**b", []),  # powers of a value >= 0
    ("mse(y_true, y_pred)/(2*s**2) + log(s)", [("W402", 1, 32), ("W403", 1, 20)]),  # s real: both
    ("x + y/(a + b)", [("W403", 1, 6)]),
    ("t = norm(W.kernel)\nlog(t)", [("W402", 2, 1)]),  # through a named term
]


@pytest.mark.parametrize("src, expected", DOMAIN_CASES)
def test_log_sqrt_and_division_of_values_that_can_leave_the_domain(src, expected):
    assert found(src, DOMAIN) == expected


@pytest.mark.parametrize("src, words", [
    ("log(x)", "declare `where x: positive`"),  # a bare parameter: its declaration is the fix
    ("1/norm(W.kernel)", "x / (y + 1e-6)"),  # a computed value: make it positive
    ("sqrt(y_pred)", "sqrt(square(x) + 1e-6)"),  # y_pred is not a parameter: nothing to declare
])
def test_domain_hints_say_what_to_change(src, words):
    (diagnostic,) = [d for d in check_stability(lossdsl.parse(src)) if d.code in DOMAIN]
    assert words in diagnostic.hint


# The check gives up honestly: W405, never a guess.
UNDECIDED = [
    # a*cos(a) swings ever wider: no leading term, and sympy's limit does not decide it either
    ("a*cos(a)", [("W405", 1, 1)]),
    # the growth of exp(b*a) depends on the sign of another parameter
    ("exp(b*a)*norm(W.kernel) - a", [("W405", 1, 7)]),
]


@pytest.mark.parametrize("src, expected", UNDECIDED)
def test_what_cannot_be_decided_is_w405(src, expected):
    assert found(src) == expected


def test_w405_message_names_the_parameter_and_the_end():
    (diagnostic,) = check_stability(lossdsl.parse("exp(b*a)*norm(W.kernel) - a"))
    assert diagnostic.message == "could not decide whether the loss is bounded below in 'a' as a -> +inf"


def test_a_warned_log_is_not_also_undecided():
    # log(x) of a real x is W402; as x -> -inf the log is undefined, which is not a second finding
    assert found("log(x)") == [("W402", 1, 1)]


def test_outside_the_main_thread_sympy_is_skipped_and_the_answer_is_still_w405():
    results = []
    worker = threading.Thread(target=lambda: results.append(found("a*cos(a) + a**3*sin(a)")))
    worker.start()
    worker.join()
    assert results == [[("W405", 1, 1)]]


def test_equal_shapes_with_different_signs_get_different_verdicts():
    # verdicts are remembered by the shape of the summands; a*a and a*c must not share one
    assert found("b*(a*a)\nwhere b: positive") == []
    assert found("b*(a*c)\nwhere b: positive") == [("W401", 1, 4), ("W401", 1, 6), ("W401", 2, 7)]


def big_terms(broken: bool) -> list[str]:
    """50 terms over 10 parameters (s0..s4 real, w0..w4 positive), in the patterns users write."""
    terms = []
    for i in range(5):
        terms += [f"exp(-s{i})*mse(y_true, y_pred)", f"s{i} - exp(s{i})" if broken and i == 4 else f"s{i}",
                  f"w{i}*norm(L{i}.kernel)", f"(w{i} - 1)**2", f"0.1*norm(L{i}.kernel.T @ L{i + 1}.kernel - I)",
                  f"w{i}*exp(-s{i})*mae(y_true, y_pred)", f"sqrt(sum(L{i}.bias**2) + 1e-6)",
                  f"softplus(s{i})*mean(square(L{i}.kernel))", f"log(1 + w{i})", f"sigmoid(s{i})*norm(L{i}.bias)"]
    return terms


def big_formula(broken: bool) -> str:
    return " + ".join(big_terms(broken)) + "\nwhere " + ", ".join(f"w{i}: positive" for i in range(5))


def test_a_formula_of_50_terms_and_10_parameters():
    assert len(big_terms(broken=False)) == 50 and len(lossdsl.parse(big_formula(broken=False)).params) == 10
    assert found(big_formula(broken=False)) == []
    # s4 - exp(s4) falls as s4 -> inf, faster than softplus(s4)*mean(...) grows
    src = big_formula(broken=True)
    assert found(src) == [("W401", 1, src.index("s4") + 1)]
