"""The catalogue of diagnostics: every code with its title and an example that gets it, and the messages
whose wording and hint several checks share (pyflakes' ``messages.py``: a message is data, written once).

``docs/diagnostics.md`` holds :func:`markdown_table` (``tests/test_docs.py`` compares them and runs every
example). The first letter of a code is its severity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .diagnostics import Diagnostic, severity_of
from .floats import FLOAT32_RANGE
from .source import Span


@dataclass(frozen=True)
class Entry:
    """One code: its title, and a formula that gets it, checked in ``context`` (see :data:`CONTEXTS`)."""

    code: str
    title: str
    example: str | None  # None: it takes a formula too large to show (the resource limits)
    context: str = ""

    @property
    def severity(self) -> str:
        return severity_of(self.code)


#: The shapes table the examples marked *shapes* are checked against (``check(example, shapes=...)``).
EXAMPLE_SHAPES = {"L1.kernel": [10, 16], "L2.kernel": [16, 4], "y_true": [None, 4], "y_pred": [None, 4]}
#: The shapes of the arrays the examples marked *constants* are given (``check(example, shapes=EXAMPLE_SHAPES,
#: constants={"F": numpy.zeros((10, 16))})``).
EXAMPLE_CONSTANTS = {"F": (10, 16)}

#: What an example is checked against besides the formula; the docs page shows this legend.
CONTEXTS = {
    "": "nothing: `lossdsl.check(formula)`",
    "shapes": f"the shapes table `{json.dumps(EXAMPLE_SHAPES)}`",
    "model": 'the model `Input(4) -> Dense(8, name="hidden") -> Dense(2, name="out")` (Functional: L0 is '
             'the InputLayer)',
    "unbuilt": 'an unbuilt `Sequential([Dense(3, name="first"), Dense(1, name="second")])`',
    "twins": 'a model with two nested blocks, `block_a` and `block_b`, each holding a layer named `proj`',
    "outputs": 'a model with two outputs, `{"weight": (None, 2), "height": (None, 1)}`',
    "constants": "the shapes table above and `constants={\"F\": numpy.zeros((10, 16))}`",
    "shared": 'the model `Input(4) -> shared -> shared` where `shared = Dense(4, name="shared")` is one layer called twice',
    "attribute": 'a subclassed model that keeps `self.a = tf.Variable(1.0)` beside its layer `dense`',
    "tokens": 'the model `Input((5,), dtype="int32") -> Embedding(10, 4, name="embed") -> LSTM(3, name="lstm") -> '
              'Dense(1, name="head")`',
}

ENTRIES = [
    # E1xx syntax
    Entry("E100", "unexpected input", "norm(x) norm(y)"),
    Entry("E101", "unbalanced bracket", "a*norm(L0.kernel"),
    Entry("E102", "missing operand", "a * * b"),
    Entry("E103", "trailing operator", "a +"),
    Entry("E104", "'^' is not a power operator", "a ^ 2"),
    Entry("E105", "empty formula", "# only a comment"),
    Entry("E106", "nesting too deep", None),
    Entry("E107", "formula too long", None),
    Entry("E108", "character not allowed", "a × b"),
    Entry("E109", "statement out of place", "t = norm(L1.kernel)"),
    Entry("E110", "number beyond the float range", "a * 1e400"),
    Entry("E111", "constant too large to compute exactly", "a * (1000001/1000000)**100000"),
    Entry("E112", "TensorFlow or Keras code instead of formula syntax", "tf.reduce_sum(L1.kernel)"),
    # E2xx names
    Entry("E201", "unknown function", "nrom(L1.kernel)"),
    Entry("E202", "wrong number of arguments", "mse(y_true)"),
    Entry("E203", "unknown or repeated keyword argument", "sum(L1.kernel, axes=0)"),
    Entry("E204", "parameter declared twice", "a where a: real, a: positive"),
    Entry("E205", "parameter value outside its domain", "a where a: positive = -1"),
    Entry("E206", "unknown parameter kind", "a where a: posative"),
    Entry("E207", "named term defined twice or used before its definition", "t = a; t = b; t"),
    Entry("E208", "reserved name", "y_true = 1; a"),
    Entry("E209", "layer index out of range", "norm(L9.kernel)", "model"),
    Entry("E210", "unknown layer", "norm(hiden.kernel)", "model"),
    Entry("E211", "layer has no such variable", "norm(out.gamma)", "model"),
    Entry("E212", "a layer is not a value", "L1 + 1"),
    Entry("E213", "bad index or option", "norm(L1.kernel, ord=3)"),
    Entry("E214", "a function is not a value", "mean(norm, 1)"),
    Entry("E215", "unknown reference", "norm(L3.kernel)", "shapes"),
    Entry("E216", "attribute of a computed value", "norm(L1.kernel.T.bias)"),
    Entry("E217", "model not built", "norm(first.kernel)", "unbuilt"),
    Entry("E218", "ambiguous layer or variable name", "norm(proj.kernel)", "twins"),
    Entry("E219", "model output not selected or unknown", "mean(square(y_pred))", "outputs"),
    Entry("E220", "bad shape or value in a tensor declaration", "sum(c) where c: real[10, -8]"),
    Entry("E221", "constant tensor not given, or not fitting its declaration",
          "norm(L1.kernel - F) + norm(G) where F: tensor, G: tensor", "constants"),
    Entry("E222", "initial() of something that is not a model variable", "sum(square(a - initial(a)))"),
    Entry("E223", "batch_size without a batch", "norm(L1.kernel) / batch_size"),
    Entry("E224", "a layer's output or input is not one tensor per forward pass (shared, or not run)",
          "mean(square(shared.output))", "shared"),
    Entry("E225", "model input not selected or unknown", "mean(square(inputs.image))", "model"),
    Entry("E230", "pattern matches no variable", "norm(conv*.kernel)", "shapes"),
    Entry("E231", "a collection where one tensor is needed", "norm(**.kernel @ L1.kernel)"),
    Entry("E232", "one reduction over two collections", "sum(L?.kernel - L?.bias)"),
    Entry("E233", "comprehension variable out of place", "W + sum(norm(W) for W in **.kernel)"),
    Entry("E240", "history of something that is not a named term", "mse(y_true, y_pred) / start(norm(L1.kernel))"),
    Entry("E241", "history of a term that is not a scalar", "g = L1.kernel @ L2.kernel; sum(square(g)) + start(g)", "shapes"),
    Entry("E242", "previous() looks back a whole number of epochs >= 1", "data = mse(y_true, y_pred); previous(data, 0)"),
    Entry("E243", "ema() decay outside (0, 1)", "data = mse(y_true, y_pred); data + ema(data, 1.5)"),
    Entry("E250", "grad() with respect to something that has no gradient (targets, a constant, a computed value)",
          "sum(grad(mse(y_true, y_pred), y_true))"),
    Entry("E251", "a gradient of a gradient", "sum(grad(norm(grad(y_pred, inputs)), inputs))"),
    Entry("E252", "grad() with respect to integer inputs (ids, indices)", "mean(square(grad(y_pred, inputs)))",
          "tokens"),
    # E3xx shapes
    Entry("E301", "shapes do not broadcast", "norm(L1.kernel + L2.kernel)", "shapes"),
    Entry("E302", "matrix product dimensions disagree", "norm(L1.kernel @ L1.kernel)", "shapes"),
    Entry("E303", "the loss is not a scalar", "square(L1.kernel @ L2.kernel)", "shapes"),
    Entry("E304", "transpose needs a matrix", "norm(sum(L1.kernel, axis=0).T)", "shapes"),
    Entry("E305", "axis out of range", "sum(square(L1.kernel), axis=2)", "shapes"),
    Entry("E306", "index out of range", "sum(square(L1.kernel[10]))", "shapes"),
    Entry("E307", "identity size unknown", "norm(y_pred - I)", "shapes"),
    Entry("E308", "wrong rank for function", "sparse_cce(y_true, y_pred)", "shapes"),
    Entry("E309", "matrix not square", "logdet(L1.kernel)", "shapes"),
    Entry("E310", "shape cannot be reshaped", "norm(reshape(L1.kernel, (3, -1)))", "shapes"),
    # W4xx stability
    Entry("W401", "loss unbounded below", "a*norm(L0.kernel) + norm(L1.kernel)"),
    Entry("W402", "log or sqrt of a possibly non-positive value", "log(x)"),
    Entry("W403", "division by a possibly zero value", "1/norm(L1.kernel)"),
    Entry("W404", "declared parameter is unused", "a**2 where a, b"),
    Entry("W405", "could not decide boundedness", "a*cos(a)"),
    Entry("W406", "parameter collapses to an end of its domain", "a*norm(L0.kernel) + norm(L1.kernel) where a: positive"),
    # I4xx stability notes
    Entry("I401", "bounded below only while the data is not fitted perfectly", "exp(-s)*mse(y_true, y_pred) + s"),
    # W5xx style
    Entry("W501", "implicit parameter looks like a layer name", "norm(out.kernel) + hiden**2", "model"),
    Entry("W502", "implicit parameter named like a variable the model keeps as an attribute",
          "mse(y_true, y_pred) + a**2 * norm(dense.kernel)", "attribute"),
]

#: Every code lossdsl can report, with its title (public as ``lossdsl.CODES``).
CODES: dict[str, str] = {entry.code: entry.title for entry in ENTRIES}


# ------------------------------------------------------------ messages with a shared wording or hint
@dataclass(frozen=True)
class Message:
    """A message of one code: its format and its hint's format (``str.format`` fields filled by the check)."""

    code: str
    template: str
    hint: str | None = None

    def parts(self, **fields) -> tuple[str, str, str | None]:
        """(code, message, hint): the arguments a check's finding or a Diagnostic takes, in that order."""
        return self.code, self.template.format(**fields), self.hint.format(**fields) if self.hint else None

    def at(self, span: Span, **fields) -> Diagnostic:
        """The finding at ``span``.

        >>> finding = FLOAT_TOO_LARGE.at(Span(4, 9), what="number", written="1e400")
        >>> finding.code, finding.message
        ('E110', 'the number 1e400 is too large for float32')
        """
        code, message, hint = self.parts(**fields)
        return Diagnostic(code, message, span, hint)


