"""Static shapes: the algebra the node kinds' shape rules are written in (broadcasting, @, reductions, ...).

A shape is a tuple of dimensions, ``None`` for a dimension not known statically (the batch), or the
whole shape ``None`` when not even the rank is known. A rule that finds a problem raises
:class:`~lossdsl.language.findings.Finding`; the walker (:mod:`lossdsl.analysis.shapes`) reports it.
"""

from __future__ import annotations

import itertools
import math

import sympy

from .findings import Finding

Shape = tuple | None
SCALAR: tuple = ()

RUN_TIME_DIMENSION_HINT = ("None is a size known only at run time (the batch); it cannot meet a fixed size: "
                           "reduce over it first, for example mean(y_pred, axis=0)")

#: Slice bounds that were left out (``x[:3]``) are stored as this symbol.
OMITTED = sympy.Symbol("_")


class BatchDimension(int):
    """The batch: the leading run-time dimension of ``y_true`` and ``y_pred``, marked so the lowering can
    tell a reduction over it (a cross-replica one under a distribution strategy) from one over other axes.

    The rules treat it as a run-time dimension exactly like ``None`` (:func:`runtime`), and move it with
    the very object (a broadcast, a reduction, ``.T``, ``@``, a whole slice); a partial slice of it is a
    size known only at run time, ``None``. Shown as ``None``; :func:`unmarked` turns it back into one.
    """

    def __repr__(self) -> str:
        return "None"

    __str__ = __repr__


BATCH = BatchDimension(2**62)


def runtime(d) -> bool:
    """A dimension known only at run time: ``None``, or the batch."""
    return d is None or d is BATCH


def has_batch(shape: Shape) -> bool:
    """True if ``shape`` holds the (whole) batch dimension."""
    return shape is not None and any(d is BATCH for d in shape)


def unmarked(shape: Shape) -> Shape:
    """``shape`` with the batch shown as the ``None`` it is everywhere outside the lowering."""
    return shape if not has_batch(shape) else tuple(None if d is BATCH else d for d in shape)


def axis_of(option) -> tuple[int, ...] | None:
    """The axes an ``axis`` option names, or ``None`` for all axes."""
    return tuple(int(a) for a in option) if len(option) else None


def is_scalar(shape: Shape) -> bool:
    """Not known to hold more than one value: () or all ones, or an unknown shape (nothing to report)."""
    return shape is None or all(d == 1 for d in shape)


