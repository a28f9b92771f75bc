"""References -> the Keras variables and model outputs they name (SPEC §2.3). Imported only given a model.

``L<i>`` is ``model.layers[i]``; a name is a layer's name (direct children first, then a unique match
anywhere below) or a Python attribute holding a layer; the last part is a variable, by attribute or by
variable name. ``y_pred`` / ``y_true`` select an output of a multi-output model by name or ``out<i>``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace
from typing import Iterable

import keras

from ..language import nodes
from ..language.diagnostics import Diagnostic
from ..language.findings import Finding
from .shadowing import shadowed_attribute_warnings
from .similar import similar_name_warnings
from ..language.formula import ACTIVATIONS, SNAPSHOT, Formula, Reference
from ..language.patterns import Members, matches
from .places import Place, found_at, renames
from .model_tree import (ModelOutput, attribute, build_if_possible, children, layer_attributes, layer_chains,
                         model_outputs, owned_variables, path_text, variable_name)
from .shapes import describe
from .activations import activation_shapes, input_selection, integer_inputs_differentiated

OUTPUT_POSITION = re.compile(r"out(\d+)")
LISTED = 8  # names shown in a hint before "..."


@dataclass(frozen=True)
class ResolvedReference:
    """What one reference names in a model: a variable (captured by reference) or a model output."""

    reference: Reference
    layer_path: str  # Keras layer names below the model joined by "/", "" for y_true / y_pred
    variable: object | None  # the keras.Variable itself, never a copy; None for y_true / y_pred
    variable_name: str
    shape: tuple | None  # static shape, None for unknown dimensions (the batch) or unknown rank
    trainable: bool
    output_index: int | None  # position in model.outputs for a multi-output model, else None
    #: (saved name, current name) of renamed layers when the name no longer resolved and the variable was
    #: found at the place saved with the formula (see places.py); empty when resolved by name
    renamed: tuple[tuple[str, str], ...] = ()
    layer: object | None = None  # the layer of an activation (``hidden.output``), never a copy

    def with_shape(self, shape) -> ResolvedReference:
        return replace(self, shape=shape)
    members: tuple = ()  # a pattern's: the ResolvedReference of every variable it matches, in model order


def _listing(items: list[str]) -> str:
    return ", ".join(items[:LISTED]) + (", ..." if len(items) > LISTED else "") if items else "none"


def _closest(word, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(dict.fromkeys(options)), n=1)
    return f"did you mean '{close[0]}'? " if close else ""


# -------------------------------------------------------------- the model index
class ModelIndex:
    """One model's layers, variables and outputs, looked up by the names a formula uses."""

    def __init__(self, model):
        self.model = model
        self.build_problem = build_if_possible(model)
        self.outputs = model_outputs(model)

    def resolve(self, reference: Reference) -> ResolvedReference:
        if reference.is_target:
            return self.resolve_target(reference)
        if reference.is_inputs:
            position, shape = input_selection(self.model, reference.path)
            return ResolvedReference(reference, "", None, "inputs", shape, False, position)
        *walk, last = reference.path
        chain = ()
        for position, part in enumerate(walk):
            chain += self.child(chain, part, reference.path[:position + 1])
        layer = chain[-1] if chain else self.model
        if reference.is_activation:  # its shape comes from a symbolic pass over every activation at once
            return ResolvedReference(reference, "/".join(item.name for item in chain), None, last,
                                     None, False, None, layer=layer)
        variable = None if isinstance(last, int) else self.variable(layer, last, reference.path)
        if variable is None:
            raise self.missing_variable(chain, last, reference.path)
        return ResolvedReference(reference, "/".join(item.name for item in chain), variable,
                                 variable_name(variable), tuple(variable.shape), bool(variable.trainable), None)

    def members(self, reference: Reference) -> ResolvedReference:
        """A pattern: every variable it matches, each once (a shared layer's too), in ``model.weights`` order."""
        order = {id(v): i for i, v in enumerate(self.model.weights)}
        owned = sorted(owned_variables(self.model), key=lambda item: order.get(id(item[1]), len(order)))
        found = []
        for names, variable in owned:
            path = names + (variable_name(variable),)
            if matches(reference.path, path):
                text = path_text(path) if reference.role != SNAPSHOT else f"initial({path_text(path)})"
                member = Reference(text, path, reference.span, reference.role)
                found.append(ResolvedReference(member, "/".join(names), variable, path[-1], tuple(variable.shape),
                                               bool(variable.trainable), None))
        if not found:
            hint = (f"the model has no variables yet ({self.build_problem})" if self.build_problem and not owned
                    else f"its variables: {_listing(reference_names(self.model))}")
            raise Finding("E230", f"'{reference.text}' matches no variable of the model", hint)
        return ResolvedReference(reference, "", None, reference.text, None, any(m.trainable for m in found), None,
                                 members=tuple(found))

    # ---- layers
    def child(self, chain: tuple, part, written: tuple) -> tuple:
        """The layers leading from ``chain[-1]`` to the child written ``part`` (one, or several when nested)."""
        layer = chain[-1] if chain else self.model
        owner = f"'{path_text(written[:-1])}'" if chain else "the model"
        kids = children(layer)
        if isinstance(part, int):
            if part < len(kids):
                return (kids[part],)
            span = f", L0..L{len(kids) - 1}" if kids else ""
            raise Finding("E209", f"L{part} is out of range: {owner} has {len(kids)} layers{span}",
                              self.weighted_hint(chain, kids))
        if chain and part in ACTIVATIONS and not any(kid.name == part for kid in kids):
            raise Finding("E216", f"'{path_text(written)}' is what the layer computed: nothing can follow it",
                          f"use {path_text(written)} itself")
        direct = [kid for kid in kids if kid.name == part]
        if direct:
            return (direct[0],)
        held = attribute(layer, part)
        if isinstance(held, keras.layers.Layer) and held is not layer:
            return (held,)
        below = [found for found in layer_chains(layer) if found[-1].name == part]
        if len(below) == 1:
            return below[0]
        if below:
            candidates = [path_text(written[:-1] + tuple(item.name for item in found)) for found in below]
            raise Finding("E218", f"'{part}' names {len(below)} layers nested in {owner}",
                              f"write the full path: {_listing(candidates)}")
        if self.variable(layer, part, written) is not None:
            raise Finding("E216", f"'{path_text(written)}' is a variable, not a layer: nothing can follow it",
                              f"use {path_text(written)} itself")
        names = [found[-1].name for found in layer_chains(layer)] + layer_attributes(layer)
        raise Finding("E210", f"no layer named '{part}' in {owner}",
                          _closest(part, names) + f"its layers: {_listing([kid.name for kid in kids])}")

    @staticmethod
    def weighted_hint(chain: tuple, kids: list) -> str:
        """Which of ``kids`` (the children of ``chain[-1]``) have variables, with an example reference."""
        prefix = tuple(item.name for item in chain)
        weighted = [(i, kid) for i, kid in enumerate(kids) if kid.weights]
        if not weighted:
            return f"no layer in {path_text(prefix) if prefix else 'the model'} has variables yet"
        first, layer = weighted[0]
        example = path_text(prefix + (first, variable_name(owned_variables(layer)[0][1])))
        listed = [f"L{i} {kid.name}" for i, kid in weighted]
        return f"layers with variables: {_listing(listed)}; the first is L{first}, e.g. {example}"

    # ---- variables
    @staticmethod
    def variable(layer, name: str, written: tuple):
        """The variable ``name`` of ``layer``: an attribute, else a unique variable name (its own first)."""
        held = attribute(layer, name)
        if isinstance(held, keras.Variable):
            return held
        matches = [(names, v) for names, v in owned_variables(layer) if variable_name(v) == name]
        own = [v for names, v in matches if not names]
        if len(own) == 1 or len(matches) == 1:
            return own[0] if own else matches[0][1]
        if matches:
            candidates = [path_text(written[:-1] + names + (name,)) for names, _ in matches]
            owner = f"'{path_text(written[:-1])}'" if written[:-1] else "the model"
            raise Finding("E218", f"'{name}' names {len(matches)} variables in {owner}",
                              f"write the full path: {_listing(candidates)}")
        return None

    def missing_variable(self, chain: tuple, last, written: tuple) -> Finding:
        layer = chain[-1] if chain else self.model
        here = path_text(written[:-1])
        try:
            sub = chain + self.child(chain, last, written)
        except Finding as failure:
            if isinstance(last, int):
                return failure  # L<i> out of range
            sub = None
        if sub is not None:
            listed = [f"{path_text(written + names + (variable_name(v),))} {describe(tuple(v.shape))}"
                      for names, v in owned_variables(sub[-1])]
            return Finding("E212", f"'{path_text(written)}' is a layer, not a value",
                               f"use one of its variables: {_listing(listed)}" if listed else
                               "it has no variables; " + self.weighted_hint(chain, children(layer)))
        owned = owned_variables(layer)
        if owned:
            names = [path_text(names + (variable_name(v),)) for names, v in owned]
            listed = [f"{n} {describe(tuple(v.shape))}" for n, (_, v) in zip(names, owned)]
            return Finding("E211", f"{_named(here, layer)} has no variable '{path_text([last])}'",
                               _closest(last, names) + f"its variables: {_listing(listed)}" +
                               self.holders(chain[:-1], last))
        if not layer.built:
            why = f" ({self.build_problem})" if self.build_problem else ""
            return Finding("E217", f"{_named(here, layer)} is not built yet, so it has no variables",
                               f"build the model first{why}: call it on a batch, model(x[:1]), or start it with "
                               "keras.Input(shape=...)")
        parent = chain[:-1]
        siblings = children(parent[-1] if parent else self.model)
        return Finding("E211", f"{_named(here, layer)} has no weights",
                           self.weighted_hint(parent, siblings) + self.holders(parent, last))

    def holders(self, parent: tuple, name) -> str:
        """Which siblings (children of ``parent[-1]``) do have a variable ``name``: the likely intent."""
        siblings = children(parent[-1] if parent else self.model)
        found = [f"L{i} {kid.name}" for i, kid in enumerate(siblings)
                 if isinstance(attribute(kid, name), keras.Variable)
                 or any(variable_name(v) == name for _, v in owned_variables(kid))]
        return f"; layers with a '{name}': {_listing(found)}" if found else ""

    # ---- targets
    def resolve_target(self, reference: Reference) -> ResolvedReference:
        head, *rest = reference.path
        outputs = self.outputs
        if len(rest) > 1:
            raise Finding("E216", f"'{reference.text}' goes past a model output: outputs have no parts",
                              f"write {path_text(reference.path[:2])}")
        if not rest:
            if outputs is not None and len(outputs) > 1:
                raise Finding("E219", f"the model has {len(outputs)} outputs: '{head}' must select one",
                                  self.output_hint(head))
            return ResolvedReference(reference, "", None, head, outputs[0].shape if outputs else None, False, None)
        if outputs is None:
            raise Finding("E217", f"the model's outputs are unknown, so '{reference.text}' cannot be found",
                              "build the model first: call it on a batch, or give it a keras.Input(shape=...)")
        index = _output_index(outputs, rest[0])
        if index is None:
            names = [name for output in outputs for name in output.names]
            raise Finding("E219", f"the model has no output '{path_text(rest)}'",
                              _closest(path_text(rest), names) + self.output_hint(head))
        return ResolvedReference(reference, "", None, head, outputs[index].shape, False,
                                 index if len(outputs) > 1 else None)

    def output_hint(self, head: str) -> str:
        outputs = self.outputs
        written = [f"{head}.{(o.names or (f'out{i}',))[0]}" for i, o in enumerate(outputs)]
        listed = [o.label(i) for i, o in enumerate(outputs)]
        return f"its outputs: {_listing(listed)}; write {' or '.join(written[:3])}"


