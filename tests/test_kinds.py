"""Every node kind is declared whole: each facet is a rule or an explicit marker, and every marker that
stands for "not known" ends in a diagnostic, never in a crash."""

import itertools

import numpy as np
import pytest
import sympy
import tensorflow as tf

import lossdsl
from lossdsl.language import functions, kinds, nodes
from lossdsl.language.intervals import sign_range
from lossdsl.language.kinds.base import NodeKind
from lossdsl.lowering.lower import lower

#: The node classes the language builds: its own, and the sympy classes of operators and functions.
NODE_CLASSES = [c for c in vars(nodes).values() if isinstance(c, type) and issubclass(c, nodes.TensorFunction)
                and c not in (nodes.TensorFunction, nodes.DataLoss, nodes.RandomDraw)]
SYMPY_CLASSES = [sympy.Add, sympy.Mul, sympy.Pow, sympy.exp, sympy.log, sympy.Abs, sympy.sin, sympy.cos, sympy.tanh]
ASYMPTOTIC_MARKERS = (kinds.UNDECIDED, kinds.SUM, kinds.PRODUCT, kinds.POWER, kinds.LINEAR, kinds.ABSOLUTELY_LINEAR)

#: One formula per built-in function that checks clean and lowers, with the shapes of its references.
SHAPES = {"L1.kernel": [3, 3], "L2.kernel": [3, 3], "L1.bias": [3], "y_true": [4, 3], "y_pred": [4, 3]}
CALLED = {
    "norm": "norm(L1.kernel)", "sum": "sum(L1.kernel)", "mean": "mean(L1.kernel)", "max": "max(L1.kernel)",
    "min": "min(L1.kernel)", "logsumexp": "logsumexp(L1.kernel)", "softmax": "sum(softmax(L1.kernel))",
    "exp": "sum(exp(L1.kernel))", "log": "sum(log(square(L1.kernel) + 1))", "abs": "sum(abs(L1.kernel))",
    "sin": "sum(sin(L1.kernel))", "cos": "sum(cos(L1.kernel))", "tanh": "sum(tanh(L1.kernel))",
    "log1p": "sum(log1p(square(L1.kernel)))", "sigmoid": "sum(sigmoid(L1.kernel))",
    "softplus": "sum(softplus(L1.kernel))", "relu": "sum(relu(L1.kernel))", "clip": "sum(clip(L1.kernel, -1, 1))",
    "maximum": "sum(maximum(L1.kernel, L2.kernel))", "minimum": "sum(minimum(L1.kernel, 0))",
    "stop": "sum(stop(L1.kernel))", "sqrt": "sum(sqrt(square(L1.kernel)))", "square": "sum(square(L1.kernel))",
    "trace": "trace(L1.kernel)", "diag": "sum(diag(L1.bias))", "dot": "dot(L1.bias, L1.bias)",
    "cosine": "cosine(L1.kernel, L2.kernel)", "eye": "norm(L1.kernel - eye(3))", "mse": "mse(y_true, y_pred)",
    "mae": "mae(y_true, y_pred)", "huber": "huber(y_true, y_pred)", "bce": "bce(y_true, sigmoid(y_pred))",
    "cce": "cce(y_true, softmax(y_pred))", "sparse_cce": "sparse_cce(y_true[:, 0], y_pred, from_logits=1)",
    "kld": "kld(softmax(y_true), softmax(y_pred))",
    "log_softmax": "sum(log_softmax(L1.kernel))", "normalize": "sum(normalize(L1.kernel))", "var": "var(L1.kernel)",
    "std": "std(L1.kernel)", "focal": "focal(y_true, sigmoid(y_pred))", "one_hot": "sum(one_hot(y_true[:, 0], 3))",
    "reshape": "sum(reshape(L1.kernel, -1))", "stack": "sum(stack(norm(L1.kernel), 1))", "svd": "sum(svd(L1.kernel))",
    "spectral_norm": "spectral_norm(L1.kernel)", "nuclear_norm": "nuclear_norm(L1.kernel)",
    "logdet": "logdet(L1.kernel @ L1.kernel.T + eye(3))", "det": "det(L1.kernel)",
    "inv": "sum(inv(L1.kernel + eye(3)))",
    "solve": "sum(solve(L1.kernel + eye(3), L1.bias))", "eigvalsh": "sum(eigvalsh(L1.kernel))",
    "normal": "mean(normal(6, 1))", "uniform": "mean(uniform(6, 1))", "normal_like": "sum(normal_like(L1.kernel))",
    "uniform_like": "sum(uniform_like(L1.kernel))",
    "grad": "sum(grad(sum(square(L1.kernel)), L1.kernel))",
}


def _facets(kind: NodeKind) -> dict:
    return {name: getattr(kind, name) for name in ("shape", "range", "asymptotic", "plain", "lower")}


