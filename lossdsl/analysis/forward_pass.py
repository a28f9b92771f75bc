"""What layers compute in one forward pass (SPEC §5.1): ``<layer>.output`` and ``<layer>.input``.

Keras keeps no per-batch activations, and a second pass would double the step's cost, so the layers a
formula names have their instance ``call`` wrapped while the model runs: the wrapper hands what the
layer took and gave to the :class:`Recorder` of the current forward pass. The recorder lives in a
context variable set by the code that runs the pass, so each replica of a ``MirroredStrategy`` (its own
thread) records into its own recorder and can never read another replica's activation. The wrapping is
undone when the last pass running through it ends, so nothing of it stays on the model (or in a save).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading

import keras
from keras.src.backend import compute_output_spec  # a pass in a scratch graph: Keras adds no node

from .model_tree import input_shape

_current: contextvars.ContextVar = contextvars.ContextVar("lossdsl_recorder", default=None)
_lock = threading.Lock()
_wrapped: dict[int, list] = {}  # id(layer) -> [layer, passes running through it]


class SharedLayerCall(ValueError):
    """A recorded layer was called twice in one forward pass: it has no single output.

    A plain one-message exception: Keras re-creates exceptions raised in a layer's call from their message.
    """


class Recorder:
    """The inputs and outputs of chosen layers in one forward pass, by layer identity."""

    def __init__(self, layers, strict: bool = True):
        self.layers = {id(layer): layer for layer in layers}
        self.strict = strict  # raise on a second call (training); a symbolic pass counts them instead
        self.seen: dict[int, tuple] = {}  # id(layer) -> (first positional input, output)
        self.calls: dict[int, int] = {}

    def record(self, layer, inputs, output) -> None:
        self.calls[id(layer)] = self.calls.get(id(layer), 0) + 1
        if id(layer) in self.seen:
            if self.strict:
                raise SharedLayerCall(f"layer '{layer.name}' is called more than once per forward pass, so it "
                                      "has no single output: name a layer that runs once, or give each use "
                                      "its own layer")
            return
        self.seen[id(layer)] = (inputs, output)

    def value(self, layer, which: str):
        """``which`` is ``"output"`` or ``"input"``; KeyError if the layer did not run in this pass."""
        inputs, output = self.seen[id(layer)]
        return output if which == "output" else inputs


def _wrap(layer) -> None:
    original = layer.call  # the bound method (or an earlier instance attribute, which is put back)

    def recording_call(*args, **kwargs):
        output = original(*args, **kwargs)
        recorder = _current.get()
        if recorder is not None and id(layer) in recorder.layers:
            recorder.record(layer, args[0] if args else next(iter(kwargs.values()), None), output)
        return output

    recording_call.lossdsl_original = layer.__dict__.get("call")
    object.__setattr__(layer, "call", recording_call)  # past Keras' attribute tracking: not a sublayer


def _unwrap(layer) -> None:
    original = layer.__dict__["call"].lossdsl_original
    if original is None:
        object.__delattr__(layer, "call")
    else:
        object.__setattr__(layer, "call", original)


@contextlib.contextmanager
def recording(layers, strict: bool = True):
    """Run a forward pass inside: yields the :class:`Recorder` of ``layers`` for this pass (this thread)."""
    layers = list({id(layer): layer for layer in layers}.values())
    with _lock:
        for layer in layers:
            entry = _wrapped.setdefault(id(layer), [layer, 0])
            if entry[1] == 0:
                _wrap(layer)
            entry[1] += 1
    recorder = Recorder(layers, strict)
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)
        with _lock:
            for layer in layers:
                entry = _wrapped[id(layer)]
                entry[1] -= 1
                if entry[1] == 0:
                    _unwrap(layer)
                    del _wrapped[id(layer)]


def symbolic_pass(model, layers):
    """The recorder of a pass on symbolic inputs (shapes, and which layers run more than once), or None
    when the model's input shape is unknown."""
    spec = _input_spec(model)
    if spec is None:
        return None
    with recording(layers, strict=False) as recorder:
        try:
            compute_output_spec(lambda x: model(x), spec)
        except Exception:  # the user's call() failed on symbolic inputs: shapes stay unknown
            return None
    return recorder


def _input_spec(model):
    structure = getattr(model, "_inputs_struct", None)
    if structure is not None:
        return keras.tree.map_structure(lambda t: keras.KerasTensor(t.shape, t.dtype), structure)
    shape = input_shape(model)
    return None if shape is None else keras.KerasTensor(shape)