def _named(written: str, layer) -> str:
    """How a message names a layer: as written, with its Keras name when that differs."""
    kind = "the InputLayer" if isinstance(layer, keras.layers.InputLayer) else "layer"
    return f"{kind} '{written}'" if written == layer.name else f"'{written}' ({kind} '{layer.name}')"


def _output_index(outputs: list[ModelOutput], selector) -> int | None:
    """By name first; ``out<i>`` is a position only when no output is named so."""
    if not isinstance(selector, str):
        return None
    for index, output in enumerate(outputs):
        if selector in output.names:
            return index
    position = OUTPUT_POSITION.fullmatch(selector)
    return int(position[1]) if position and int(position[1]) < len(outputs) else None


# ----------------------------------------------------------------- public API
def resolve_references(formula: Formula, model, places: dict[str, Place] | None = None
                       ) -> tuple[dict[str, ResolvedReference], list[Diagnostic]]:
    """Every reference of ``formula`` resolved against ``model``, and a diagnostic for each that is not.

    ``places`` (saved with a formula, see places.py) is where each reference was found before: a name
    that no longer resolves is looked up there, and accepted when a variable of the saved shape is there.

    >>> resolved, problems = resolve_references(lossdsl.parse("norm(L1.kernel)"), model)  # doctest: +SKIP
    >>> resolved["L1.kernel"].variable is model.layers[1].kernel                          # doctest: +SKIP
    True
    """
    index = ModelIndex(model)
    resolved, problems = {}, []
    for text, reference in formula.references.items():
        if not reference.in_model:  # a tensor given from Python
            continue
        try:
            resolved[text] = index.members(reference) if reference.pattern else index.resolve(reference)
            for member in resolved[text].members:
                resolved.setdefault(member.reference.text, member)
        except Finding as failure:
            place = (places or {}).get(text)
            found = found_at(model, place) if place and not reference.is_target else None
            if found is not None:
                resolved[text] = _resolved_at(reference, place, *found)
                continue
            hint = failure.hint
            if place is not None:
                hint = (f"{hint}; " if hint else "") + (f"when the formula was saved it read {place.describe()}, "
                                                        "and the loaded model has no variable of that shape there")
            problems.append(Diagnostic(failure.code, failure.message, reference.span, hint))
    return resolved, problems + activation_shapes(model, resolved)


