"""The sympy node classes for tensor operations sympy does not have (norm, @, .T, data losses, ...).

Each class states the sign facts the stability analysis relies on (a norm is non-negative) and prints
itself in LaTeX. Option arguments (an axis, a norm order) are sympy constants inside the node, so the
node alone says what to compute; ``Tuple()`` as an axis means "all axes".
"""

from __future__ import annotations

import sympy
from sympy import Tuple


class TensorFunction(sympy.Function):
    """A real-valued tensor operation; ``sign`` is what is known of every entry of its value."""

    sign: str | None = None  # "positive", "nonnegative" or None
    latex_name: str | None = None
    #: How many leading arguments are tensors; the rest are options.
    tensor_arity = 1

    def _eval_is_real(self):
        return True

    def _eval_is_extended_nonnegative(self):
        return True if self.sign in ("positive", "nonnegative") else None

    def _eval_is_extended_positive(self):
        return True if self.sign == "positive" else None

    def _eval_derivative(self, symbol):
        # sympy's default differentiates every argument, options too (a Tuple axis has no .diff), and
        # sympy itself asks for derivatives, e.g. printing x*t**-exp(sum(k)). Unknown: left unevaluated.
        return sympy.S.Zero if not any(arg.has(symbol) for arg in self.tensors) else None

    @property
    def tensors(self) -> tuple:
        return self.args[: self.tensor_arity]

    @property
    def options(self) -> tuple:
        return self.args[self.tensor_arity:]

    def _latex(self, printer, exp=None):
        """sympy's hook; ``exp`` is the printed exponent when the node is the base of a power."""
        body = self._latex_body(printer)
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"

    def _latex_body(self, printer):
        name = self.latex_name or rf"\operatorname{{{type(self).__name__.lower()}}}"
        shown = [printer._print(arg) for arg in self.tensors]
        shown += [_latex_option(opt, printer) for opt in self.options if opt != Tuple()]
        return rf"{name}\left({', '.join(shown)}\right)"


def _latex_option(option, printer) -> str:
    """An option as written: a Tuple is always an axis option (``axis=-1``), anything else a constant."""
    if isinstance(option, Tuple):
        return r"\mathrm{axis}=" + ", ".join(printer._print(axis) for axis in option)
    return printer._print(option)


def axis_of(option) -> tuple[int, ...] | None:
    """The axes an ``axis`` option names, or ``None`` for all axes."""
    return tuple(int(a) for a in option) if len(option) else None


# ------------------------------------------------------------------ reductions
class Norm(TensorFunction):
    """norm(x, ord, axis): ord is 1, 2 (Frobenius over all entries) or oo."""

    nargs = 3
    sign = "nonnegative"

    def _latex_body(self, printer):
        x, order, axis = self.args
        parts = [] if order == 2 else [r"\infty" if order == sympy.oo else printer._print(order)]
        parts += [_latex_option(axis, printer)] if axis != Tuple() else []
        sub = f"_{{{', '.join(parts)}}}" if parts else ""
        return rf"\left\|{printer._print(x)}\right\|{sub}"

    def _latex(self, printer, exp=None):
        body = self._latex_body(printer)
        return body if exp is None else f"{body}^{{{exp}}}"


class ReduceSum(TensorFunction):
    nargs = 2
    latex_name = r"\operatorname{sum}"


class ReduceMean(TensorFunction):
    nargs = 2
    latex_name = r"\operatorname{mean}"


class ReduceMax(TensorFunction):
    nargs = 2
    latex_name = r"\operatorname{max}"


class ReduceMin(TensorFunction):
    nargs = 2
    latex_name = r"\operatorname{min}"


# ----------------------------------------------------------------- elementwise
class Log1p(TensorFunction):
    nargs = 1
    latex_name = r"\operatorname{log1p}"


class Sigmoid(TensorFunction):
    nargs = 1
    sign = "positive"
    latex_name = r"\sigma"


class Softplus(TensorFunction):
    nargs = 1
    sign = "positive"
    latex_name = r"\operatorname{softplus}"


class Relu(TensorFunction):
    nargs = 1
    sign = "nonnegative"
    latex_name = r"\operatorname{relu}"


class Clip(TensorFunction):
    """clip(x, lo, hi): all three are tensors (usually constants), broadcast together."""

    nargs = 3
    tensor_arity = 3
    latex_name = r"\operatorname{clip}"

    def _eval_is_extended_nonnegative(self):
        return True if self.args[1].is_nonnegative else None


