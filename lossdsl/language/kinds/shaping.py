"""Tensors rearranged or made from others: reshape, stack, one_hot, and the batch's size (batch_size)."""

from __future__ import annotations

import sympy

from .. import intervals as iv
from .. import shape_algebra as shapes
from .base import (LINEAR, NONNEGATIVE, POSITIVE, UNDECIDED, FunctionSpec, NodeKind, Option, TensorFunction, build,
                   declare, node_class, on_ranges, same_sign)

Reshape = node_class("Reshape", __name__, 2, doc="reshape(x, shape): x's entries in another shape")


def _lower_reshape(node, lib):
    target = [int(d) for d in node.args[1]]
    return lib.Op(lambda x: lib.tf.reshape(x, target), node.tensors, f"tf.reshape({{0}}, {target})")


def _latex_shape(node, printer) -> str:
    shape = ", ".join(printer._print(d) for d in node.args[1])
    return rf"\operatorname{{reshape}}\left({printer._print(node.args[0])}, ({shape})\right)"


declare(NodeKind(
    Reshape, "x's entries in another shape; one -1 takes what is left",
    shape=lambda node, x: shapes.reshaped(x, node.args[1]), sign=same_sign(0), range=lambda node, of: of(node.args[0]),
    asymptotic=LINEAR,  # reshape(a*x) = a*reshape(x)
    plain=UNDECIDED, lower=_lower_reshape, latex=_latex_shape,
    calls=(FunctionSpec("reshape", build(Reshape), options=(Option("shape", "shape"),),
                        summary="x's entries in another shape; one -1 takes what is left"),)))


class Stack(TensorFunction):
    """stack(a, b, ...): equal-shaped tensors (scalars: a vector) along a new first axis."""

    tensor_arity = None  # every argument is a tensor


def _stack_sign(node, sign_of):
    signs = set(map(sign_of, node.args))
    return POSITIVE if signs == {POSITIVE} else NONNEGATIVE if None not in signs else None


declare(NodeKind(
    Stack, "a vector of scalars (or a stack of equal-shaped tensors) along a new first axis",
    shape=lambda node, *operands: shapes.stacked(*operands), sign=_stack_sign,
    range=on_ranges(iv.hull), asymptotic=UNDECIDED, plain=UNDECIDED,
    lower=lambda node, lib: lib.Op(lambda *values: lib.tf.stack(values), node.args, "tf.stack([{args}])".replace(
        "{args}", ", ".join("{%d}" % i for i in range(len(node.args))))),
    latex=r"\operatorname{stack}",
    calls=(FunctionSpec("stack", build(Stack), ("x",), variadic="tensors",
                        summary="a vector of scalars (or a stack of equal-shaped tensors) along a new first axis"),)))


OneHot = node_class("OneHot", __name__, 2, doc="one_hot(labels, n): 1 at each label's index among n, else 0")


def _lower_one_hot(node, lib):
    n = int(node.args[1])
    return lib.Op(lambda labels: lib.tf.one_hot(lib.tf.cast(labels, lib.tf.int32), n, dtype=labels.dtype),
                  node.tensors, f"tf.one_hot({{0}}, {n})")


declare(NodeKind(
    OneHot, "1 at each label's index among n classes, 0 elsewhere (a new last axis of size n)",
    shape=lambda node, labels: None if labels is None else labels + (int(node.args[1]),), sign=NONNEGATIVE,
    range=lambda node, of: iv.Range(0.0, 1.0), asymptotic=UNDECIDED, plain=UNDECIDED, lower=_lower_one_hot,
    latex=r"\operatorname{one\_hot}",
    calls=(FunctionSpec("one_hot", build(OneHot), ("labels",), (Option("n", "size"),),
                        summary="1 at each label's index among n classes, 0 elsewhere (a new last axis of size n)"),)))


#: What batch_size stands for until the builder knows the formula's batch (see language/batch_size.py).
BATCH = sympy.Symbol("batch")
BatchSize = node_class("BatchSize", __name__, 1, doc="batch_size: the number of samples in the global batch")

declare(NodeKind(
    BatchSize, "the number of samples in the current global batch (all replicas together)",
    shape=lambda node, batch: shapes.SCALAR, sign=POSITIVE, range=lambda node, of: iv.Range(1.0, iv.INF, True, False),
    asymptotic=UNDECIDED,  # no parameter is ever inside it
    plain=UNDECIDED, lower=lambda node, lib: lib.Op(lib.resolve("global_batch_size"), node.tensors, "global_batch_size({0})"),
    latex=lambda node, printer: r"\mathrm{batch\_size}"))