def _resolved_at(reference: Reference, place: Place, variable, chain: tuple) -> ResolvedReference:
    return ResolvedReference(reference, "/".join(layer.name for layer in chain), variable, variable_name(variable),
                             tuple(variable.shape), bool(variable.trainable), None,
                             renamed=tuple(renames(place, chain, reference.path)))


def resolve_formula(formula: Formula, model, places: dict[str, Place] | None = None
                    ) -> tuple[dict[str, ResolvedReference], dict[str, tuple | None], list[Diagnostic]]:
    """Every reference of ``formula`` resolved against ``model`` (by name, else at its saved place), its
    shape (None when unresolved or unknown), and the diagnostics: resolution errors, W501 for implicit
    parameters named like the model's names and W502 for those named like a variable the model keeps as
    a plain attribute."""
    resolved, problems = resolve_references(formula, model, places)
    problems += integer_inputs_differentiated(formula, model, resolved)
    warnings = similar_name_warnings(formula, reference_names(model)) + shadowed_attribute_warnings(formula, model)
    return resolved, resolved_shapes(formula, resolved), problems + warnings


def resolved_shapes(formula: Formula, resolved: dict) -> dict[str, tuple | None]:
    """{reference text: shape} (None when unresolved or unknown).

    A model does not say what its targets look like: ``y_true`` is taken to have its output's shape,
    except where the formula passes it to sparse_cce, which takes class indices (the shape without the
    class axis).
    """
    shapes = {text: resolved[text].shape if text in resolved else None for text in formula.references}
    for text, found in resolved.items():
        if found.members:  # a pattern: its members by their own text (see patterns.Members)
            shapes[text] = Members(member.reference.text for member in found.members)
            shapes.update({member.reference.text: member.shape for member in found.members})
    for text in _sparse_label_references(formula):
        if shapes.get(text):
            shapes[text] = tuple(shapes[text][:-1])
    return shapes


