"""Formulas that parse, each next to the sympy tree it must become (built by hand, unevaluated).

The trees are compared with ``==``, which on unevaluated sympy trees is structural: same node
classes, same argument order, same symbol assumptions (``Symbol("a", real=True)`` is not
``Symbol("a", positive=True)``).
"""

import re

import pytest
import sympy
from sympy import Float, Integer, Rational, Symbol, Tuple, oo, pi, srepr

import lossdsl
from lossdsl.language import functions
from lossdsl.language import nodes
from lossdsl.language.formula import IDENTITY
from lossdsl.language.source import Span


# ------------------------------------------------------------------ tree builders
def P(name, **assumptions):
    """A parameter symbol (implicit parameters are real)."""
    return Symbol(name, **(assumptions or {"real": True}))


def R(text):
    """A reference symbol: a layer variable, y_true or y_pred."""
    return Symbol(text, real=True)


def add(*args):
    return sympy.Add(*args, evaluate=False)


def mul(*args):
    return sympy.Mul(*args, evaluate=False)


def pow_(base, exponent):
    return sympy.Pow(base, exponent, evaluate=False)


def neg(x):
    return mul(-1, x)


def norm(x, order=2, axis=()):
    return nodes.Norm(x, order, Tuple(*axis), evaluate=False)


def total(x, axis=()):
    return nodes.ReduceSum(x, Tuple(*axis), evaluate=False)


def matmul(*args):
    return nodes.MatrixProduct(*args, evaluate=False)


def T(x):
    return nodes.Transposed(x, evaluate=False)


def index(x, *subscripts):
    return nodes.Index(x, Tuple(*subscripts), evaluate=False)


def sl(start=None, stop=None, step=None):
    """A slice start:stop:step, omitted parts as nodes.OMITTED."""
    return Tuple(*(nodes.OMITTED if part is None else part for part in (start, stop, step)))


a, b, c, x = P("a"), P("b"), P("c"), P("x")
W0, W1, W2, W3 = R("L0.kernel"), R("L1.kernel"), R("L2.kernel"), R("L3.kernel")
YT, YP = R("y_true"), R("y_pred")


