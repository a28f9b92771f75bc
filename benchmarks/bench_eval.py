"""Evaluation speed: a compiled formula against the same math hand-written as a tf.function.

    python benchmarks/bench_eval.py [--rounds 15] [--units 1024]

Model: 8 Dense layers ``units x units``. Ours is ``term()`` called inside a ``tf.function``; the
baseline is the formula's math written by hand with ``tf.norm``, with and without XLA. A second
formula repeats a subexpression, ``norm(W1)**2 + a*norm(W1) + norm(W1)*norm(W2)``: the compiled
formula computes ``norm(W1)`` once, the naive hand-written version three times (except under XLA,
whose common-subexpression pass removes the repeats from the naive version too: there the goal is
only to be no slower).
"""

from __future__ import annotations

import argparse
import warnings

from timing import alternate, print_results, timed_row

LAYERS = 8
EVAL_GOAL = 1.02
REPEATED_GOAL = 1.0


def dense_stack(units: int, layers: int = LAYERS):
    """A Sequential of ``layers`` Dense layers ``units x units``: L0 .. L{layers-1}."""
    import keras
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((units,))] + [keras.layers.Dense(units) for _ in range(layers)])


def weighted_norms_formula(layers: int = LAYERS) -> str:
    """sum of a_i * norm(L_i.kernel), each a_i positive."""
    loss = " + ".join(f"a{i}*norm(L{i}.kernel)" for i in range(layers))
    return loss + "\nwhere " + ", ".join(f"a{i}: positive = {0.5 + 0.1 * i:g}" for i in range(layers))


def compiled(src: str, model, jit: bool):
    """``term()`` inside a tf.function (the way a training step calls it)."""
    import lossdsl
    import tensorflow as tf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", lossdsl.LossWarning)
        term = lossdsl.compile(src, model, jit_compile=jit)
    return term, tf.function(lambda: term(), jit_compile=jit)


def weighted_norms(model, jit: bool, rounds: int, calls: int) -> dict:
    """Sum of 8 weighted kernel norms: compiled against hand-written."""
    import tensorflow as tf
    from lossdsl.lowering.parameters import unconstrain
    term, ours = compiled(weighted_norms_formula(), model, jit)
    kernels = [layer.kernel for layer in model.layers]
    raws = [tf.Variable(unconstrain(term.formula.params[f"a{i}"], 0.5 + 0.1 * i)) for i in range(LAYERS)]

    @tf.function(jit_compile=jit)
    def hand_written():
        return tf.add_n([tf.math.softplus(raw) * tf.norm(kernel) for raw, kernel in zip(raws, kernels)])

    _same_value(ours(), hand_written())
    units = kernels[0].shape[0]
    return timed_row(f"eval: {LAYERS} weighted norms {units}x{units}{', XLA' if jit else ''} (ms)",
                     alternate(ours, hand_written, rounds, calls), EVAL_GOAL, scale=1e3)


REPEATED = "norm(L0.kernel)**2 + a*norm(L0.kernel) + norm(L0.kernel)*norm(L1.kernel)\nwhere a: positive = 0.5"


def repeated_subexpression(model, jit: bool, rounds: int, calls: int) -> dict:
    """A formula using norm(W1) three times, against hand-written code that computes it three times."""
    import tensorflow as tf
    from lossdsl.lowering.parameters import unconstrain
    term, ours = compiled(REPEATED, model, jit)
    w1, w2 = model.layers[0].kernel, model.layers[1].kernel
    raw = tf.Variable(unconstrain(term.formula.params["a"], 0.5))

    @tf.function(jit_compile=jit)
    def naive():
        return tf.norm(w1) ** 2 + tf.math.softplus(raw) * tf.norm(w1) + tf.norm(w1) * tf.norm(w2)

    _same_value(ours(), naive())
    timing = alternate(ours, naive, rounds, calls)
    if jit:  # XLA removes the repeats from the naive program itself: not slower is all there is to win
        return timed_row("eval: norm(W1) used 3x, vs naive, XLA (ms)", timing, EVAL_GOAL, scale=1e3)
    return timed_row("eval: norm(W1) used 3x, vs naive (ms)", timing, REPEATED_GOAL, goal_text="ratio < 1",
                     scale=1e3) | {"met": timing.ratio < REPEATED_GOAL}


def _same_value(ours, baseline) -> None:
    # The comparison means nothing unless both compute the same number.
    if abs(float(ours) - float(baseline)) > 1e-4 * max(1.0, abs(float(baseline))):
        raise AssertionError(f"compiled formula gives {float(ours)}, the hand-written one {float(baseline)}")


def run(rounds: int = 15, units: int = 1024, calls: int = 10) -> list[dict]:
    """Every evaluation row: weighted norms and the repeated subexpression, without and with XLA."""
    model = dense_stack(units)
    return [measure(model, jit, rounds, calls)
            for measure in (weighted_norms, repeated_subexpression) for jit in (False, True)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--units", type=int, default=1024)
    args = parser.parse_args(argv)
    print_results(run(args.rounds, args.units))


if __name__ == "__main__":
    main()
