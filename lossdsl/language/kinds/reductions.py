"""Reductions (norm, sum, mean, max, min, var, std, logsumexp) and operations along an axis (softmax,
log_softmax, normalize)."""

from __future__ import annotations

import sympy
from sympy import Tuple

from .. import intervals as iv
from .. import shape_algebra as shapes
from .base import (ABSOLUTELY_LINEAR, LINEAR, NONNEGATIVE, POSITIVE, UNDECIDED, FunctionSpec, NodeKind, Option,
                   TensorFunction, build, declare, latex_option, node_class, on_ranges, same_sign)

AXIS = Option("axis", "axis", Tuple())


def tf_reduction(path: str, across: str):
    """A lowering facet: the TensorFlow reduction at ``path`` over the node's axis option (its last argument);
    over the batch under a distribution strategy, the global reduction at ``across`` (``replicas.global_sum``)."""
    return lambda node, lib: lib.reduction(lib.resolve(path), f"{path}({{0}}%s)", lib.resolve(across))(node)


class Norm(TensorFunction):
    """norm(x, ord, axis): ord is 1, 2 (Frobenius over all entries) or oo."""

    nargs = 3

    def _latex(self, printer, exp=None):
        body = self._latex_body(printer)  # \|x\|^2, without the parentheses other functions get
        return body if exp is None else f"{body}^{{{exp}}}"


def _latex_norm(node, printer) -> str:
    x, order, axis = node.args
    parts = [] if order == 2 else [r"\infty" if order == sympy.oo else printer._print(order)]
    parts += [latex_option(axis, printer)] if axis != Tuple() else []
    sub = f"_{{{', '.join(parts)}}}" if parts else ""
    return rf"\left\|{printer._print(x)}\right\|{sub}"


declare(NodeKind(
    Norm, "2-norm of all entries (ord=1 or inf for other norms)",
    shape=lambda node, x: shapes.reduce(x, node.args[2]),
    sign=NONNEGATIVE, range=lambda node, of: iv.NONNEG,
    asymptotic=ABSOLUTELY_LINEAR,  # norm(a*W) = |a|*norm(W)
    plain=UNDECIDED,
    lower=lambda node, lib: lib.lower_norm(node), latex=_latex_norm,
    calls=(FunctionSpec("norm", build(Norm), options=(Option("ord", "order", sympy.Integer(2)), AXIS),
                      summary="2-norm of all entries (ord=1 or inf for other norms)"),)))


def _reduction(name: str, call: str, summary: str, value_range, asymptotic, path: str, sign=None,
               lower=None) -> type:
    """A reduction ``call(x, axis=None)`` computed by the TensorFlow reduction at ``path`` (or ``lower``), and
    over the global batch by ``replicas.global_<call>``."""
    cls = node_class(name, __name__, 2, doc=f"{call}(x, axis): {summary}")
    return declare(NodeKind(cls, summary, shape=lambda node, x: shapes.reduce(x, node.args[1]), sign=sign,
                            range=on_ranges(value_range), asymptotic=asymptotic, plain=UNDECIDED,
                            lower=lower or tf_reduction(path, f"replicas.global_{call}"), latex=rf"\operatorname{{{call}}}",
                            calls=(FunctionSpec(call, build(cls), options=(AXIS,), summary=summary),)))


ReduceSum = _reduction("ReduceSum", "sum", "sum of entries", iv.total, LINEAR, "tf.reduce_sum")
ReduceMean = _reduction("ReduceMean", "mean", "mean of entries", lambda x: x, LINEAR, "tf.reduce_mean")
ReduceMax = _reduction("ReduceMax", "max", "largest entry", lambda x: x, UNDECIDED, "tf.reduce_max")
ReduceMin = _reduction("ReduceMin", "min", "smallest entry", lambda x: x, UNDECIDED, "tf.reduce_min")
Variance = _reduction("Variance", "var", "variance of entries (the mean square deviation from their mean)",
                      lambda x: iv.NONNEG, UNDECIDED, "tf.math.reduce_variance", sign=NONNEGATIVE)
# std(a*x) = |a|*std(x); computed as a norm of the deviations, whose gradient is 0 (not NaN) when they are all 0
StandardDeviation = _reduction("StandardDeviation", "std", "standard deviation of entries (square root of var)",
                               lambda x: iv.NONNEG, ABSOLUTELY_LINEAR, "standard_deviation", sign=NONNEGATIVE)
# max(x) <= logsumexp(x) <= max(x) + log(count): at least the least entry, and unbounded above (the count
# of entries is not known here). Its sign is the entries' sign: logsumexp(x) >= max(x).
LogSumExp = _reduction("LogSumExp", "logsumexp", "log(sum(exp(x))), computed without overflow",
                       lambda x: iv.make(x.lo, iv.INF, x.lo_closed), UNDECIDED, "tf.reduce_logsumexp",
                       sign=same_sign(0))


def _along_one_axis(name: str, call: str, summary: str, path: str, sign, value_range, default_axis=-1,
                    one_axis: bool = True) -> type:
    """An operation ``call(x, axis)`` keeping x's shape, computed along the axis by ``path`` (``tf.nn.softmax``)."""
    cls = node_class(name, __name__, 2, doc=f"{call}(x, axis): {summary}")

    def lower(node, lib):
        axes = shapes.axis_of(node.args[1])
        axis = axes[0] if one_axis else list(axes)
        return lib.Op(lambda x: lib.resolve(path)(x, axis=axis), node.tensors, f"{path}({{0}}, axis={axis})")

    return declare(NodeKind(
        cls, summary, shape=lambda node, x: shapes.along_axis(x, node.args[1], one_axis), sign=sign,
        range=value_range, asymptotic=UNDECIDED, plain=UNDECIDED, lower=lower,
        latex=rf"\operatorname{{{call}}}".replace("_", r"\_"),
        calls=(FunctionSpec(call, build(cls), options=(Option("axis", "axis", Tuple(default_axis)),),
                            summary=summary),)))


Softmax = _along_one_axis("Softmax", "softmax", "exp(x) / sum(exp(x)) along one axis: positive entries that sum to 1",
                          "tf.nn.softmax", POSITIVE,
                          lambda node, of: iv.Range(0.0, 1.0, False, True))  # 1 where the axis has one entry
LogSoftmax = _along_one_axis("LogSoftmax", "log_softmax", "log(softmax(x)), computed without overflow",
                             "tf.nn.log_softmax", None, lambda node, of: iv.Range(-iv.INF, 0.0, False, True))
def _unit_with_sign_of(x: iv.Range) -> iv.Range:
    """Where x / norm(x) lies: in [-1, 1], on x's side of 0."""
    lo, lo_closed = (-1.0, True) if x.lo < 0 else (0.0, x.lo == 0 and x.lo_closed)
    hi, hi_closed = (1.0, True) if x.hi > 0 else (0.0, x.hi == 0 and x.hi_closed)
    return iv.make(lo, hi, lo_closed, hi_closed)


# x / sqrt(max(sum(x**2), 1e-12)): entries in [-1, 1], each with the sign of its x; finite at x = 0
Normalize = _along_one_axis("Normalize", "normalize", "x / norm(x) along the axis (like tf.math.l2_normalize)",
                            "tf.math.l2_normalize", same_sign(0), on_ranges(_unit_with_sign_of), one_axis=False)