def _sparse_label_references(formula: Formula) -> set[str]:
    """Targets given directly as sparse_cce's labels (``sparse_cce(y_true, y_pred)``)."""
    found = set()
    for expr in [formula.expr, *formula.terms.values()]:
        for node in expr.atoms(nodes.SparseCCE):
            labels = node.tensors[0]
            if labels.is_Symbol and labels.name in formula.references and formula.references[labels.name].is_target:
                found.add(labels.name)
    return found


def reference_names(model) -> list[str]:
    """A reference text for every variable of ``model`` (``dense_1.kernel``, ``sub_model.dense1.kernel``)."""
    chains = layer_chains(model)
    counts: dict[str, int] = {}
    for chain in chains:
        counts[chain[-1].name] = counts.get(chain[-1].name, 0) + 1
    names = []
    for chain in chains:
        short = (chain[-1].name,) if counts[chain[-1].name] == 1 else tuple(item.name for item in chain)
        own = [v for below, v in owned_variables(chain[-1]) if not below]
        names += [path_text(short + (variable_name(v),)) for v in own]
        parent = chain[-2] if len(chain) > 1 else model
        for alias in layer_attributes(parent):  # a subclassed layer's self.dense1: the name users write
            if attribute(parent, alias) is chain[-1] and alias != chain[-1].name:
                prefix = tuple(item.name for item in chain[:-1]) + (alias,)
                names += [path_text(prefix + (variable_name(v),)) for v in own]
    return list(dict.fromkeys(names))
