"""Registering lossdsl's Keras classes as soon as Keras is loaded, so ``import lossdsl`` is enough for
``keras.models.load_model`` of a model saved with a formula, while ``import lossdsl`` alone never
imports TensorFlow.

Keras resolves a saved class by its registered name and only imports modules of its own packages
(``serialization_lib``, a deliberate safety rule), so lossdsl's classes must be registered before
``load_model`` runs. Registration means importing ``lossdsl.keras``, which needs TensorFlow and Keras
fully loaded: ``import tensorflow`` imports parts of Keras while TensorFlow itself is half-initialized,
and ``import keras`` imports TensorFlow. So a finder on ``sys.meta_path`` watches both and registers
when the second of them has finished executing.
"""

from __future__ import annotations

import sys
import warnings

WATCHED = ("keras", "tensorflow")


def register_when_keras_loads() -> None:
    """Import ``lossdsl.keras`` now if Keras and TensorFlow are loaded, else as soon as they are."""
    if _ready():
        _register()
    elif not any(isinstance(finder, _KerasWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, _KerasWatcher())


def _loaded(name: str) -> bool:
    module = sys.modules.get(name)
    spec = getattr(module, "__spec__", None)
    return module is not None and not getattr(spec, "_initializing", False)


def _ready() -> bool:
    return all(_loaded(name) for name in WATCHED)


def _register() -> None:
    for finder in [f for f in sys.meta_path if isinstance(f, _KerasWatcher)]:
        sys.meta_path.remove(finder)
    try:
        from . import keras  # noqa: F401  defining lossdsl's classes registers them with Keras
    except Exception as error:  # never break the user's own `import keras`
        warnings.warn(f"lossdsl could not register its Keras classes ({error!r}); import lossdsl.keras "
                      "before keras.models.load_model to load a model saved with a formula", stacklevel=3)


class _KerasWatcher:  # a sys.meta_path finder (importlib's protocol; its base classes add nothing)
    """Finds nothing itself: it wraps the loader of ``keras`` and ``tensorflow`` so that, when the last
    of the two has executed, lossdsl's Keras classes get registered."""

    def find_spec(self, name, path, target=None):
        if name not in WATCHED:
            return None
        spec = _spec_from_other_finders(self, name, path, target)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _RegisteringLoader(spec.loader)
        return spec


def _spec_from_other_finders(watcher, name, path, target):
    for finder in sys.meta_path:
        if finder is watcher or not hasattr(finder, "find_spec"):
            continue
        spec = finder.find_spec(name, path, target)
        if spec is not None:
            return spec
    return None


class _RegisteringLoader:  # a loader that delegates to the real one
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        others = [name for name in WATCHED if name != module.__name__]
        if all(_loaded(name) for name in others):  # this module has just finished executing
            _register()

    def __getattr__(self, attribute):  # get_resource_reader, is_package, ... of the real loader
        return getattr(self._loader, attribute)
