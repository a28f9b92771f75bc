"""``initial(W)`` and constant tensors (``where F: tensor``): what the builder makes of them (SPEC §5.3).

Both are references (``formula.Reference``) with a role: a snapshot names the variable it copies, a
constant tensor only its own name. The model resolves the variable a snapshot copies; the Keras stage
keeps the copy, and the constants given from Python, as non-trainable weights of the term layer.
"""

from __future__ import annotations

import sympy

from .calls import INVALID, Keyword
from .expression_rules import AttributePath, Identifier, Piece, span_of
from .formula import LAYER_INDEX, SNAPSHOT, TARGETS, Reference
from .patterns import snapshot_twin
from .source import Span

#: The name of the snapshot form; reserved, never a parameter.
INITIAL = "initial"
_EXAMPLE = "initial(L1.kernel), as in sum(square(L1.kernel - initial(L1.kernel)))"


def snapshot(builder, name_span: Span, arguments: list[Piece]) -> sympy.Expr:
    """The snapshot reference ``initial(path)``, or INVALID after reporting why the argument is not a variable."""
    if len(arguments) != 1 or type(arguments[0].value) is Keyword:
        where = arguments[1].span if len(arguments) > 1 else arguments[0].span if arguments else name_span
        return builder.report("E202", "initial() takes one argument, the variable to copy", where,
                              f"write {_EXAMPLE}")
    argument = arguments[0]
    value = argument.value
    if type(value) is Identifier and not value.quoted and value.text in builder.loop_names:
        return _loop_snapshot(builder, value.text, argument.span)
    pattern = builder.references.get(getattr(value, "name", None)) if isinstance(value, sympy.Symbol) else None
    if pattern is not None and pattern.pattern:
        return _pattern_snapshot(builder, pattern, argument.span)
    if type(value) is Identifier and not value.quoted and not LAYER_INDEX.fullmatch(value.text):
        return _not_a_variable(builder, value.text, argument.span)
    if type(value) is Identifier:  # L1, `dense-1`: a layer, which the builder names as such
        return builder.value(argument)
    if type(value) is AttributePath:
        if value.parts[0] in TARGETS:
            return _not_a_variable(builder, value.parts[0], argument.span)
        return builder.reference(value.parts, argument.span, role=SNAPSHOT)
    if value is INVALID:  # reported already
        return INVALID
    return builder.report("E222", "initial() copies a model variable, not a computed value", argument.span,
                          f"take the snapshot of the variable and compute with it: {_EXAMPLE}")


def _loop_snapshot(builder, name: str, span: Span) -> sympy.Expr:
    """``initial(W)`` in ``... for W in P``: each member's own snapshot (the comprehension registers ``initial(P)``)."""
    return snapshot_twin(builder.loop_variable(name, span))


def _pattern_snapshot(builder, pattern: Reference, span: Span) -> sympy.Expr:
    """``initial(**.kernel)``: the snapshot of every member, a collection that pairs with the pattern's own."""
    if pattern.role == SNAPSHOT:
        return builder.report("E222", "initial() of a snapshot: it is constant already", span,
                              f"write {pattern.text}")
    if pattern.span == span:  # written only here: the pattern stands for the snapshots, not for the variables
        del builder.references[pattern.text]
    return builder.located(snapshot_pattern(builder.references, pattern, span).symbol, span)


def snapshot_pattern(references: dict, pattern: Reference, span: Span) -> Reference:
    """The reference ``initial(P)`` of pattern ``P``, registered once (at its first place) in ``references``."""
    text = f"{INITIAL}({pattern.text})"
    known = references.get(text)
    if known is None or span.start < known.span.start:
        known = references[text] = Reference(text, pattern.path, span, SNAPSHOT, pattern=True)
    return known


def _not_a_variable(builder, name: str, span: Span) -> sympy.Expr:
    hint = f"write {_EXAMPLE}"
    if name in TARGETS:
        what = "the batch " + ("targets" if name == "y_true" else "predictions")
    elif name in builder.tensors:
        what = "a constant tensor, constant already"
    elif name in builder.terms:
        what = "a named term"
    elif name in builder.params and builder.params[name].declared:
        what = "a parameter"
    else:  # a bare name is a parameter, but the user may have meant a layer
        what = "a parameter (a bare name always is)"
        hint = f"if '{name}' is a layer, copy one of its variables: initial({name}.kernel)"
    return builder.report("E222", f"initial() copies a model variable; '{name}' is {what}", span, hint)


def declare_tensor(builder, name, kind, init) -> None:
    """``where F: tensor``: a constant tensor given from Python; it has no shape or value in the formula."""
    if not isinstance(kind.value, str):  # tensor[3, 4]
        builder.report("E220", f"the shape of tensor '{name}' comes from the array given for it",
                       span_of(kind), f"write {name}: tensor, and pass constants={{'{name}': array}}")
    elif init is not None:
        builder.report("E220", f"tensor '{name}' gets its value from Python, not in the formula", span_of(init),
                       f"write {name}: tensor, and pass constants={{'{name}': array}}")
    else:
        builder.tensors[str(name)] = span_of(name)
