"""Walking a Keras model: sublayers, the variables each layer owns, outputs, and building it when possible.

Only :mod:`lossdsl.resolve` imports this module (it imports Keras).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import keras

from .shapes import describe


@dataclass(frozen=True)
class ModelOutput:
    """One model output: the names that select it and its static shape."""

    names: tuple[str, ...]  # output-dict key and/or output layer name
    shape: tuple | None

    def label(self, position: int) -> str:
        return f"{(self.names or (f'out{position}',))[0]} {describe(self.shape)}"


# ------------------------------------------------------------------ layer tree
def children(layer) -> list:
    """A layer's direct sublayers in Keras' order (``model.layers`` for a model)."""
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    return layer._flatten_layers(include_self=False, recursive=False)


def attribute(obj, name: str):
    """``getattr`` that never raises: properties of unbuilt layers (Dense.kernel) do."""
    try:
        return getattr(obj, name, None)
    except Exception:  # a property of someone's layer: whatever it raised, the attribute is absent
        return None


def variable_name(variable) -> str:
    """The last component of a variable's path, without any ':0'."""
    return variable.path.split("/")[-1].split(":")[0]


def owned_variables(layer, prefix: tuple = ()) -> list[tuple[tuple, object]]:
    """Every weight under ``layer`` with the names of the sublayers leading to its owner."""
    found, seen = [], set()
    pending = [(prefix, layer)]
    while pending:
        names, current = pending.pop(0)
        below = {id(w) for child in children(current) for w in child.weights}
        for weight in current.weights:
            if id(weight) not in below and id(weight) not in seen:
                seen.add(id(weight))
                found.append((names, weight))
        pending += [(names + (child.name,), child) for child in children(current)]
    return found


def layer_chains(root) -> list[tuple]:
    """Every layer below ``root`` as the chain of layers leading to it, breadth first."""
    chains, seen, pending = [], {id(root)}, [(child,) for child in children(root)]
    while pending:
        chain = pending.pop(0)
        if id(chain[-1]) not in seen:
            seen.add(id(chain[-1]))
            chains.append(chain)
            pending += [chain + (child,) for child in children(chain[-1])]
    return chains


def path_text(parts: Iterable) -> str:
    """Reference text for path parts, as the formula spells it (``L1``, backticks for odd names)."""
    return ".".join(f"L{p}" if isinstance(p, int) else p if p.isidentifier() else f"`{p}`" for p in parts)


def layer_attributes(layer) -> list[str]:
    """Public attribute names holding a sublayer (a subclassed model's ``self.dense1``)."""
    return [name for name, value in vars(layer).items()
            if not name.startswith("_") and isinstance(value, keras.layers.Layer)]


# ------------------------------------------------------------ building, outputs
def input_shape(model) -> tuple | None:
    """The input shape a subclassed model was built or first called with (batch None), if it has one."""
    shapes = getattr(model, "_build_shapes_dict", None) or {}
    if len(shapes) != 1:
        return None
    shape = tuple(next(iter(shapes.values())))
    return (None,) + shape[1:] if shape else None  # the batch it was first called with is not the batch


def build_if_possible(model) -> str | None:
    """Build a model whose layers lack variables when its input shape is known; else say why not."""
    if model.built and all(layer.built for layer in model._flatten_layers()):
        return None
    shape = input_shape(model)
    if shape is None:
        return "its input shape is unknown"
    try:
        model(keras.KerasTensor(shape))  # a symbolic call creates every sublayer's variables
    except Exception as error:  # the user's call(): report what it raised
        return f"calling it on shape {shape} raised {_root_cause(error)}"
    return None


def _root_cause(error: BaseException) -> str:
    """The first line of the exception Keras wrapped (it re-raises with a long decorated message)."""
    for _ in range(20):  # a chain, not a cycle: stop somewhere
        inner = error.__cause__ or error.__context__
        if inner is None:
            break
        error = inner
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"


def model_outputs(model) -> list[ModelOutput] | None:
    """The model's outputs in ``model.outputs`` order (dict outputs sorted by key), None if unknown."""
    try:
        flat, structure = list(model.outputs), getattr(model, "_outputs_struct", None)
        layer_names = getattr(model, "output_names", None) or [t._keras_history.operation.name for t in flat]
    except Exception:  # a subclassed model has no outputs attribute: trace it if its input shape is known
        shape = input_shape(model)
        if shape is None:
            return None
        try:
            structure = model.compute_output_spec(keras.KerasTensor(shape))
        except Exception:  # the user's call() failed: outputs stay unknown, as without a shape
            return None
        flat, layer_names = keras.tree.flatten(structure), []
    keys = sorted(structure) if isinstance(structure, dict) and len(structure) == len(flat) else []
    outputs = []
    for index, tensor in enumerate(flat):
        names = [*keys[index:index + 1], *layer_names[index:index + 1]]
        outputs.append(ModelOutput(tuple(dict.fromkeys(names)), tuple(tensor.shape)))
    return outputs
