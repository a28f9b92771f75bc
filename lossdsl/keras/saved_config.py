"""The checks of what lossdsl reads from a saved config: a .keras file is data anyone may have edited."""

from __future__ import annotations

from ..analysis.places import Place, places_from_config
from ..language.errors import LossError
from ..language.source import shortened


def checked_places(saved) -> dict[str, Place] | None:
    """The saved ``places`` field as Places (``None``: a file saved before places were recorded)."""
    if saved is None:
        return None
    try:
        return places_from_config(saved)
    except ValueError as error:
        raise LossError([], "", f"the saved config of the model with a formula: field 'places': {error}") from None


#: The type of each option lossdsl reads from a saved config (a .keras file is data anyone may have edited):
#: exactly bool, so that "false" (a non-empty string, hence truthy) or 1 cannot switch an option on.
OPTION_TYPES = {"formula": str, "jit_compile": bool, "jit_compile_formula": bool, "check_numerics": bool,
                "edition": int}
#: The language editions a saved formula may record (SPEC §5.5).
EDITIONS = (1, 2)


def checked_options(owner: str, **options) -> None:
    """Raise LossError naming the first option whose value is not of its OPTION_TYPES type."""
    for field, value in options.items():
        expected = OPTION_TYPES[field]
        if type(value) is not expected or (field == "edition" and value not in EDITIONS):
            wanted = {str: "a string", bool: "true or false", int: "1 or 2"}[expected]
            raise LossError([], "", f"{owner}: '{field}' must be {wanted}, not {quoted(value)}")


def required_fields(config, owner: str, fields: tuple[str, ...]) -> None:
    """Raise LossError naming the first of ``fields`` that a saved config lacks."""
    if not isinstance(config, dict):
        raise LossError([], "", f"the saved config of {owner} must be a dict, not {quoted(config)}")
    missing = [field for field in fields if field not in config]
    if missing:
        raise LossError([], "", f"the saved config of {owner} has no field '{missing[0]}'")


def quoted(value) -> str:
    """A value from a config as a message shows it: its (shortened) repr and its type."""
    return f"{shortened(repr(value), 40)} ({type(value).__name__})"


def renamed_message(moved: dict) -> str:
    """One warning for every reference found at its saved place because a layer it names was renamed."""
    pairs = dict.fromkeys(pair for found in moved.values() for pair in found.renamed)
    renamed = "; ".join(f"'{old}' is now '{new}'" for old, new in pairs)
    return (f"the loaded model renamed layers the saved formula names ({renamed}): "
            f"{', '.join(moved)} {'is' if len(moved) == 1 else 'are'} read where "
            f"{'it was' if len(moved) == 1 else 'they were'} when the formula was saved (same place in the model, "
            "same shape). Keras forgets the name of a subclassed layer or model whose __init__ takes neither "
            "name nor **kwargs: pass **kwargs on to super().__init__() (or define get_config) to keep it")
