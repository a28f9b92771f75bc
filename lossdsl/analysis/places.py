"""Where each reference was found in a model's structure, saved with the formula to find it again.

Keras does not always keep a layer's name across ``model.save()`` / ``load_model()``: a subclassed
model without ``get_config`` whose ``__init__`` takes neither ``name`` nor ``**kwargs`` comes back named
after its class (``sub_model`` is reloaded as ``pseudo__model``), and ``sub_model.dense1.kernel`` no
longer resolves. Its place does not change: the positions of the sublayers leading to the variable's
owner (``children()`` order, which is the model's own construction order) and the variable's position
in that layer's weights. A place is only trusted when the variable found there has the saved shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from .model_tree import children, path_text
from .shapes import describe


@dataclass(frozen=True)
class Place:
    """A variable's position in a model: sublayer positions from the model down, and its weight index."""

    layers: tuple[int, ...]  # children() positions from the model to the layer that owns the variable
    names: tuple[str, ...]  # those layers' names when the place was recorded
    weight: int  # position in the owning layer's ``weights``
    shape: tuple  # the variable's shape when the place was recorded

    def describe(self) -> str:
        owner = path_text(self.layers) if self.layers else "the model"
        return f"weight {self.weight} of {owner} ({'/'.join(self.names) or 'the model'}), shape {describe(self.shape)}"

    def as_config(self) -> dict:
        return {"layers": list(self.layers), "names": list(self.names), "weight": self.weight,
                "shape": list(self.shape)}


def places_in(model) -> dict[int, Place]:
    """The place of every variable of ``model`` by ``id``: in the first layer, breadth first, that owns it
    directly (one walk, however many references a formula has)."""
    places, pending, seen = {}, [((), (), model)], {id(model)}
    while pending:
        positions, names, layer = pending.pop(0)
        kids = children(layer)
        below = {id(w) for kid in kids for w in kid.weights}
        for index, weight in enumerate(layer.weights):
            if id(weight) not in below:
                places.setdefault(id(weight), Place(positions, names, index, tuple(weight.shape)))
        for position, kid in enumerate(kids):
            if id(kid) not in seen:
                seen.add(id(kid))
                pending.append((positions + (position,), names + (kid.name,), kid))
    return places


def found_at(model, place: Place) -> tuple[object, tuple] | None:
    """The variable at ``place`` in ``model`` and the layers leading to it, if it is there with the saved shape."""
    chain, layer = (), model
    for position in place.layers:
        kids = children(layer)
        if position >= len(kids):
            return None
        layer = kids[position]
        chain += (layer,)
    weights = layer.weights
    if place.weight >= len(weights) or tuple(weights[place.weight].shape) != place.shape:
        return None
    return weights[place.weight], chain


def renames(place: Place, chain: tuple, written: tuple) -> list[tuple[str, str]]:
    """(saved name, current name) of the layers on the way that the reference names and that were renamed."""
    changed = [(old, layer.name) for old, layer in zip(place.names, chain) if old != layer.name]
    return [(old, new) for old, new in changed if old in written] or changed


# ---------------------------------------------------------------- saved config
def places_from_config(saved) -> dict[str, Place]:
    """The places a saved config holds (``{reference text: place}``); a malformed record is a ValueError
    naming what is wrong (a .keras file is data anyone may have edited)."""
    if not isinstance(saved, dict):
        raise ValueError(f"must be a dict of reference text to place, not {type(saved).__name__}")
    return {text: _place(text, record) for text, record in saved.items()}


def _place(text, record) -> Place:
    fields = {"layers": list, "names": list, "weight": int, "shape": list}
    if not isinstance(text, str) or not isinstance(record, dict) or set(record) != set(fields):
        raise ValueError(f"the entry for {text!r} must be a dict with the keys {', '.join(fields)}")
    for field, kind in fields.items():
        if type(record[field]) is not kind:
            raise ValueError(f"'{field}' of {text!r} must be {'a list' if kind is list else 'an integer'}")
    checks = {"layers": lambda v: type(v) is int and v >= 0, "names": lambda v: isinstance(v, str),
              "shape": lambda v: type(v) is int and v >= 0}
    for field, valid in checks.items():
        if not all(map(valid, record[field])):
            raise ValueError(f"'{field}' of {text!r} holds a value that is not a "
                             f"{'name' if field == 'names' else 'non-negative integer'}")
    if record["weight"] < 0 or len(record["names"]) != len(record["layers"]):
        raise ValueError(f"the place of {text!r} is inconsistent (a negative weight, or one name per layer missing)")
    return Place(tuple(record["layers"]), tuple(record["names"]), record["weight"], tuple(record["shape"]))
