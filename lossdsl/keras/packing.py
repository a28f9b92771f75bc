"""The formula's trainable scalar parameters in one vector variable (issue 15: a hundred parameters, fast).

One variable per parameter cost, per step and per parameter, a read with its gradient identity
(:func:`.reads.read_before_update`), an optimizer update and a variable of optimizer state: with 100
scalars a ``fit()`` step took 1.9x a hand-written model. Packed, the scalars are one float32 vector:
one read, one gradient identity, one update; each kind is constrained over the whole vector at once, and
``tf.unstack`` hands each parameter its scalar (its gradient is one ``Pack``).

Tensor-valued parameters (``c: real[10, 8]``) stay one variable each: one read already serves all their
entries, so packing would save nothing and cost a copy of every entry into and out of the vector per
step. ``const`` parameters stay one non-trainable variable each: they are never updated.
"""

from __future__ import annotations

import keras
import numpy
import tensorflow as tf
from tensorflow.python.trackable.base import Trackable

from ..language.formula import Parameter
from ..lowering.parameters import constrain, unconstrain, unconstrain_array

#: The packed vector's weight name (``formula/parameters`` in ``model.weights``).
PACKED_NAME = "parameters"


def packed(param: Parameter) -> bool:
    """Whether ``param`` lives in the packed vector: a trainable scalar."""
    return param.trainable and not param.shape


class PackedScalars:
    """Trainable scalar parameters as the entries of one raw (unconstrained) vector variable, in declaration
    order; what users read and set is constrained, entry by entry as :func:`..lowering.parameters.constrain`."""

    def __init__(self, layer: keras.layers.Layer, params: list[Parameter], raw: list[float]):
        self.names = [param.name for param in params]
        self.index = {name: i for i, name in enumerate(self.names)}
        self.variable = layer.add_weight(name=PACKED_NAME, shape=(len(params),), trainable=True, autocast=False,
                                         dtype="float32", initializer="zeros")
        self.variable.assign(numpy.asarray(raw, dtype="float32"))
        kinds = [param.kind for param in params]
        self._softplus = numpy.array([kind in ("positive", "nonneg") for kind in kinds])
        self._interval = numpy.array([kind == "interval" for kind in kinds])
        # lower + (upper - lower) * sigmoid: the width in float64 first, as the scalar formula computes it
        self._lower = numpy.array([p.lower if p.kind == "interval" else 0.0 for p in params], dtype="float32")
        self._width = numpy.array([p.upper - p.lower if p.kind == "interval" else 1.0 for p in params],
                                  dtype="float32")
        # Made once: a checkpoint asks for a layer's children more than once and matches them by identity.
        self.entries = {name: PackedEntry(self, name) for name in self.names}

    def constrain(self, raw: tf.Tensor) -> tf.Tensor:
        """The constrained vector: softplus, the interval's sigmoid or the raw value, by each entry's kind."""
        # A kind all entries share is one op on the vector; a mix selects entry-wise (each branch's
        # gradient is finite everywhere, so the unselected one contributes an exact zero).
        value = raw
        if self._softplus.all():
            return tf.math.softplus(raw)
        if self._softplus.any():
            value = tf.where(self._softplus, tf.math.softplus(raw), value)
        if self._interval.all():
            return self._lower + self._width * tf.math.sigmoid(raw)
        if self._interval.any():
            value = tf.where(self._interval, self._lower + self._width * tf.math.sigmoid(raw), value)
        return value

    def values(self, raw: tf.Tensor) -> dict[str, tf.Tensor]:
        """Each parameter's constrained scalar, by name, from one read of the raw vector."""
        return dict(zip(self.names, tf.unstack(self.constrain(raw), num=len(self.names))))

    def value(self, name: str) -> tf.Tensor:
        """One parameter's constrained value, from the variable as it is now."""
        return self.constrain(tf.convert_to_tensor(self.variable.value))[self.index[name]]

    def assign_raw(self, name: str, raw: float) -> None:
        """Set one entry of the raw vector (the others keep their values)."""
        current = tf.convert_to_tensor(self.variable.value)
        self.variable.assign(tf.tensor_scatter_nd_update(current, [[self.index[name]]], [raw]))


