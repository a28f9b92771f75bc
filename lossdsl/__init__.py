"""lossdsl: losses written as formula strings over a Keras model's weights, checked and compiled.

The pipeline, one folder per stage: ``language`` (text -> Formula) -> ``analysis`` (names, shapes,
stability: one :class:`Analysis` record) -> ``lowering`` (TensorFlow closure) -> ``keras`` (layers,
attach). Importing this package does not import TensorFlow.
"""

from .analysis.checks import Analysis, analyze, check
from .language.catalogue import CODES
from .language.diagnostics import Diagnostic, render_text
from .language.errors import LossError, LossNameError, LossShapeError, LossSyntaxError, LossWarning
from .language.formula import Formula, Parameter, Reference
from .language.frontend import parse
from .language.functions import register_function, unregister_function
from .language.source import Source, Span
from .registration import register_when_keras_loads

__all__ = [
    "Analysis", "CODES", "Diagnostic", "Formula", "LossError", "LossNameError", "LossShapeError", "LossSyntaxError",
    "LossWarning", "Parameter", "Reference", "Source", "Span", "analyze", "attach", "check", "compile", "parse",
    "register_function", "render_text", "unregister_function",
]
__version__ = "0.1.0"


def compile(src: str, model, jit_compile: bool = False, check_numerics: bool = False, constants: dict | None = None):
    """A Keras layer computing the formula over ``model``'s variables (imports TensorFlow).

    ``term()`` (or ``term(y_true, y_pred)`` when the formula uses the batch) returns the loss;
    ``term.params`` the parameters' values, ``term.terms`` the named terms. With ``check_numerics``,
    the first input, named term or step whose value or gradient is NaN or Inf raises
    ``tf.errors.InvalidArgumentError`` naming it. ``constants`` gives the tensors the formula declares
    (``where F: tensor``) and array initial values of tensor-valued parameters, by name; they are kept as
    non-trainable weights of the term, like the snapshots ``initial(W)`` taken now.

    >>> term = lossdsl.compile("a * norm(L1.kernel)\nwhere a: positive = 0.5", model)  # doctest: +SKIP
    >>> float(term()), term.params                                                     # doctest: +SKIP
    (1.93, {'a': 0.5})
    """
    from .keras import compile_term
    return compile_term(src, model, jit_compile=jit_compile, check_numerics=check_numerics, constants=constants)


def attach(model, src: str, jit_compile: bool = False, check_numerics: bool = False, constants: dict | None = None,
           log_params=None):
    """A model whose ``fit()`` minimizes the formula (imports TensorFlow).

    With a data term (``y_true``/``y_pred``) the formula is the whole loss; without one it is added
    to the loss given to ``compile()``. The scalar named terms and the first 10 scalar parameters appear in
    the fit logs (``log_params``: ``"all"``, or a list of the parameters' names; ``[]`` for none). With
    ``check_numerics``, fit() stops at the first NaN or Inf in the formula (value or gradient) with a
    ``tf.errors.InvalidArgumentError`` naming the input, term or step it came from. ``constants`` as for
    :func:`compile`: saved with the model, like the snapshots ``initial(W)`` taken when attaching.

    >>> trained = lossdsl.attach(model, "mse(y_true, y_pred) + a * norm(L1.kernel)\nwhere a: positive")  # doctest: +SKIP
    >>> trained.compile(optimizer="adam"); trained.fit(x, y)                                          # doctest: +SKIP
    """
    from .keras import attach_formula
    return attach_formula(model, src, jit_compile=jit_compile, check_numerics=check_numerics, constants=constants,
                          log_params=log_params)


register_when_keras_loads()  # so `import lossdsl` is enough for keras.models.load_model
