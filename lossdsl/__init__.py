"""lossdsl: losses written as formula strings over a Keras model's weights, checked and compiled.

The pipeline, one module per stage: ``parser`` (text -> tree) -> ``builder`` (tree -> Formula) ->
``shapes`` / ``stability`` (checks) -> ``lower`` (TensorFlow closure) -> ``keras`` (layers, attach).
Importing this package does not import TensorFlow.
"""

from .checks import check
from .diagnostics import CODES, Diagnostic
from .errors import LossError, LossNameError, LossShapeError, LossSyntaxError
from .formula import Formula, Parameter, Reference
from .frontend import parse
from .functions import register_function, unregister_function
from .source import Source, Span

__all__ = [
    "CODES", "Diagnostic", "Formula", "LossError", "LossNameError", "LossShapeError", "LossSyntaxError",
    "Parameter", "Reference", "Source", "Span", "attach", "check", "compile", "parse", "register_function",
    "unregister_function",
]
__version__ = "0.1.0"


def compile(src: str, model):
    """A Keras layer computing the formula over ``model``'s variables (imports TensorFlow)."""
    from .keras import compile_term
    return compile_term(src, model)


def attach(model, src: str):
    """A model whose ``fit()`` minimizes the formula (imports TensorFlow)."""
    from .keras import attach_formula
    return attach_formula(model, src)