def describe(shape: Shape) -> str:
    if shape is None:
        return "unknown"
    return "scalar ()" if shape == () else "(" + ", ".join("None" if d is None else str(d) for d in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def broadcast(*shapes: Shape) -> Shape:
    """numpy broadcasting. A dimension known only at run time (``None``: the batch) agrees with itself and
    with 1; against a fixed size it would work only for one batch size, so it is an error like a mismatch."""
    if any(s is None for s in shapes):
        return None
    result = []
    for dims in itertools.zip_longest(*(reversed(s) for s in shapes), fillvalue=1):
        known = {d for d in dims if not runtime(d) and d != 1}
        at_run_time = [d for d in dims if runtime(d)]
        if len(known) > 1 or (known and at_run_time):
            raise Finding("E301", "shapes " + " and ".join(describe(s) for s in shapes) + " do not broadcast",
                          "elementwise operations need equal dimensions, or 1, aligned from the right"
                          if not at_run_time else RUN_TIME_DIMENSION_HINT)
        result.append(known.pop() if known else _run_time_dimension(at_run_time) if at_run_time else 1)
    return tuple(reversed(result))


def _run_time_dimension(dims: list):
    """The batch where only the batch meets; ``None`` where another run-time dimension is among them."""
    return BATCH if all(d is BATCH for d in dims) else None


def checked_axes(shape: Shape, axes: tuple[int, ...]) -> list[int]:
    """The axes as non-negative positions in ``shape`` (known, not None); E305 for one out of range."""
    rank = len(shape)
    for axis in axes:
        if not -rank <= axis < rank:
            raise Finding("E305", f"axis {axis} is out of range for shape {describe(shape)}",
                          f"valid axes are {-rank}..{rank - 1}" if rank else "a scalar has no axes", "axis")
    return [axis % rank for axis in axes]


def reduce(shape: Shape, axis_option) -> Shape:
    """The shape left after reducing over the axes of an ``axis`` option (all of them when empty)."""
    axes = axis_of(axis_option)
    if axes is None:
        return SCALAR
    if shape is None:
        return None
    kept = list(range(len(shape)))
    for axis in checked_axes(shape, axes):
        kept.remove(axis)
    return tuple(shape[i] for i in kept)


def along_axis(shape: Shape, axis_option, one_axis: bool = True) -> Shape:
    """``shape`` itself, once the axis of an operation along an axis (softmax, normalize) is checked to exist."""
    axes = axis_of(axis_option)
    if one_axis and len(axes) > 1:
        raise Finding("E213", f"this function works along one axis, got {len(axes)}",
                      "give one axis, for example axis=-1", "axis")
    if shape is not None:
        checked_axes(shape, axes)
    return shape


def matmul(left: Shape, right: Shape) -> Shape:
    if left is None or right is None:
        return None
    if not left or not right:
        raise Finding("E302", "@ needs tensors of rank 1 or more, got a scalar", "use * to scale by a scalar")
    a, b = (left if len(left) > 1 else (1,) + left), (right if len(right) > 1 else right + (1,))
    inner = (a[-1], b[-2])
    # None against a size is a mismatch too: it would hold for one batch size only
    if a[-1] != b[-2] and not all(map(runtime, inner)):
        raise Finding("E302", f"{describe(left)} @ {describe(right)}: inner dimensions {a[-1]} and {b[-2]} differ",
                      "transpose one side (.T) or check which variables you multiply"
                      if not any(map(runtime, inner)) else RUN_TIME_DIMENSION_HINT)
    batch = broadcast(a[:-2], b[:-2])
    return batch + (a[-2],) * (len(left) > 1) + (b[-1],) * (len(right) > 1)


def index(shape: Shape, subscripts) -> Shape:
    if shape is None:
        return None
    if len(subscripts) > len(shape):
        raise Finding("E306", f"{len(subscripts)} indices for shape {describe(shape)}",
                      f"this tensor has rank {len(shape)}", len(shape))
    result = []
    for position, (dim, item) in enumerate(zip(shape, subscripts)):
        if isinstance(item, sympy.Tuple):
            bounds = [None if part == OMITTED else int(part) for part in item]
            if bounds[2] == 0:
                raise Finding("E306", "a slice step cannot be zero", "use a step of 1 or more", position)
            if runtime(dim):  # a part of the batch is a run-time size, not the batch
                whole = bounds[:2] == [None, None] and bounds[2] in (None, 1)
                result.append(dim if whole else None)
            else:
                result.append(len(range(dim)[slice(*bounds)]))
        elif not runtime(dim) and not -dim <= int(item) < dim:
            raise Finding("E306", f"index {item} is out of range for a dimension of size {dim}",
                          f"valid indices are {-dim}..{dim - 1}", position)
    return tuple(result) + shape[len(subscripts):]


def transpose(x: Shape) -> Shape:
    if x is not None and len(x) != 2:
        raise Finding("E304", f".T needs a matrix, got shape {describe(x)}", "index or reshape to rank 2 first")
    return None if x is None else x[::-1]


def needs_rank(x: Shape, ranks: tuple, name: str) -> None:
    if x is not None and len(x) not in ranks:
        raise Finding("E308", f"{name}() needs rank {' or '.join(map(str, ranks))}, got shape {describe(x)}",
                      "check which variable is passed; index it (x[0]) to lower its rank")


def square_matrix(x: Shape, name: str) -> Shape:
    """The batch dimensions of a (stack of) square matrices, for det, inv, logdet, eigvalsh; E309 otherwise."""
    if x is None:
        return None
    if len(x) < 2 or (None not in x[-2:] and x[-1] != x[-2]):
        raise Finding("E309", f"{name}() needs a square matrix, got shape {describe(x)}",
                      "pass an n-by-n matrix, for example W.T @ W for a kernel W")
    if None in x[-2:]:
        raise Finding("E309", f"{name}() needs a square matrix of a known size, got shape {describe(x)}",
                      RUN_TIME_DIMENSION_HINT)
    return x[:-2]


def singular_values(x: Shape, name: str) -> Shape:
    """svd(x): one singular value per row or column, whichever is fewer, for each matrix of ``x``."""
    needs_rank(x, tuple(range(2, 9)), name)
    if x is None:
        return None
    m, n = x[-2:]
    return x[:-2] + (None if None in (m, n) else min(m, n),)


def largest_singular_value(x: Shape, name: str) -> Shape:
    """spectral_norm(x), nuclear_norm(x): one value for each matrix of ``x``."""
    values = singular_values(x, name)
    return None if values is None else values[:-1]


def solved(a: Shape, b: Shape) -> Shape:
    """solve(a, b): x with a @ x = b, a square; b a vector or a matrix of as many rows as a."""
    square_matrix(a, "solve")
    needs_rank(b, (1, 2), "solve")
    if a is not None and b is not None and len(a) == 2 and a[0] != b[0]:
        raise Finding("E302", f"solve(a, b): a {describe(a)} and b {describe(b)}: b needs {a[0]} rows",
                      "b holds one right-hand side per column, as many rows as a")
    return b


def reshaped(x: Shape, target) -> Shape:
    """reshape(x, shape): ``target`` holds positive sizes and at most one -1, which takes what is left;
    with a run-time dimension (the batch) in x, the -1 must take it."""
    target = [int(d) for d in target]
    if x is None:
        return tuple(None if d == -1 else d for d in target)
    known = math.prod(d for d in target if d != -1)
    if any(map(runtime, x)):
        if -1 not in target:
            raise Finding("E310", f"cannot reshape {describe(x)} to a fixed shape {describe(tuple(target))}",
                          "write -1 for the dimension that takes the batch, for example (-1, 4)", "shape")
        rest = math.prod(d for d in x if not runtime(d))
        if rest % known:
            raise Finding("E310", f"cannot reshape {describe(x)} to {describe(tuple(target))}: {rest} entries per "
                                  f"sample do not divide into {known}", "the fixed sizes must divide the sample size",
                          "shape")
        # -1 is the batch itself when it takes exactly one sample's entries per batch entry
        taken = BATCH if has_batch(x) and rest == known else None
        return tuple(taken if d == -1 else d for d in target)
    size = math.prod(x)
    if (-1 in target and (known == 0 or size % known)) or (-1 not in target and known != size):
        raise Finding("E310", f"cannot reshape {describe(x)} ({size} entries) to {describe(tuple(target))}",
                      "the sizes must multiply to the number of entries; -1 takes what is left", "shape")
    return tuple(size // known if d == -1 else d for d in target)


def stacked(*shapes: Shape) -> Shape:
    """stack(a, b, ...): equal shapes, stacked along a new first axis."""
    known = {s for s in shapes if s is not None}
    if len(known) > 1:
        raise Finding("E301", "stack() needs equal shapes, got " + ", ".join(describe(s) for s in shapes),
                      "stack scalars (losses, norms) into a vector: stack(mse(y_true, y_pred), norm(L1.kernel))")
    return (len(shapes),) + known.pop() if known else None


def diagonal(x: Shape) -> Shape:
    needs_rank(x, (1, 2), "diag")
    if x is None:
        return None
    return (x[0], x[0]) if len(x) == 1 else (_run_time_dimension(list(x)) if any(map(runtime, x)) else min(x),)


def pair_to_scalar(x: Shape, y: Shape) -> Shape:
    broadcast(x, y)
    return SCALAR


def sparse_labels(labels: Shape, predictions: Shape) -> Shape:
    """sparse_cce: one class index per prediction row, shape (..., ) or (..., 1) for predictions (..., k)."""
    if labels is None or predictions is None:
        return SCALAR
    if len(labels) == len(predictions) and labels and labels[-1] == 1:
        labels = labels[:-1]
    if not predictions:
        raise Finding("E308", "sparse_cce() needs predictions with a class axis, got a scalar",
                      "pass the model's probabilities or logits: sparse_cce(y_true, y_pred)")
    if len(labels) != len(predictions) - 1:
        raise Finding("E308", f"sparse_cce() needs class indices of shape {describe(predictions[:-1])} for "
                              f"predictions {describe(predictions)}, got {describe(labels)}",
                      "with one-hot targets of the predictions' shape use cce(y_true, y_pred)")
    broadcast(labels, predictions[:-1])
    return SCALAR
