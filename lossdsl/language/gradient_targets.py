"""What ``grad(f, x)`` may differentiate with respect to (SPEC §5.7), checked while the formula is built.

``x`` must name a tensor that training or the forward pass produces: a variable (``L1.kernel``), a
pattern (``**.kernel``: one gradient per member) or a comprehension's variable, a parameter (``a``,
``c``), an activation (``hidden.output``) or the model inputs (``inputs``). The batch targets, a
constant, a snapshot, a named term or a computed expression have no gradient to take (E250). A
gradient inside the first argument of another (a second derivative) is E251: the tape that computes the
outer one does not record the inner one.
"""

from __future__ import annotations

import sympy

from .calls import INVALID, Keyword
from .expression_rules import AttributePath, Identifier, Piece
from .formula import INPUTS, SNAPSHOT, TARGETS
from .kinds.gradients import GRAD, Gradient

_FIX = "differentiate with respect to a variable, a parameter, a layer's output or inputs, e.g. grad(y_pred, inputs)"
#: Names that are constants, never something to differentiate with respect to.
_CONSTANT_NAMES = {"I", "pi", "inf", "batch_size"}


def target_problem(builder, arguments: list[Piece]) -> bool:
    """Report E250 if the ``x`` of ``grad(f, x)`` (given as ``arguments``) cannot be differentiated with
    respect to; True when it was reported (the call is then not built)."""
    positional = [argument for argument in arguments if type(argument.value) is not Keyword]
    named = [argument.value.value for argument in arguments
             if type(argument.value) is Keyword and argument.value.name == "x"]
    target = named[0] if named else positional[1] if len(positional) > 1 else None
    if target is None:
        return False  # binding the call says what is missing
    what = _not_differentiable(builder, target)
    if what is None:
        return False
    builder.report("E250", f"grad() differentiates with respect to a tensor training or the forward pass "
                   f"produces; {what}", target.span, _FIX)
    return True


def _not_differentiable(builder, target: Piece) -> str | None:
    """What ``target`` is, said when it is not something to differentiate with respect to."""
    value = target.value
    if type(value) is Identifier:
        text = value.text
        if value.quoted or text == INPUTS or text in builder.loop_names:
            return None  # a layer is reported by binding (E212); inputs and loop variables are fine
        if text in TARGETS:
            return f"'{text}' is the batch {'targets' if text == 'y_true' else 'predictions'}"
        if text in _CONSTANT_NAMES or text in builder.tensors:
            return f"'{text}' is a constant"
        if text in builder.terms:
            return f"'{text}' is a named term, a computed value"
        return None  # a parameter (a function name is reported by binding)
    if type(value) is AttributePath:
        root = value.parts[0]
        return f"'{root}' is the batch {'targets' if root == 'y_true' else 'predictions'}" if root in TARGETS else None
    if value is INVALID:
        return None  # reported already
    if isinstance(value, sympy.Symbol):
        reference = builder.references.get(value.name)
        if reference is not None and reference.role == SNAPSHOT:
            return f"'{value.name}' is a snapshot, a constant"
        if reference is not None:
            return None  # a pattern
    if isinstance(value, sympy.Basic) and value.is_Number:
        return "a number is a constant"
    return "a computed expression has no gradient of its own"


def nested_gradient(builder, node, f_piece: Piece) -> bool:
    """Report E251 if ``f`` of ``grad(f, x)`` holds another gradient (through named terms too)."""
    f = node.args[0]
    terms = {symbol: builder.terms[name] for name, symbol in builder.term_symbols.items()}
    stack, visited = [f], set()  # each named term once: terms built on shared terms reach them by many paths
    while stack:
        expr = stack.pop()
        if expr.has(Gradient):
            builder.report("E251", "a gradient of a gradient: grad() inside the first argument of grad()",
                           f_piece.span, "take one gradient, and penalize it: for example norm(grad(f, x))")
            return True
        for symbol in expr.free_symbols:
            if symbol in terms and symbol not in visited:
                visited.add(symbol)
                stack.append(terms[symbol])
    return False


def gradient_costs(formula) -> list[str]:
    """What each ``grad`` costs per step, one line per differentiated expression (``explain`` shows them):
    every gradient of one ``f`` is one backward pass; through the model when ``f`` reads the forward pass."""
    found: dict = {}
    for expr in (*formula.terms.values(), formula.expr):
        for node in sympy.preorder_traversal(expr):
            if isinstance(node, Gradient):
                found.setdefault(node.args[0], []).append(node.args[1])
    lines = []
    for f, targets in found.items():
        through_model = any(_from_pass(formula, x.name) for x in targets) or (
            any(x.name in formula.references for x in targets)  # a variable (a parameter: the formula's ops only)
            and any(_from_pass(formula, symbol.name) for symbol in formula.expanded(f).free_symbols))
        shown = f"grad({f}, {', '.join(dict.fromkeys(str(x) for x in targets))})"
        if through_model:
            lines.append(f"{shown}: one extra backward pass through the model per step (fit() and evaluate() "
                         "reuse their forward pass, recorded on a tape); unless under stop(), training differentiates "
                         "it again (double backprop), so a step costs about 2-3 times a plain one")
        else:
            lines.append(f"{shown}: one backward pass through the formula's own ops per step (not the model)")
    return lines


def _from_pass(formula, name: str) -> bool:
    """Whether ``name`` is read from the forward pass: ``y_pred``, an activation or the inputs."""
    reference = formula.references.get(name)
    return reference is not None and (reference.needs_forward_pass or reference.is_target and reference.path[0] == "y_pred")


__all__ = ["GRAD", "gradient_costs", "nested_gradient", "target_problem"]
