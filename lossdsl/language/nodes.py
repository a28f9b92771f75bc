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
from .kinds.data_losses import BCE, CCE, KLD, MAE, MSE, DataLoss, Focal, Huber, SparseCCE
from .kinds.elementwise import Clip, Log1p, Maximum, Minimum, Relu, Sigmoid, Softplus, StopGradient
from .kinds.gradients import Gradient
from .kinds.linear_algebra import Cosine, Diagonal, DotProduct, EyeMatrix, MatrixProduct, MatrixTrace, Transposed
from .kinds.matrices import (EigenvaluesSymmetric, LogDeterminant, MatrixDeterminant, MatrixInverse, NuclearNorm,
                             SingularValues, Solution, SpectralNorm)
from .kinds.random_draws import NormalLike, RandomDraw, RandomNormal, RandomUniform, UniformLike
from .kinds.reductions import (LogSoftmax, LogSumExp, Norm, Normalize, ReduceMax, ReduceMean, ReduceMin, ReduceSum,
                               Softmax, StandardDeviation, Variance)
from .kinds.shaping import BATCH, BatchSize, OneHot, Reshape, Stack
from .shape_algebra import OMITTED, axis_of

__all__ = ["BATCH", "BCE", "CCE", "KLD", "MAE", "MSE", "OMITTED", "axis_of", "BatchSize", "Clip", "Cosine",
           "DataLoss", "Diagonal", "DotProduct", "EigenvaluesSymmetric", "EyeMatrix", "Focal", "Gradient", "Huber",
           "Index", "Log1p", "LogDeterminant", "LogSoftmax", "LogSumExp", "LoopVariable", "MatrixDeterminant",
           "MatrixInverse", "MatrixProduct", "MatrixTrace", "Maximum", "MaxOver", "MeanOver", "Minimum",
           "MinOver", "Norm", "Normalize", "NormalLike", "NuclearNorm", "OneHot", "PooledMax", "PooledMean",
           "PooledMin", "PooledNorm", "PooledSum", "RandomDraw", "RandomNormal", "RandomUniform", "ReduceMax",
           "ReduceMean", "ReduceMin", "ReduceSum", "Relu", "Reshape", "Sigmoid", "SingularValues", "Softmax",
           "Softplus", "Solution", "SparseCCE", "SpectralNorm", "Stack", "StandardDeviation", "StopGradient",
           "SumOver", "TensorFunction", "Transposed", "UniformLike", "Variance"]
