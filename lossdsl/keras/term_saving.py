"""What a saved formula term keeps, and how it comes back (SPEC §3.2, §5.3-5.6): its config (the formula, its
options and language edition, the given tensors' shapes), its weights in .keras and .weights.h5 files (the random
draws' generator state beside them; a file saved with one weight per parameter, before packing, still loads), and
its variables by name in a ``tf.train.Checkpoint``."""

from __future__ import annotations

from ..language.frontend import parse
from .packing import unpacked_store
from .saved_config import checked_options, required_fields

#: Where a saved term keeps its random draws' generator state, beside its weights "0", "1", ...
SEED_STATE = "seed_generator_state"


class TermSaving:
    """FormulaTerm's saving and loading (mixed in before ``keras.layers.Layer``)."""

    def get_config(self):
        return {**super().get_config(), "formula": self.source, "jit_compile": self.jit_compile,
                "check_numerics": self.check_numerics, "tensor_shapes": self.tensor_shapes, "edition": self.edition}

    @property
    def tensor_shapes(self) -> dict[str, list[int]]:
        """The shape of each constant tensor: what a loaded model needs to make its weights before reading them."""
        return {name: list(weight.shape) for name, weight in self._tensors.items()}

    @classmethod
    def from_config(cls, config):
        required_fields(config, "the formula term", ("formula", "jit_compile", "check_numerics"))
        checked_options("the formula term", **{field: config[field] for field in ("formula", "jit_compile",
                                                                                   "check_numerics")})
        config = {**config, "edition": config.get("edition", 1)}  # saved before editions were recorded: the first
        checked_options("the formula term", edition=config["edition"])
        parse(config["formula"], config["edition"])  # Keras makes any error in the constructor a TypeError: ours first
        return super().from_config(config)

    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.seed_generator is not None:  # no weight, so Keras leaves it out: the draws would start over
            store[SEED_STATE] = self.seed_generator.state.numpy()

    def load_own_variables(self, store):
        if self.seed_generator is not None and SEED_STATE in store.keys():
            self.seed_generator.state.assign(store[SEED_STATE])
        store = {key: store[key] for key in store.keys() if key != SEED_STATE}
        # A file saved with one weight per parameter (before packing) loads into the packed layout.
        own = len(self._trainable_variables) + len(self._non_trainable_variables)
        rewritten = unpacked_store(store, list(self.formula.params.values()), own)
        super().load_own_variables(store if rewritten is None else rewritten)

    def _trackable_children(self, save_type="checkpoint", **kwargs):
        # tf.train.Checkpoint follows attributes, not dicts: name each parameter for it (a packed scalar as
        # its entry, as when it was a variable of its own: the checkpoint format did not change with packing).
        # (.keras and .weights.h5 files use layer.weights and need no help.)
        children = super()._trackable_children(save_type, **kwargs)
        return {**children, **self._parameters.checkpoint_children(),
                **{f"tensor_{name}": weight for name, weight in self._tensors.items()},
                **{f"snapshot_{weight.name}": weight for weight in self._snapshots.values()},
                **self._state.weights}
