"""TensorFlow named while a program is planned, imported only when it runs (``lossdsl explain`` needs no
TensorFlow to show a lowered program, SPEC §4).

A lowering facet answers with an :class:`~lossdsl.lowering.ops.Op` whose function runs later, on tensors.
What that function calls is named through a :class:`DeferredModule` (``lib.tf``: the module is imported,
by an ``import`` statement written in the package, on the first attribute read, which happens when the
function first runs) or by a :class:`Named` path
(``lib.resolve("tf.math.log1p")``: looked up on its first call). Planning a program therefore imports
nothing heavy, and the compiled program calls TensorFlow's own functions (:func:`bound`).
"""

from __future__ import annotations

import functools
from types import ModuleType
from typing import Callable


class DeferredModule:
    """A module that ``load()`` imports on the first read of one of its attributes, then read as the module itself.

    ``load`` is a function holding the ``import`` statement: no module is ever imported by a name made at
    run time.

    >>> def load_math():
    ...     import math
    ...     return math
    >>> math = DeferredModule(load_math)
    >>> math.sqrt(4.0)
    2.0
    """

    def __init__(self, load: Callable[[], ModuleType]):
        self._load = load

    def __getattr__(self, attribute: str):
        value = getattr(self._load(), attribute)
        # Kept on the proxy: the next read is a plain attribute lookup, as fast as the module's own.
        setattr(self, attribute, value)
        return value

    def __repr__(self) -> str:
        return f"DeferredModule({self._load.__name__})"


class Named:
    """A function named by its dotted path in ``namespace`` (``tf.math.log1p``), looked up on its first call.

    >>> import math, types
    >>> Named("math.hypot", types.SimpleNamespace(math=math))(3.0, 4.0)
    5.0
    """

    __slots__ = ("path", "_namespace", "_function")

    def __init__(self, path: str, namespace):
        self.path = path
        self._namespace = namespace
        self._function = None

    @property
    def function(self) -> Callable:
        """The function itself (importing its module the first time)."""
        if self._function is None:
            self._function = functools.reduce(getattr, self.path.split("."), self._namespace)
        return self._function

    def __call__(self, *args, **kwargs):
        return self.function(*args, **kwargs)

    def __repr__(self) -> str:
        return f"Named({self.path!r})"


def bound(fn: Callable | None) -> Callable | None:
    """The function a program step calls: a :class:`Named` one looked up now, anything else as it is."""
    return fn.function if isinstance(fn, Named) else fn