PARSES = [
    # numbers
    ("2", Integer(2)),
    ("0.5", Float("0.5")),
    ("1e-4", Float("0.0001")),
    (".5", Float("0.5")),
    ("1E+3 * a", mul(Float("1000.0"), a)),
    ("2.", Float("2.0")),
    ("-2", Integer(-2)),
    ("3 - 2", add(3, -2)),
    ("2**-1", pow_(2, -1)),
    ("1234567890", Integer(1234567890)),
    # operators and precedence
    ("a + b", add(a, b)),
    ("a - b", add(a, neg(b))),
    ("a * b / c", mul(a, b, pow_(c, -1))),
    ("a - b*c", add(a, mul(-1, b, c))),
    ("a - b - c", add(a, neg(b), neg(c))),
    ("a - (b - c)", add(a, neg(add(b, neg(c))))),
    ("-a**2", neg(pow_(a, 2))),
    ("(-a)**2", pow_(neg(a), 2)),
    ("a**b**c", pow_(a, pow_(b, c))),
    ("a**-b", pow_(a, neg(b))),
    ("--a", mul(-1, -1, a)),
    ("+a", a),
    ("a*-b", mul(a, neg(b))),
    ("-a*b", mul(-1, a, b)),
    ("(a + b) * c", mul(add(a, b), c)),
    ("a + b * c ** 2", add(a, mul(b, pow_(c, 2)))),
    ("a / 2", mul(a, pow_(2, -1))),
    # matrix products and transposes
    ("sum(L1.kernel @ L2.kernel @ L3.kernel)", total(matmul(W1, W2, W3))),
    ("sum(a * L1.kernel @ L2.kernel)", total(matmul(mul(a, W1), W2))),
    ("norm(L1.kernel.T @ L1.kernel)", norm(matmul(T(W1), W1))),
    ("norm(L1.kernel.T.T)", norm(T(T(W1)))),
    # references
    ("a*norm(L0.kernel)", mul(a, norm(W0))),
    ("norm(sub.dense1.kernel)", norm(R("sub.dense1.kernel"))),
    ("norm(sub.L2.kernel)", norm(R("sub.L2.kernel"))),
    ("norm(`dense-1`.kernel)", norm(R("`dense-1`.kernel"))),
    ("norm(sub.`dense-1`.bias)", norm(R("sub.`dense-1`.bias"))),
    ("norm(L1.moving_mean)", norm(R("L1.moving_mean"))),
    ("whereabouts + info", add(P("whereabouts"), P("info"))),
    ("T * 2", mul(P("T"), 2)),
    # indexing and slicing
    ("sum(L1.kernel[0])", total(index(W1, 0))),
    ("sum(L1.kernel[-1])", total(index(W1, -1))),
    ("sum(L1.kernel[:, 1:3])", total(index(W1, sl(), sl(1, 3)))),
    ("sum(L1.kernel[::2, -1])", total(index(W1, sl(step=2), -1))),
    ("sum(L1.kernel[1:])", total(index(W1, sl(1)))),
    ("sum(L1.kernel[0][1])", total(index(index(W1, 0), 1))),
    ("sum(L1.kernel.T[0])", total(index(T(W1), 0))),
    # comments, newlines inside brackets, ';'
    ("a + b  # a comment", add(a, b)),
    ("# heading\n\na * b\n# trailing\n", mul(a, b)),
    ("norm(\n  L1.kernel,\n  1\n)", norm(W1, 1)),
    ("sum(L1.kernel[0,\n 1])", total(index(W1, 0, 1))),
    ("a;", a),
    (";a", a),
    ("a\r\n", a),
    # keyword arguments, options, trailing comma
    ("norm(L1.kernel, ord=1)", norm(W1, 1)),
    ("norm(L1.kernel, inf)", norm(W1, oo)),
    ("norm(L1.kernel, axis=0)", norm(W1, 2, (0,))),
    ("norm(x=L1.kernel, ord=inf, axis=-1)", norm(W1, oo, (-1,))),
    ("norm(L1.kernel, 1,)", norm(W1, 1)),
    ("sum(L1.kernel, 1)", total(W1, (1,))),
    # every built-in function
    ("mean(L1.kernel, axis=-1) * 0", mul(nodes.ReduceMean(W1, Tuple(-1)), 0)),
    ("max(L1.kernel)", nodes.ReduceMax(W1, Tuple())),
    ("min(L1.kernel, 0) * 0", mul(nodes.ReduceMin(W1, Tuple(0)), 0)),
    ("logsumexp(L1.kernel)", nodes.LogSumExp(W1, Tuple())),
    ("sum(logsumexp(L1.kernel, axis=1))", total(nodes.LogSumExp(W1, Tuple(1)))),
    ("sum(softmax(L1.kernel))", total(nodes.Softmax(W1, Tuple(-1)))),
    ("sum(softmax(L1.kernel, axis=0))", total(nodes.Softmax(W1, Tuple(0)))),
    ("sum(abs(L1.kernel))", total(sympy.Abs(W1, evaluate=False))),
    ("sum(sqrt(L1.kernel))", total(pow_(W1, Rational(1, 2)))),
    ("sum(square(L1.kernel))", total(pow_(W1, 2))),
    ("sum(exp(L1.kernel))", total(sympy.exp(W1, evaluate=False))),
    ("sum(log(L1.kernel))", total(sympy.log(W1, evaluate=False))),
    ("sum(log1p(L1.kernel))", total(nodes.Log1p(W1))),
    ("sum(sin(L1.kernel))", total(sympy.sin(W1, evaluate=False))),
    ("sum(cos(L1.kernel))", total(sympy.cos(W1, evaluate=False))),
    ("sum(tanh(L1.kernel))", total(sympy.tanh(W1, evaluate=False))),
    ("sum(sigmoid(L1.kernel))", total(nodes.Sigmoid(W1))),
    ("sum(softplus(L1.kernel))", total(nodes.Softplus(W1))),
    ("sum(relu(L1.kernel))", total(nodes.Relu(W1))),
    ("sum(clip(L1.kernel, -1, 1))", total(nodes.Clip(W1, -1, 1))),
    ("sum(clip(L1.kernel, -inf, 0.5))", total(nodes.Clip(W1, -oo, Float("0.5")))),
    ("sum(maximum(L1.kernel, 0))", total(nodes.Maximum(W1, 0))),
    ("sum(minimum(L1.kernel, L2.kernel))", total(nodes.Minimum(W1, W2))),
    ("sum(stop(L1.kernel))", total(nodes.StopGradient(W1))),
    ("trace(L1.kernel)", nodes.MatrixTrace(W1)),
    ("sum(diag(L1.kernel))", total(nodes.Diagonal(W1))),
    ("norm(L1.kernel - eye(3))", norm(add(W1, neg(nodes.EyeMatrix(3))))),
    ("norm(eye(n=2))", norm(nodes.EyeMatrix(2))),
    ("dot(L1.bias, L2.bias)", nodes.DotProduct(R("L1.bias"), R("L2.bias"))),
    ("cosine(L1.kernel, L2.kernel)", nodes.Cosine(W1, W2)),
    ("mse(y_true, y_pred)", nodes.MSE(YT, YP)),
    ("mae(y_true, y_pred)", nodes.MAE(YT, YP)),
    ("huber(y_true, y_pred)", nodes.Huber(YT, YP, Float("1.0"))),
    ("huber(y_true, y_pred, delta=0.5)", nodes.Huber(YT, YP, Float("0.5"))),
    ("bce(y_true, y_pred)", nodes.BCE(YT, YP, 0)),
    ("bce(y_true, y_pred, from_logits=1)", nodes.BCE(YT, YP, 1)),
    ("cce(y_true, y_pred)", nodes.CCE(YT, YP, 0)),
    ("sparse_cce(y_true, y_pred, 1)", nodes.SparseCCE(YT, YP, 1)),
    ("kld(y_pred=y_pred, y_true=y_true)", nodes.KLD(YT, YP)),
    ("focal(y_true, y_pred)", nodes.Focal(YT, YP, Float("2.0"), Float("0.25"), 0)),
    ("focal(y_true, y_pred, alpha=0.5, from_logits=1)", nodes.Focal(YT, YP, Float("2.0"), Float("0.5"), 1)),
    # the second edition's functions (SPEC §5.8)
    ("sum(log_softmax(L1.kernel, 0))", total(nodes.LogSoftmax(W1, Tuple(0)))),
    ("sum(normalize(L1.kernel, axis=(0, 1)))", total(nodes.Normalize(W1, Tuple(0, 1)))),
    ("var(L1.kernel)", nodes.Variance(W1, Tuple())),
    ("sum(std(L1.kernel, axis=(-1,)))", total(nodes.StandardDeviation(W1, Tuple(-1)))),
    ("sum(L1.kernel, axis=(1, 0))", total(W1, Tuple(1, 0))),
    ("sum(one_hot(y_true, 3))", total(nodes.OneHot(YT, 3))),
    ("sum(reshape(L1.kernel, (2, -1)))", total(nodes.Reshape(W1, Tuple(2, -1)))),
    ("sum(reshape(L1.kernel, -1))", total(nodes.Reshape(W1, Tuple(-1)))),
    ("sum(stack(a, 1))", total(nodes.Stack(a, 1))),
    ("sum(svd(L1.kernel))", total(nodes.SingularValues(W1))),
    ("spectral_norm(L1.kernel)", nodes.SpectralNorm(W1)),
    ("nuclear_norm(L1.kernel)", nodes.NuclearNorm(W1)),
    ("logdet(L1.kernel)", nodes.LogDeterminant(W1)),
    ("det(L1.kernel)", nodes.MatrixDeterminant(W1)),
    ("sum(inv(L1.kernel))", total(nodes.MatrixInverse(W1))),
    ("sum(solve(L1.kernel, L2.kernel))", total(nodes.Solution(W1, W2))),
    ("sum(eigvalsh(L1.kernel))", total(nodes.EigenvaluesSymmetric(W1))),
    # a random draw's last argument is where its call is written: two calls are two draws
    ("sum(normal(6, 1))", total(nodes.RandomNormal(6, 1, 4))),
    ("sum(uniform(3))", total(nodes.RandomUniform(3, 4))),
    ("sum(normal_like(L1.kernel)) + sum(uniform_like(L1.kernel))",
     add(total(nodes.NormalLike(W1, 4)), total(nodes.UniformLike(W1, 34)))),
    ("sum(grad(mse(y_true, y_pred), L1.kernel)) + sum(grad(y_pred, inputs))",
     add(total(nodes.Gradient(nodes.MSE(YT, YP), W1)), total(nodes.Gradient(YP, R("inputs"))))),
    ("mse(y_true, y_pred) / batch_size", mul(nodes.MSE(YT, YP), pow_(nodes.BatchSize(YT), -1))),
    # y_true / y_pred, I, pi, inf
    ("mean(y_pred - y_true)", nodes.ReduceMean(add(YP, neg(YT)), Tuple())),
    ("norm(L1.kernel.T @ L1.kernel - I)", norm(add(matmul(T(W1), W1), neg(IDENTITY)))),
    ("norm(L1.kernel - 2*I)", norm(add(W1, mul(-1, 2, IDENTITY)))),
    ("pi * a", mul(pi, a)),
    ("inf", oo),
    ("-inf", -oo),
]


