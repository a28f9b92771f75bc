"""What fit() logs of a formula: its scalar named terms and up to MAX_LOGGED_PARAMS scalar parameters, as one
metric (issue 15: a hundred parameters made a hundred ``Mean`` metrics, 200 variable updates a step, and a
progress bar nobody could read).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from ..language.errors import LossError, warn
from ..language.formula import Formula
from .saved_config import quoted

#: How many scalar parameters fit() logs unless told otherwise (``log_params="all"`` or a list of names).
MAX_LOGGED_PARAMS = 10

#: Keys fit() writes itself (and as val_<key>): a term or parameter logged under one would hide the total.
RESERVED_LOG_NAMES = frozenset({"loss"})


def logged_params(formula: Formula, log_params) -> list[str]:
    """The scalar parameters fit() logs: the first MAX_LOGGED_PARAMS in declaration order (``None``), all
    (``"all"``), or the names given, which must be scalar parameters of the formula (a list; ``[]``: none).

    ``log_params`` may come from a saved config (data anyone may have edited): anything else is a LossError.
    """
    scalars = [name for name, param in formula.params.items() if not param.shape]
    if log_params is None:
        return scalars[:MAX_LOGGED_PARAMS]
    if log_params == "all":
        return scalars
    if not isinstance(log_params, (list, tuple)) or not all(isinstance(name, str) for name in log_params):
        raise LossError([], formula.source, "log_params must be None (the first "
                        f"{MAX_LOGGED_PARAMS} scalar parameters), 'all' or a list of parameter names, "
                        f"not {quoted(log_params)}")
    unknown = [name for name in log_params if name not in scalars]
    if unknown:
        tensors = [name for name in unknown if name in formula.params]
        reason = "is tensor-valued (only scalar parameters are logged; read it with model.params)" if tensors \
            else "is not a parameter of the formula"
        raise LossError([], formula.source, f"log_params: '{unknown[0]}' {reason}; the scalar parameters are "
                                            f"{', '.join(scalars) or 'none'}")
    return list(dict.fromkeys(log_params))


def log_names(names: list[str]) -> dict[str, str]:
    """The name each term and parameter is logged under: its own, unless fit() uses it (then with _term)."""
    logged = {}
    for name in names:
        log = name
        while log in RESERVED_LOG_NAMES or (log != name and log in names):
            log += "_term"
        if log != name:
            warn(f"the term '{name}' is logged as '{log}' in fit() and evaluate(): they log the total loss as "
                 f"'{name}' (rename the term to choose the name yourself)")
        logged[name] = log
    return logged


class FormulaLogs(keras.metrics.Metric):
    """The mean over an epoch's steps of each logged value, as one metric: one vector of totals, one count,
    one update a step; ``result()`` is a dict by log name (Keras 3 logs each entry of a metric's dict)."""

    def __init__(self, logged: dict[str, str], **kwargs):
        super().__init__(**kwargs)
        self.logged = dict(logged)  # name in the formula -> name in the logs
        self.total = self.add_variable(shape=(len(logged),), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, values: dict):
        """Add one step's values (a dict holding a scalar for each logged name)."""
        step = tf.stack([_scalar(tf.cast(values[name], self.dtype)) for name in self.logged])
        self.total.assign_add(step)
        self.count.assign_add(tf.ones((), self.dtype))

    def result(self):
        means = tf.math.divide_no_nan(self.total, self.count)
        return dict(zip(self.logged.values(), tf.unstack(means, num=len(self.logged))))

    def get_config(self):
        return {**super().get_config(), "logged": self.logged}


def _scalar(value: tf.Tensor) -> tf.Tensor:
    # A term of shape (1, 1) or of a shape known only when run: its mean, as the Mean metric took it.
    return value if value.shape.rank == 0 else tf.reduce_mean(value)
