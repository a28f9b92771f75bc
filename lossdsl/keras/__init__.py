"""Keras 3 integration: the formula as a layer owning its parameters, and attach() for fit().

Design (SPEC §3.2): the wrapper model (:mod:`.model`) owns the formula's layer (:mod:`.term`), which owns the
new parameters (``add_weight``); the wrapper adds the formula's value in ``compute_loss``. Every variable read
goes through :func:`.reads.read_before_update`, so the optimizer can never update a variable before the formula
has read it.
"""

try:
    import keras  # noqa: F401
    import tensorflow  # noqa: F401
except ImportError as error:  # lint, explain and check stay usable without the backend
    raise ImportError('lossdsl.keras needs TensorFlow with Keras 3, which is an extra: pip install "lossdsl[tensorflow]"'
                      f" ({error})") from error

from .model import FormulaModel, attach_formula
from .reads import read_before_update
from .saved_config import checked_options, required_fields
from .term import FormulaTerm, compile_term

__all__ = ["FormulaModel", "FormulaTerm", "attach_formula", "compile_term", "checked_options", "read_before_update",
           "required_fields"]
