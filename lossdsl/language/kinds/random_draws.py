"""Random tensors, drawn afresh at every step: normal(6, 1), uniform(6, 1), normal_like(x), uniform_like(x).

Each call in a formula is its own draw: its node's last argument is the call's offset in the text (never
shown), so two calls written alike are two draws, where equal nodes would otherwise be computed once. The draws come from a Keras
``SeedGenerator`` the term layer owns (among its variables), so ``keras.utils.set_random_seed`` before
``compile``/``attach`` makes them reproducible.
"""

from __future__ import annotations

from .. import intervals as iv
from .base import NONNEGATIVE, UNDECIDED, FunctionSpec, NodeKind, TensorFunction, build, declare

class RandomDraw(TensorFunction):
    """A random tensor; its last argument is the offset of its call in the text."""

    #: "normal" or "uniform": which keras.random function draws it
    distribution = ""

    @property
    def options(self) -> tuple:
        return ()  # the call's offset is not an option a reader wrote


def _draw(name: str, call: str, distribution: str, summary: str, like: bool) -> type:
    cls = type(name, (RandomDraw,), {"nargs": 2 if like else None, "tensor_arity": 1 if like else 0,
                                     "distribution": distribution, "__module__": __name__,
                                     "__doc__": f"{call}: {summary}"})

    def shape(node, *tensor_shapes):
        return tensor_shapes[0] if like else tuple(int(size) for size in node.args[:-1])

    def latex(node, printer):
        shown = [printer._print(arg) for arg in node.args[:-1]]
        return rf"\operatorname{{{call}}}\left({', '.join(shown)}\right)".replace("_like", r"\_like")

    positive = distribution == "uniform"
    declare(NodeKind(
        cls, summary, shape, sign=NONNEGATIVE if positive else None,
        range=lambda node, of: iv.Range(0.0, 1.0, True, False) if positive else iv.REAL,
        asymptotic=UNDECIDED,  # its value does not depend on any parameter, but nothing factors out of it
        plain=UNDECIDED, lower=lambda node, lib: lib.random_draw(node, like), latex=latex,
        calls=(FunctionSpec(call, build(cls), ("x",) if like else (), variadic="" if like else "size",
                            numbered=True, summary=summary),)))
    return cls


RandomNormal = _draw("RandomNormal", "normal", "normal", "standard normal draws of the given shape, new every step",
                     like=False)
RandomUniform = _draw("RandomUniform", "uniform", "uniform",
                      "uniform draws in [0, 1) of the given shape, new every step", like=False)
NormalLike = _draw("NormalLike", "normal_like", "normal", "standard normal draws of x's shape, new every step",
                   like=True)
UniformLike = _draw("UniformLike", "uniform_like", "uniform", "uniform draws in [0, 1) of x's shape, new every step",
                    like=True)