@pytest.mark.parametrize("source, expected", PARSES, ids=[source for source, _ in PARSES])
def test_formula_parses_to_tree(source, expected):
    formula = lossdsl.parse(source)
    assert srepr(formula.expr) == srepr(expected)  # readable on failure
    assert formula.expr == expected  # strict: argument order and assumptions too


def test_the_table_is_large_enough_and_calls_every_built_in_function():
    assert len(PARSES) >= 60
    called = {name for source, _ in PARSES for name in re.findall(r"(\w+)\(", source)}
    assert set(functions.BUILTINS) <= called


# --------------------------------------------------------------- named terms
data, reg, r, s = (Symbol("data", nonnegative=True), Symbol("reg", nonnegative=True),
                   Symbol("r", real=True), Symbol("s", real=True))

TERMS = [
    ("t = norm(L1.kernel); t * 2", mul(Symbol("t", nonnegative=True), 2), {"t": norm(W1)}),
    ("data = mse(y_true, y_pred)\nreg = norm(L1.kernel) + norm(L2.kernel)\ndata + a * reg\nwhere a: positive = 1.0",
     add(data, mul(P("a", positive=True), reg)),
     {"data": nodes.MSE(YT, YP), "reg": add(norm(W1), norm(W2))}),
    ("r = a * norm(L1.kernel)\ns = r + 1\ns", s, {"r": mul(a, norm(W1)), "s": add(r, 1)}),
    ("u = (\n  norm(L1.kernel)\n  + norm(L2.kernel)\n)\nu", Symbol("u", nonnegative=True),
     {"u": add(norm(W1), norm(W2))}),
]