class Maximum(TensorFunction):
    nargs = 2
    tensor_arity = 2
    latex_name = r"\max"

    def _eval_is_extended_nonnegative(self):
        return True if any(arg.is_nonnegative for arg in self.args) else None

    def _eval_is_extended_positive(self):
        return True if any(arg.is_positive for arg in self.args) else None


class Minimum(TensorFunction):
    nargs = 2
    tensor_arity = 2
    latex_name = r"\min"

    def _eval_is_extended_nonnegative(self):
        return True if all(arg.is_nonnegative for arg in self.args) else None


class StopGradient(TensorFunction):
    """stop(x): the value of x, with no gradient flowing back through it."""

    nargs = 1
    latex_name = r"\operatorname{stop}"

    def _eval_is_extended_nonnegative(self):
        return self.args[0].is_nonnegative

    def _eval_is_extended_positive(self):
        return self.args[0].is_positive


# -------------------------------------------------------------- linear algebra
class MatrixProduct(TensorFunction):
    """a @ b @ ...: n-ary, since the product is associative."""

    tensor_arity = None  # every argument is a tensor

    def _latex_body(self, printer):
        return r" \, ".join(printer.parenthesize(arg, sympy.printing.precedence.PRECEDENCE["Mul"])
                            for arg in self.args)


class Transposed(TensorFunction):
    nargs = 1

    def _latex_body(self, printer):
        return printer.parenthesize(self.args[0], sympy.printing.precedence.PRECEDENCE["Pow"]) + "^{T}"


class MatrixTrace(TensorFunction):
    nargs = 1
    latex_name = r"\operatorname{tr}"


class Diagonal(TensorFunction):
    nargs = 1
    latex_name = r"\operatorname{diag}"


class EyeMatrix(TensorFunction):
    """eye(n): the n-by-n identity (its one argument is an option)."""

    nargs = 1
    tensor_arity = 0
    sign = "nonnegative"

    def _latex_body(self, printer):
        return rf"I_{{{printer._print(self.args[0])}}}"


class DotProduct(TensorFunction):
    """dot(x, y): the sum of the elementwise product, a scalar."""

    nargs = 2
    tensor_arity = 2
    latex_name = r"\operatorname{dot}"


class Cosine(TensorFunction):
    """cosine(x, y): cosine similarity of the flattened tensors, a scalar in [-1, 1]."""

    nargs = 2
    tensor_arity = 2
    latex_name = r"\cos\angle"


class Index(TensorFunction):
    """x[i, a:b:c]: the second argument is a Tuple of integers and (start, stop, step) Tuples."""

    nargs = 2

    def _latex_body(self, printer):
        parts = [_latex_subscript(item, printer) for item in self.args[1]]
        return printer.parenthesize(self.args[0], sympy.printing.precedence.PRECEDENCE["Pow"]) + \
            rf"_{{[{', '.join(parts)}]}}"


#: Slice bounds that were left out (``x[:3]``) are stored as this symbol.
OMITTED = sympy.Symbol("_")


def _latex_subscript(item, printer) -> str:
    if isinstance(item, Tuple):
        parts = ["" if part == OMITTED else printer._print(part) for part in item]
        return ":".join(parts if parts[2] else parts[:2])
    return printer._print(item)


# ---------------------------------------------------------------- data losses
class DataLoss(TensorFunction):
    """A Keras data loss averaged over the batch: (y_true, y_pred, *options)."""

    nargs = 2
    tensor_arity = 2
    sign = "nonnegative"


class MSE(DataLoss):
    latex_name = r"\operatorname{mse}"


class MAE(DataLoss):
    latex_name = r"\operatorname{mae}"


class Huber(DataLoss):
    nargs = 3  # delta
    latex_name = r"\operatorname{huber}"


class BCE(DataLoss):
    nargs = 3  # from_logits
    latex_name = r"\operatorname{bce}"


class CCE(DataLoss):
    nargs = 3  # from_logits
    latex_name = r"\operatorname{cce}"


class SparseCCE(DataLoss):
    nargs = 3  # from_logits
    latex_name = r"\operatorname{sparse\_cce}"


class KLD(DataLoss):
    latex_name = r"\operatorname{kld}"
