"""E112: TensorFlow or Keras code pasted where formula syntax belongs (``tf.norm(model.layers[2].kernel)``).

Such text fails to parse with a message about the parser's state ("missing operator before '('"), which
says nothing useful to someone who wrote TensorFlow. When a formula has errors, its text is searched for
the usual TensorFlow spellings, and each becomes one finding that says what to write instead; they
replace the parser's own messages, which only describe the symptom.
"""

from __future__ import annotations

import re

from .diagnostics import Diagnostic
from .source import Span

#: TensorFlow function -> the formula's name for it.
TENSORFLOW_FUNCTIONS = {
    "norm": "norm", "reduce_sum": "sum", "reduce_mean": "mean", "reduce_max": "max", "reduce_min": "min",
    "square": "square", "abs": "abs", "sqrt": "sqrt", "exp": "exp", "log": "log", "log1p": "log1p",
    "sigmoid": "sigmoid", "tanh": "tanh", "softplus": "softplus", "maximum": "maximum", "minimum": "minimum",
    "matmul": "@", "transpose": ".T", "trace": "trace", "reduce_logsumexp": "logsumexp", "softmax": "softmax",
    "stop_gradient": "stop", "clip_by_value": "clip", "eye": "eye", "relu": "relu", "sin": "sin", "cos": "cos",
}
_FUNCTION = re.compile(r"\b(?:tf|tensorflow|keras\.ops|ops)\.(?:math\.|linalg\.|nn\.)?([A-Za-z_]\w*)(?=\s*\()")
_LAYER_INDEX = re.compile(r"\b(?:self\.)?model\.layers\[\s*(-?\d+)\s*\]")
_GET_LAYER = re.compile(r"""\b(?:self\.)?model\.get_layer\(\s*(?:name\s*=\s*)?(["'])([^"'\n]*)\1\s*\)""")


def pasted_tensorflow(text: str) -> list[Diagnostic]:
    """One E112 for each TensorFlow or Keras spelling in ``text``, with what the formula writes instead.

    >>> [(d.message, d.hint) for d in pasted_tensorflow("tf.reduce_sum(model.layers[2].kernel)")]
    [("'tf.reduce_sum' is TensorFlow code", 'write sum(...)'), ("'model.layers[2]' is Keras code", 'write L2')]
    """
    found = [_finding(m, f"write {_function_written(m.group(1))}") for m in _FUNCTION.finditer(text)]
    found += [_finding(m, f"write L{m.group(1)}" if int(m.group(1)) >= 0 else
                       "write L<i> with the layer's index in model.layers (L-1 is not a layer)")
              for m in _LAYER_INDEX.finditer(text)]
    found += [_finding(m, f"write {_layer_name(m.group(2))}, the layer's name") for m in _GET_LAYER.finditer(text)]
    return sorted(found, key=lambda d: d.span)


def _finding(match: re.Match, hint: str) -> Diagnostic:
    written = match.group(0)
    kind = "Keras" if "model." in written else "TensorFlow"
    return Diagnostic("E112", f"'{written}' is {kind} code", Span(match.start(), match.end()), hint)


def _function_written(name: str) -> str:
    written = TENSORFLOW_FUNCTIONS.get(name)
    if written is None:
        return "the formula's function for it (see the function table)"
    return f"A {written} B" if written == "@" else f"x{written}" if written == ".T" else f"{written}(...)"


def _layer_name(name: str) -> str:
    return name if name.isidentifier() else f"`{name}`"