@pytest.mark.parametrize("source, expected, terms", TERMS)
def test_named_terms(source, expected, terms):
    formula = lossdsl.parse(source)
    assert formula.expr == expected
    assert formula.terms == terms
    assert list(formula.terms) == list(terms)  # in the order they are written


def test_expanded_replaces_terms_by_their_definitions():
    formula = lossdsl.parse("r = a * norm(L1.kernel)\ns = r + 1\ns")
    assert formula.expanded() == add(mul(a, norm(W1)), 1)


# ------------------------------------------------------- where declarations
# (name, kind, init, lower, upper, declared) in the order the formula lists them
DECLARATIONS = [
    ("a*norm(L1.kernel)\nwhere a: positive", [("a", "positive", 1.0, None, None, True)]),
    ("a\nwhere a: nonneg = 0.5", [("a", "nonneg", 0.5, None, None, True)]),
    ("a\nwhere a: real = -2.5", [("a", "real", -2.5, None, None, True)]),
    ("a\nwhere a = 3", [("a", "real", 3.0, None, None, True)]),
    ("a\nwhere a", [("a", "real", 0.0, None, None, True)]),
    ("a\nwhere a: positive = +1.5", [("a", "positive", 1.5, None, None, True)]),
    ("a * norm(L1.kernel)\nwhere a: const = 2", [("a", "const", 2.0, None, None, True)]),
    ("a\nwhere a: (0, 1)", [("a", "interval", 0.5, 0.0, 1.0, True)]),
    ("a\nwhere a: (-1, 1) = 0.25", [("a", "interval", 0.25, -1.0, 1.0, True)]),
    ("a\nwhere a: (-2, -1) = -1.5", [("a", "interval", -1.5, -2.0, -1.0, True)]),
    ("a + b\nwhere a: positive = 2, b: nonneg = 1e-3",
     [("a", "positive", 2.0, None, None, True), ("b", "nonneg", 0.001, None, None, True)]),
    ("a + b\nwhere a: positive\nwhere b: (0, 10) = 5",
     [("a", "positive", 1.0, None, None, True), ("b", "interval", 5.0, 0.0, 10.0, True)]),
    # declared parameters first, then implicit ones in order of first use
    ("c * norm(L1.kernel) + b + a\nwhere a: positive",
     [("a", "positive", 1.0, None, None, True), ("c", "real", 0.0, None, None, False),
      ("b", "real", 0.0, None, None, False)]),
]


