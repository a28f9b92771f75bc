"""Data losses: Keras' per-sample losses of (y_true, y_pred), averaged over the batch like Keras' default."""

from __future__ import annotations

import sympy

from .. import intervals as iv
from .. import shape_algebra as shapes
from .base import NONNEGATIVE, UNDECIDED, FunctionSpec, NodeKind, Option, TensorFunction, build, declare, node_class


class DataLoss(TensorFunction):
    """A Keras data loss averaged over the batch: (y_true, y_pred, *options)."""

    nargs = 2
    tensor_arity = 2


FROM_LOGITS = Option("from_logits", "flag", sympy.Integer(0))


def _data_loss(name: str, call: str, summary: str, keras_loss: str, *options: Option, shape=None,
               same_shape: bool = True, fixed: tuple = (), **option_types) -> type:
    """A data loss computed by ``keras.losses.<keras_loss>``; ``option_types`` convert its options for Keras,
    ``fixed`` holds (name, value) pairs of Keras options the formula does not choose."""
    cls = node_class(name, __name__, 2 + len(options), 2, DataLoss, f"{call}(y_true, y_pred): {summary}")
    return declare(NodeKind(
        cls, summary, shape or (lambda node, y_true, y_pred: shapes.pair_to_scalar(y_true, y_pred)),
        sign=NONNEGATIVE, range=lambda node, of: iv.NONNEG,
        asymptotic=UNDECIDED,  # a parameter inside, mse(y_true, a * y_pred): cannot tell (W405)
        plain=UNDECIDED,
        lower=lambda node, lib: lib.data_loss(node, keras_loss, same_shape, option_types, dict(fixed)),
        latex=rf"\operatorname{{{call}}}".replace("_", r"\_"),
        calls=(FunctionSpec(call, build(cls), ("y_true", "y_pred"), options, summary=summary),)))


MSE = _data_loss("MSE", "mse", "mean squared error", "MeanSquaredError")
MAE = _data_loss("MAE", "mae", "mean absolute error", "MeanAbsoluteError")
Huber = _data_loss("Huber", "huber", "Huber loss", "Huber", Option("delta", "positive", sympy.Float(1.0)), delta=float)
BCE = _data_loss("BCE", "bce", "binary cross-entropy", "BinaryCrossentropy", FROM_LOGITS, from_logits=bool)
CCE = _data_loss("CCE", "cce", "categorical cross-entropy", "CategoricalCrossentropy", FROM_LOGITS, from_logits=bool)
# sparse_cce's labels have a rank less than its predictions: no broadcasting them to one shape
SparseCCE = _data_loss("SparseCCE", "sparse_cce", "sparse categorical cross-entropy", "SparseCategoricalCrossentropy",
                       FROM_LOGITS, shape=lambda node, labels, predictions: shapes.sparse_labels(labels, predictions),
                       same_shape=False, from_logits=bool)
KLD = _data_loss("KLD", "kld", "Kullback-Leibler divergence", "KLDivergence")
# Keras' option order is the call's: gamma, alpha, from_logits
Focal = _data_loss("Focal", "focal", "binary focal cross-entropy with class balancing", "BinaryFocalCrossentropy",
                   Option("gamma", "nonnegative", sympy.Float(2.0)), Option("alpha", "fraction", sympy.Float(0.25)),
                   FROM_LOGITS, fixed=(("apply_class_balancing", True),), gamma=float, alpha=float, from_logits=bool)
