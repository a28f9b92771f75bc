"""References to the forward pass (SPEC §5.1): ``<layer>.output``, ``<layer>.input``, ``inputs``, ``inputs.<name>``.

An activation's shape comes from one pass of the model on symbolic inputs, with the named layers'
calls recorded (:mod:`.forward_pass`): the same mechanism that keeps them in ``fit()``, so a layer the
pass does not run, or runs twice (a shared layer), is found here, before training.
"""

from __future__ import annotations

import re

import keras
import sympy

from ..language.diagnostics import Diagnostic
from ..language.findings import Finding
from ..language.kinds.gradients import Gradient
from .forward_pass import symbolic_pass
from .model_tree import input_shape, path_text

INPUT_POSITION = re.compile(r"in(\d+)")


def batch_shape(tensor) -> tuple | None:
    """A recorded tensor's static shape with the batch unknown (``(None, ...)``)."""
    shape = getattr(tensor, "shape", None)
    if shape is None or getattr(shape, "rank", len(shape)) is None:
        return None
    return (None,) + tuple(None if d is None else int(d) for d in tuple(shape)[1:]) if len(shape) else ()


def activation_shapes(model, resolved: dict) -> list[Diagnostic]:
    """Fill in the shape of every resolved activation from one symbolic pass; E224 for a layer that
    does not run exactly once in it (its entry is removed from ``resolved``)."""
    activations = {text: r for text, r in resolved.items() if r.layer is not None}
    if not activations:
        return []
    recorder = symbolic_pass(model, [r.layer for r in activations.values()])
    problems = []
    for text, found in activations.items():
        layer, calls = found.layer, 0 if recorder is None else recorder.calls.get(id(found.layer), 0)
        nodes = len(getattr(layer, "_inbound_nodes", ()))
        if calls > 1 or nodes > 1:
            problems.append(Diagnostic(
                "E224", f"layer '{layer.name}' is called {max(calls, nodes)} times per forward pass (shared), "
                        f"so '{text}' has no single value",
                found.reference.span, "name a layer that runs once, or give each use its own layer"))
            del resolved[text]
        elif recorder is not None and calls == 0:
            problems.append(Diagnostic(
                "E224", f"layer '{layer.name}' does not run in the model's forward pass, so '{text}' has no value",
                found.reference.span, "name a layer the model's call() uses"))
            del resolved[text]
        elif recorder is not None:
            shape = batch_shape(recorder.value(layer, found.variable_name))
            resolved[text] = found.with_shape(shape)
    return problems


def model_inputs(model) -> list[tuple[tuple[str, ...], tuple | None]]:
    """The model's inputs in order: the names that select each (dict key, Input name) and its shape."""
    structure = getattr(model, "_inputs_struct", None)
    if structure is None:
        shape = input_shape(model)
        return [((), shape)] if shape is not None else []
    keys = sorted(structure) if isinstance(structure, dict) else []
    flat = keras.tree.flatten(structure)
    found = []
    for position, tensor in enumerate(flat):
        history = getattr(tensor, "_keras_history", None)
        names = [*keys[position:position + 1], *([history.operation.name] if history else [])]
        found.append((tuple(dict.fromkeys(names)), batch_shape(tensor)))
    return found


def input_selection(model, path: tuple) -> tuple[int | None, tuple | None]:
    """(position among the model's inputs or None for the single input, shape) for ``inputs[.name]``."""
    listed = model_inputs(model)
    labels = [f"inputs.{(names or (f'in{i}',))[0]}" for i, (names, _) in enumerate(listed)]
    if len(path) > 2:
        raise Finding("E216", f"'{path_text(path)}' goes past a model input: inputs have no parts",
                      f"write {path_text(path[:2])}")
    if len(path) == 1:
        if len(listed) > 1:
            raise Finding("E225", f"the model has {len(listed)} inputs: 'inputs' must select one",
                          f"write {' or '.join(labels[:3])}")
        return None, listed[0][1] if listed else None
    selector = path[1]
    for position, (names, shape) in enumerate(listed):
        if selector in names:
            return (position if len(listed) > 1 else None), shape
    match = INPUT_POSITION.fullmatch(str(selector))
    if match and int(match[1]) < max(len(listed), 1):
        position = int(match[1])
        return (position if len(listed) > 1 else None), listed[position][1] if listed else None
    raise Finding("E225", f"the model has no input '{selector}'",
                  f"its inputs: {', '.join(labels) or 'unknown'}")


def integer_inputs_differentiated(formula, model, resolved: dict) -> list[Diagnostic]:
    """E252 for ``grad(f, inputs)`` where that input holds integers (token ids, indices): nothing flows back to
    them, so the gradient would be 0 everywhere."""
    targets = {node.args[1].name: node for expr in (formula.expr, *formula.terms.values())
               for node in sympy.preorder_traversal(expr) if isinstance(node, Gradient)}
    structure = getattr(model, "_inputs_struct", None)
    flat = keras.tree.flatten(structure) if structure is not None else list(getattr(model, "inputs", None) or ())
    problems = []
    for text in targets:
        found = resolved.get(text)
        if found is None or not found.reference.is_inputs or not flat:
            continue
        dtype = str(getattr(flat[found.output_index or 0], "dtype", "float32"))
        if "float" not in dtype:
            problems.append(Diagnostic(
                "E252", f"'{text}' holds {dtype} values (ids or indices): no gradient flows back to them",
                found.reference.span, "differentiate with respect to what the model makes of them, for example "
                                      "an embedding's output: grad(f, embed.output)"))
    return problems