@pytest.mark.parametrize("source, expected", DECLARATIONS)
def test_parameters(source, expected):
    formula = lossdsl.parse(source)
    found = [(p.name, p.kind, p.init, p.lower, p.upper, p.declared) for p in formula.params.values()]
    assert found == expected


@pytest.mark.parametrize("source, symbol", [
    ("a\nwhere a: positive", Symbol("a", positive=True)),
    ("a\nwhere a: nonneg", Symbol("a", nonnegative=True)),
    ("a\nwhere a: real", Symbol("a", real=True)),
    ("a\nwhere a: const = 1", Symbol("a", real=True)),
    ("a\nwhere a: (0, 1)", Symbol("a", positive=True)),
    ("a\nwhere a: (-3, -1) = -2", Symbol("a", negative=True)),
    ("a\nwhere a: (-1, 1)", Symbol("a", real=True)),
])
def test_parameter_symbols_carry_the_sign_of_their_kind(source, symbol):
    formula = lossdsl.parse(source)
    assert formula.expr == symbol
    assert formula.params["a"].symbol == symbol


def test_const_is_not_trainable():
    formula = lossdsl.parse("a * b\nwhere a: const = 2")
    assert [p.name for p in formula.trainable_params] == ["b"]


# --------------------------------------------------------------- references
REFERENCES = [
    ("a*norm(L0.kernel) + norm(L1.kernel)", [("L0.kernel", (0, "kernel")), ("L1.kernel", (1, "kernel"))]),
    ("norm(sub.dense1.kernel) + norm(sub.L2.kernel)",
     [("sub.dense1.kernel", ("sub", "dense1", "kernel")), ("sub.L2.kernel", ("sub", 2, "kernel"))]),
    ("norm(`dense-1`.kernel) + norm(`L1`.kernel)",
     [("`dense-1`.kernel", ("dense-1", "kernel")), ("`L1`.kernel", ("L1", "kernel"))]),
    ("norm(sub.`dense-1`.bias)", [("sub.`dense-1`.bias", ("sub", "dense-1", "bias"))]),
    ("mse(y_true, y_pred) + norm(L1.kernel) + norm(L1.kernel)",
     [("y_true", ("y_true",)), ("y_pred", ("y_pred",)), ("L1.kernel", (1, "kernel"))]),
]


