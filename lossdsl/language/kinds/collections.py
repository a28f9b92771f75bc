"""Collections (SPEC §5.2): comprehensions over a pattern's members, and the pooled reductions they become.

A formula names a collection with a pattern (``**.kernel``). Two forms reduce one:

- a reduction without ``axis`` over an expression of a pattern (``sum(square(**.kernel))``) stays the
  reduction node the user wrote; ``analysis.members`` rewrites it once the members are known;
- a comprehension ``sum(e for W in P)`` is a node of its own, ``SumOver(e, W, P)`` (``MeanOver``,
  ``MaxOver``, ``MinOver``): ``e`` is its one tensor argument, the loop variable and the pattern its options.

Once the members are known (a model or a shapes table), both become pooled reductions over explicit
member expressions: ``PooledSum(x1, ..., xn)`` is the sum of every entry of every argument, likewise
``PooledMean``, ``PooledMax``, ``PooledMin`` and ``PooledNorm`` (the global 2-norm). Only those are lowered:
one TensorFlow op per pooled reduction, reading each member where it is (no concatenation).
"""

from __future__ import annotations

import sympy

from .. import intervals as iv
from ..findings import Finding
from .base import (LINEAR, NONNEGATIVE, POSITIVE, UNDECIDED, NodeKind, TensorFunction, declare, node_class, tf_op,
                   same_sign)


class LoopVariable(sympy.Symbol):
    """The variable of a comprehension (``W`` in ``... for W in P``): one member at a time, never a parameter."""


def is_loop_variable(node) -> bool:
    return type(node) is LoopVariable


# ------------------------------------------------------------------ comprehensions
class Comprehension(TensorFunction):
    """``reduce(e for W in P)``: args (e, W, P); the reduction of each member's ``e``, reduced over members."""

    nargs = 3
    tensor_arity = 1
    how = ""

    @property
    def body(self):
        return self.args[0]

    @property
    def variable(self):
        return self.args[1]

    @property
    def pattern(self):
        return self.args[2]


def _latex_comprehension(symbol: str):
    def latex(node, printer) -> str:
        over = f"{printer._print(node.variable)} \\in {printer._print(node.pattern)}"
        return rf"{symbol}_{{{over}}} {printer.parenthesize(node.body, 50)}"
    return latex


def _not_expanded(node, lib):
    raise unresolved_pattern(node.pattern.name, node)


def unresolved_pattern(text: str, node) -> Finding:
    """A pattern reached lowering without its members: the formula was not resolved against a model."""
    return Finding("E230", f"'{text}' has no members yet, so it cannot be lowered",
                   "resolve the formula against a model first (lossdsl.compile or attach, or explain --model)",
                   node=node)


def _comprehension(name: str, how: str, summary: str, value_range, asymptotic, latex: str) -> type:
    cls = type(name, (Comprehension,), {"how": how, "__module__": __name__, "__doc__": summary})
    return declare(NodeKind(cls, summary, shape=lambda node, body: (), sign=same_sign(0),
                            range=lambda node, of: value_range(of(node.body)), asymptotic=asymptotic,
                            plain=UNDECIDED, lower=_not_expanded, latex=_latex_comprehension(latex)))


SumOver = _comprehension("SumOver", "sum", "sum(e for W in P): the sum over members of sum(e)", iv.total, LINEAR,
                         r"\sum")
MeanOver = _comprehension("MeanOver", "mean", "mean(e for W in P): the mean over members of mean(e)",
                          lambda x: x, LINEAR, r"\operatorname{mean}")
MaxOver = _comprehension("MaxOver", "max", "max(e for W in P): the largest over members of max(e)",
                         lambda x: x, UNDECIDED, r"\max")
MinOver = _comprehension("MinOver", "min", "min(e for W in P): the smallest over members of min(e)",
                         lambda x: x, UNDECIDED, r"\min")
#: A comprehension's reduction, by the function written around it.
COMPREHENSIONS = {cls.how: cls for cls in (SumOver, MeanOver, MaxOver, MinOver)}


# ------------------------------------------------------------------ pooled reductions
def _hull(ranges: list) -> iv.Range:
    """The smallest range holding every one of ``ranges``."""
    lo = min(ranges, key=lambda r: (r.lo, not r.lo_closed))
    hi = max(ranges, key=lambda r: (r.hi, r.hi_closed))
    return iv.make(lo.lo, hi.hi, lo.lo_closed, hi.hi_closed)


def _shared_sign(node, sign_of) -> str | None:
    """The sign every argument has (positive if all are, non-negative if all are at least that)."""
    signs = [sign_of(arg) for arg in node.args]
    return POSITIVE if all(s == POSITIVE for s in signs) else NONNEGATIVE if all(signs) else None


def _pooled(name: str, summary: str, sign, value_range, path: str, latex: str) -> type:
    """A reduction over any number of tensors (all its arguments), lowered by the helper at ``path``
    (``lowering.tensor_math``)."""
    cls = node_class(name, __name__, None, None, doc=summary)
    return declare(NodeKind(cls, summary, shape=lambda node, *shapes: (), sign=sign,
                            range=lambda node, of: value_range([of(arg) for arg in node.args]),
                            asymptotic=UNDECIDED, plain=UNDECIDED, lower=tf_op(path), latex=latex))


PooledSum = _pooled("PooledSum", "the sum of every entry of every member", _shared_sign,
                    lambda ranges: iv.total(_hull(ranges)), "pooled_sum", r"\operatorname{sum}")
PooledMean = _pooled("PooledMean", "the mean of every entry of every member", _shared_sign, _hull, "pooled_mean",
                     r"\operatorname{mean}")
PooledMax = _pooled("PooledMax", "the largest entry of every member", _shared_sign, _hull, "pooled_max", r"\max")
PooledMin = _pooled("PooledMin", "the smallest entry of every member", _shared_sign, _hull, "pooled_min", r"\min")
PooledNorm = _pooled("PooledNorm", "the 2-norm of every entry of every member together (global norm)",
                     NONNEGATIVE, lambda ranges: iv.NONNEG, "pooled_norm", r"\operatorname{norm}")
