"""Reductions (norm, sum, mean, max, min, logsumexp) and operations along an axis (softmax)."""

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


def _reduction(name: str, call: str, summary: str, value_range, asymptotic, path: str, sign=None) -> type:
    """A reduction ``call(x, axis=None)`` computed by the TensorFlow reduction at ``path``, and over the
    global batch by ``replicas.global_<call>``."""
    cls = node_class(name, __name__, 2, doc=f"{call}(x, axis): {summary}")
    return declare(NodeKind(cls, summary, shape=lambda node, x: shapes.reduce(x, node.args[1]), sign=sign,
                            range=on_ranges(value_range), asymptotic=asymptotic, plain=UNDECIDED,
                            lower=tf_reduction(path, f"replicas.global_{call}"), latex=rf"\operatorname{{{call}}}",
                            calls=(FunctionSpec(call, build(cls), options=(AXIS,), summary=summary),)))


ReduceSum = _reduction("ReduceSum", "sum", "sum of entries", iv.total, LINEAR, "tf.reduce_sum")
ReduceMean = _reduction("ReduceMean", "mean", "mean of entries", lambda x: x, LINEAR, "tf.reduce_mean")
ReduceMax = _reduction("ReduceMax", "max", "largest entry", lambda x: x, UNDECIDED, "tf.reduce_max")
ReduceMin = _reduction("ReduceMin", "min", "smallest entry", lambda x: x, UNDECIDED, "tf.reduce_min")
# max(x) <= logsumexp(x) <= max(x) + log(count): at least the least entry, and unbounded above (the count
# of entries is not known here). Its sign is the entries' sign: logsumexp(x) >= max(x).
LogSumExp = _reduction("LogSumExp", "logsumexp", "log(sum(exp(x))), computed without overflow",
                       lambda x: iv.make(x.lo, iv.INF, x.lo_closed), UNDECIDED, "tf.reduce_logsumexp",
                       sign=same_sign(0))


Softmax = node_class("Softmax", __name__, 2, doc="softmax(x, axis): exp(x) / sum(exp(x), axis), along one axis")


def _lower_softmax(node, lib):
    axis = shapes.axis_of(node.args[1])[0]
    return lib.Op(lambda x: lib.tf.nn.softmax(x, axis=axis), node.tensors, f"tf.nn.softmax({{0}}, axis={axis})")


declare(NodeKind(
    Softmax, "exp(x) / sum(exp(x)) along one axis: positive entries that sum to 1",
    shape=lambda node, x: shapes.along_axis(x, node.args[1]),
    sign=POSITIVE,
    range=lambda node, of: iv.Range(0.0, 1.0, False, True),  # 1 where the axis has one entry
    asymptotic=UNDECIDED, plain=UNDECIDED, lower=_lower_softmax, latex=r"\operatorname{softmax}",
    calls=(FunctionSpec("softmax", build(Softmax), options=(Option("axis", "axis", Tuple(-1)),),
                      summary="exp(x) / sum(exp(x)) along one axis: positive entries that sum to 1"),)))