@pytest.mark.parametrize("source, expected", REFERENCES)
def test_references_in_order_of_first_use(source, expected):
    formula = lossdsl.parse(source)
    assert [(ref.text, ref.path) for ref in formula.references.values()] == expected
    for ref in formula.references.values():
        assert source[ref.span.start:ref.span.end].replace("`", "") == ref.text.replace("`", "")


def test_targets_are_references_but_not_layers():
    formula = lossdsl.parse("mse(y_true, y_pred) + norm(L1.kernel)")
    assert {text: ref.is_target for text, ref in formula.references.items()} == {
        "y_true": True, "y_pred": True, "L1.kernel": False}


# -------------------------------------------------------------------- spans
@pytest.mark.parametrize("source, node, text", [
    ("a*norm(L0.kernel)", norm(W0), "norm(L0.kernel)"),
    ("a*norm(L0.kernel)", a, "a"),
    ("x + norm(L1.kernel @ L2.kernel)", matmul(W1, W2), "L1.kernel @ L2.kernel"),
    ("b - norm(L1.kernel)", neg(norm(W1)), "- norm(L1.kernel)"),
    ("sum(L1.kernel[0, 1:3])", index(W1, 0, sl(1, 3)), "L1.kernel[0, 1:3]"),
    ("t = norm(L1.kernel)\n2 * t", Symbol("t", nonnegative=True), "t"),
])
def test_spans_point_at_the_source_text(source, node, text):
    formula = lossdsl.parse(source)
    span = formula.span_of(node)
    assert source[span.start:span.end] == text


def test_a_repeated_parameter_keeps_its_first_span():
    formula = lossdsl.parse("a * norm(L1.kernel) + a")
    assert formula.params["a"].span == Span(0, 1)


# -------------------------------------------------------------------- LaTeX
LATEX = [
    ("a*norm(L0.kernel)", r"a \left\|\mathtt{L0.kernel}\right\|"),
    ("norm(L1.kernel, 1) + norm(L2.kernel, inf)",
     r"\left\|\mathtt{L1.kernel}\right\|_{1} + \left\|\mathtt{L2.kernel}\right\|_{\infty}"),
    ("norm(L1.kernel.T @ L1.kernel - I)",
     r"\left\|\mathtt{L1.kernel}^{T} \, \mathtt{L1.kernel} - I\right\|"),
    ("data = mse(y_true, y_pred)\ndata + exp(-s) * norm(L1.kernel) + s",
     r"\mathrm{data} = \operatorname{mse}\left(\mathtt{y\_true}, \mathtt{y\_pred}\right) \\ "
     r"\mathrm{data} + e^{- s} \left\|\mathtt{L1.kernel}\right\| + s"),
    ("sum(sigmoid(L1.kernel[0, 1:3]))",
     r"\operatorname{sum}\left(\sigma\left(\mathtt{L1.kernel}_{[0, 1:3]}\right)\right)"),
    # a tensor function as the base of a power, and options as written
    ("norm(L1.kernel)**2 + mean(L1.kernel, axis=-1)**2",
     r"\left\|\mathtt{L1.kernel}\right\|^{2} + "
     r"\left(\operatorname{mean}\left(\mathtt{L1.kernel}, \mathrm{axis}=-1\right)\right)^{2}"),
    ("sum(L1.kernel.T**2) + norm(L1.kernel, inf, axis=0)",
     r"\operatorname{sum}\left(\left(\mathtt{L1.kernel}^{T}\right)^{2}\right) + "
     r"\left\|\mathtt{L1.kernel}\right\|_{\infty, \mathrm{axis}=0}"),
]


@pytest.mark.parametrize("source, latex", LATEX)
def test_latex(source, latex):
    assert lossdsl.parse(source).latex() == latex