_SIZED_IDENTITY = "use eye(n) for an identity of a chosen size"

#: A number literal (``what="number"``) or a constant part (``what="constant"``) beyond the float range.
FLOAT_TOO_LARGE = Message("E110", "the {what} {written} is too large for float32",
                          FLOAT32_RANGE + "; write inf for infinity")
FLOAT_TOO_SMALL = Message("E110", "the {what} {written} is too small for float32", FLOAT32_RANGE + "; write 0 for zero")
EXACT_TOO_LARGE = Message("E111", "the {what} {written} is too large to compute exactly",
                          "write its value as a decimal number: {value:.6g}")
IDENTITY_WITHOUT_SIZE = Message("E307", "I has no size here",
                                "I takes its size from a square matrix it is added to, subtracted from or "
                                "multiplied with (* or @), as in norm(W.T @ W - I); elsewhere write eye(n)")
IDENTITY_NOT_SQUARE = Message("E307", "I cannot be sized from {shape}: it needs a square matrix", _SIZED_IDENTITY)
_CREATED_LIMIT = "; a tensor the formula creates holds at most {limit:,} entries"
_CREATED_HINT = "the limit keeps a formula from allocating more than {megabytes:,} MB of float32 by itself"
EYE_TOO_LARGE = Message("E213", "eye({n}) would hold {entries:,} entries" + _CREATED_LIMIT, _CREATED_HINT)
IDENTITY_TOO_LARGE = Message("E307", "I sized from {shape} would hold {entries:,} entries" + _CREATED_LIMIT,
                             _CREATED_HINT)
IDENTITY_WITHOUT_PARTNER = Message("E307", "I has no matrix beside it to take its size from", _SIZED_IDENTITY)


def markdown_table() -> str:
    """The reference table of docs/diagnostics.md: every code, its example and what the example is checked against."""
    legend = [f"- *{key}*: {text}" for key, text in CONTEXTS.items() if key]
    rows = ["| code | severity | title | example | with |", "| --- | --- | --- | --- | --- |"]
    for entry in ENTRIES:
        example = f"`{entry.example}`" if entry.example else "a formula over the limits ([reliability](reliability.md))"
        rows.append(f"| {entry.code} | {entry.severity} | {entry.title} | {example} | "
                    f"{'*' + entry.context + '*' if entry.context else ''} |")
    return "\n".join(["Examples without a mark are checked alone; the marks mean:", "", *legend, "", *rows]) + "\n"
