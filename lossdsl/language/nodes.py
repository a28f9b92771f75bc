"""The sympy node classes for tensor operations sympy does not have (norm, @, .T, data losses, ...).

Each class is declared with every fact about it in its family module of :mod:`lossdsl.language.kinds`;
this module names them all in one place. Option arguments (an axis, a norm order) are sympy constants
inside the node, so the node alone says what to compute; ``Tuple()`` as an axis means "all axes".
"""

from __future__ import annotations

from .kinds.arithmetic import Index
from .kinds.base import TensorFunction
from .kinds.collections import (LoopVariable, MaxOver, MeanOver, MinOver, PooledMax, PooledMean,
                                PooledMin, PooledNorm, PooledSum, SumOver)
from .kinds.data_losses import BCE, CCE, KLD, MAE, MSE, DataLoss, Huber, SparseCCE
from .kinds.elementwise import Clip, Log1p, Maximum, Minimum, Relu, Sigmoid, Softplus, StopGradient
from .kinds.linear_algebra import Cosine, Diagonal, DotProduct, EyeMatrix, MatrixProduct, MatrixTrace, Transposed
from .kinds.reductions import LogSumExp, Norm, ReduceMax, ReduceMean, ReduceMin, ReduceSum, Softmax
from .shape_algebra import OMITTED, axis_of

__all__ = ["BCE", "CCE", "KLD", "MAE", "MSE", "OMITTED", "Clip", "Cosine", "DataLoss", "Diagonal", "DotProduct",
           "EyeMatrix", "Huber", "Index", "Log1p", "LogSumExp", "LoopVariable", "MatrixProduct", "MatrixTrace", "Maximum", "Minimum",
           "MaxOver", "MeanOver", "MinOver", "Norm", "PooledMax", "PooledMean", "PooledMin", "PooledNorm", "PooledSum",
           "SumOver", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Sigmoid", "Softmax", "Softplus",
           "SparseCCE", "StopGradient", "TensorFunction", "Transposed", "axis_of"]
