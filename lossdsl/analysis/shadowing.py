"""W502: a formula parameter named like a variable the user's model keeps as a plain, untracked attribute.

The pattern Keras 3 broke (SPEC §1): a subclassed model holds ``self.a = tf.Variable(...)`` for a learned
weight; the formula's ``a`` is then a *new* trainable scalar, and the model's own ``a`` is silently left
out of the loss. Keras 3 does not track such a variable either, so it is neither trained nor saved.
"""

from __future__ import annotations

from ..language.diagnostics import Diagnostic
from ..language.formula import Formula
from .model_tree import layer_chains, path_text


def shadowed_attribute_warnings(formula: Formula, model) -> list[Diagnostic]:
    """W502 for each implicit parameter whose name is an attribute of the model, or of one of its
    layers, holding a variable Keras does not track (a tracked weight can be referred to: W501's case)."""
    tracked = {id(variable) for variable in model.weights}
    holders = {}  # attribute name -> the path of the layer holding it ("" for the model itself)
    for chain in [(), *layer_chains(model)]:
        for name, value in vars(chain[-1] if chain else model).items():
            if not name.startswith("_") and _is_variable(value) and id(value) not in tracked:
                holders.setdefault(name, path_text(layer.name for layer in chain))
    warnings = []
    for param in formula.params.values():
        if param.declared or param.name not in holders:
            continue
        owner = holders[param.name]
        where = f"'{owner}.{param.name}'" if owner else f"'{param.name}'"
        warnings.append(Diagnostic(
            "W502", f"the model has an attribute {where} that the formula does not use: "
                    f"'{param.name}' here is a new trainable scalar", param.span,
            "a plain attribute is not a weight Keras 3 tracks or lossdsl can refer to: create it with "
            "add_weight() in a layer and write <layer>.<weight name>; to keep a new parameter, declare it "
            f"with 'where {param.name}: real'"))
    return warnings


def _is_variable(value) -> bool:
    """A tf.Variable or a Keras variable (duck-typed: this module must not import TensorFlow)."""
    return all(hasattr(value, attribute) for attribute in ("assign", "shape", "dtype"))