@pytest.mark.parametrize("cls", NODE_CLASSES + SYMPY_CLASSES, ids=lambda c: c.__name__)
def test_every_node_class_is_declared_with_every_facet(cls):
    kind = kinds.kind_of(cls)
    assert kind is not None and kind.node is cls and kind.doc
    missing = [name for name, facet in _facets(kind).items() if facet is None]
    assert missing == []
    assert callable(kind.shape) and callable(kind.range) and callable(kind.lower)
    assert isinstance(kind.asymptotic, kinds.Unary) or kind.asymptotic in ASYMPTOTIC_MARKERS
    assert callable(kind.plain) or kind.plain is kinds.UNDECIDED
    assert kind.sign in ("positive", "nonnegative", None) or callable(kind.sign)
    assert kind.domain is None or isinstance(kind.domain, float)
    if issubclass(cls, nodes.TensorFunction):  # sympy prints its own classes; lossdsl's say how they print
        assert isinstance(kind.latex, str) or callable(kind.latex)


SIGNS = ("positive", "nonnegative", None)


def _sample_nodes():
    """Each kind's node on symbols standing for its tensor arguments (options at their defaults)."""
    x, y = sympy.symbols("x y")
    yield kinds.kind_of(sympy.Add), sympy.Add(x, y, evaluate=False)
    yield kinds.kind_of(sympy.Mul), sympy.Mul(x, y, evaluate=False)
    for kind in kinds.BUILTIN_KINDS.values():
        for spec in kind.calls:
            if spec.tensors and all(option.default is not None for option in spec.options):
                yield kind, spec.build(*sympy.symbols(" ".join(spec.tensors), seq=True),
                                       *(option.default for option in spec.options), *[sympy.Integer(0)] * spec.numbered)


@pytest.mark.parametrize("kind, node", list(_sample_nodes()), ids=lambda v: str(v)[:40])
def test_sign_facts_agree_with_range_facts(kind, node):
    """Whatever the arguments' signs, a sign a kind claims is one its value range proves."""
    arguments = kinds.tensor_args(node)
    for signs in itertools.product(SIGNS, repeat=len(arguments)):
        given = dict(zip(arguments, signs))
        claimed = kind.sign_of(node, given.get)
        proved = kind.range(node, lambda arg: sign_range(given[arg]))
        assert claimed != "positive" or proved.positive, (signs, proved)
        assert claimed != "nonnegative" or proved.nonnegative, (signs, proved)


def test_the_function_table_is_the_declared_calls():
    declared = [spec.name for kind in kinds.BUILTIN_KINDS.values() for spec in kind.calls]
    assert sorted(declared) == sorted(functions.BUILTINS) and len(declared) == len(set(declared))
    assert set(CALLED) == set(functions.BUILTINS)


@pytest.mark.parametrize("name", sorted(CALLED))
def test_every_function_checks_lowers_and_runs(name):
    source = CALLED[name]
    # errors only: sum(L1.kernel) and the like are also unbounded below (W401), as the stability tables say
    assert [d for d in lossdsl.check(source, shapes=SHAPES) if d.is_error] == []
    rng = np.random.default_rng(0)
    env = {text: tf.constant(rng.uniform(0.1, 0.9, size=shape), tf.float32) for text, shape in SHAPES.items()}
    value = lower(lossdsl.parse(source))(env)[""]
    assert value.shape == () and np.isfinite(value.numpy())


# A parameter inside a kind with no asymptotic rule: the check says it cannot tell (W405), never crashes.
UNDECIDED_INSIDE = [
    ("max(a * L1.kernel)", "W405"),
    ("min(a * L1.kernel)", "W405"),
    ("logsumexp(a * L1.kernel)", "W405"),
    ("sum(maximum(a * L1.kernel, L2.kernel))", "W405"),
]


@pytest.mark.parametrize("source, code", UNDECIDED_INSIDE)
def test_an_undecided_asymptotic_rule_is_w405(source, code):
    assert [d.code for d in lossdsl.check(source)] == [code]


def test_every_undecided_kind_with_tensor_arguments_gives_a_diagnostic_not_a_crash():
    undecided = [kind for kind in kinds.BUILTIN_KINDS.values() if kind.asymptotic is kinds.UNDECIDED and kind.calls]
    for kind in undecided:
        spec = kind.calls[0]
        if not spec.tensors:
            continue  # eye(n): a constant, no parameter can be inside it
        required = ["3" for option in spec.options if option.default is None]  # one_hot's n
        arguments = ", ".join(["a * L1.kernel" for _ in spec.tensors] + required)
        if spec.name == "grad":  # x names a tensor to differentiate with respect to (E250 otherwise)
            arguments = "a * L1.kernel, L1.kernel"
        found = lossdsl.check(f"a * sum({spec.name}({arguments}))")
        assert all(d.code.startswith(("W4", "I4")) for d in found), (spec.name, found)


def test_a_registered_function_is_a_kind_of_the_same_structure_until_unregistered():
    spec = lossdsl.register_function("cube", lambda x: x ** 3)
    try:
        cls = type(spec.build(sympy.Symbol("x")))
        kind = kinds.kind_of(cls)
        assert kind.calls == (spec,) and kind.sign is None and kind.asymptotic is kinds.UNDECIDED
        assert [d.code for d in lossdsl.check("sum(cube(a * L1.kernel))")] == ["W405"]
    finally:
        lossdsl.unregister_function("cube")
    assert kinds.kind_of(cls) is None and functions.lookup("cube") is None