class PackedEntry(Trackable):
    """One packed parameter as a ``tf.train.Checkpoint`` object of its own, saved under the key its own
    variable had before packing (``parameter_<name>/.ATTRIBUTES/VARIABLE_VALUE``): checkpoints written
    before packing restore, and those written now restore in code from before it."""

    def __init__(self, scalars: PackedScalars, name: str):
        self._scalars = scalars
        self._entry_name = name

    def _serialize_to_tensors(self):
        raw = tf.convert_to_tensor(self._scalars.variable.value)
        return {"VARIABLE_VALUE": raw[self._scalars.index[self._entry_name]]}

    def _restore_from_tensors(self, restored_tensors):
        self._scalars.assign_raw(self._entry_name, tf.reshape(restored_tensors["VARIABLE_VALUE"], []))


class ParameterWeights:
    """Every parameter of a formula as weights of ``layer``: the trainable scalars packed in one vector,
    each tensor-valued or const parameter one weight of its shape. ``given`` holds the arrays given as
    constants (an initial value of a parameter's shape replaces its declared init)."""

    def __init__(self, layer: keras.layers.Layer, params: dict[str, Parameter], given: dict):
        self.params = params
        initial = {name: _initial_raw(param, given.get(name)) for name, param in params.items()}
        scalars = [param for param in params.values() if packed(param)]
        self.packed = PackedScalars(layer, scalars, [initial[p.name] for p in scalars]) if scalars else None
        self.own = {}  # the others, raw, by name
        for name, param in params.items():
            if not packed(param):
                self.own[name] = layer.add_weight(name=name, shape=param.shape, trainable=param.trainable,
                                                  autocast=False, dtype="float32", initializer="zeros")
                self.own[name].assign(numpy.broadcast_to(initial[name], param.shape))

    def read(self, guard) -> dict[str, tf.Tensor]:
        """Each parameter's constrained value by name, every variable read once through ``guard``."""
        env = self.packed.values(guard(self.packed.variable.value)) if self.packed else {}
        env.update((name, constrain(self.params[name], guard(raw.value))) for name, raw in self.own.items())
        return env

    def value(self, name: str) -> tf.Tensor:
        """One parameter's constrained value now, as a tensor of its shape."""
        if name not in self.own:
            return self.packed.value(name)
        return constrain(self.params[name], tf.convert_to_tensor(self.own[name].value))

    def values(self) -> dict:
        """Every parameter's constrained value, in declaration order: a float, or an array if tensor-valued."""
        now = self.read(tf.convert_to_tensor)
        return {name: now[name].numpy() if param.shape else float(now[name]) for name, param in self.params.items()}

    def set(self, name: str, value) -> None:
        """Set a parameter by its constrained value (an array of its shape for a tensor-valued one)."""
        param = self.params[name]
        if name not in self.own:
            self.packed.assign_raw(name, unconstrain(param, value))
        else:
            self.own[name].assign(unconstrain_array(param, value) if param.shape else unconstrain(param, value))

    def checkpoint_children(self) -> dict:
        """The objects tf.train.Checkpoint saves, by the names they have had since before packing."""
        entries = self.packed.entries if self.packed else {}
        return {f"parameter_{name}": entries.get(name) or self.own[name] for name in self.params}


def _initial_raw(param: Parameter, given):
    """The raw value a parameter starts from: its declared init, or the array given as a constant."""
    if given is not None and given.shape == param.shape:  # a wrong one: bind() says so
        return unconstrain_array(param, given)
    return unconstrain(param, param.init)


def unpacked_store(store, params: list[Parameter], new_count: int) -> dict | None:
    """A ``load_own_variables`` store written with one weight per parameter (before packing), rewritten
    in the packed layout; ``None`` if ``store`` is not in that layout.

    Before packing the layer's trainable weights were every trainable parameter in declaration order;
    its non-trainable ones (``const`` parameters, given tensors, snapshots) come after them in both layouts.
    """
    trainable = [param for param in params if param.trainable]
    scalars = [param for param in trainable if packed(param)]
    old_count = new_count - (1 if scalars else 0) + len(scalars)
    if not scalars or len(store.keys()) != old_count:
        return None
    old = {param.name: numpy.asarray(store[str(i)]) for i, param in enumerate(trainable)}
    if any(old[param.name].shape != param.shape for param in trainable):
        return None
    rewritten = [numpy.array([old[param.name] for param in scalars], dtype="float32")]
    rewritten += [old[param.name] for param in trainable if not packed(param)]
    rewritten += [numpy.asarray(store[str(i)]) for i in range(len(trainable), old_count)]
    return {str(i): value for i, value in enumerate(rewritten)}
