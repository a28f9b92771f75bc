"""W501: an implicit parameter whose name looks like a layer or variable name (a typo that would
silently create a new trainable scalar). Needs only names, so it runs with a model or a shapes table."""

from __future__ import annotations

import difflib
import re
from typing import Iterable

from ..language.diagnostics import Diagnostic
from ..language.formula import LAYER_INDEX, TARGETS, Formula

SIMILAR = 0.8  # difflib ratio above which an implicit parameter's name looks like a model name


def similar_name_warnings(formula: Formula, names: Iterable[str]) -> list[Diagnostic]:
    """W501 for each implicit parameter whose name is close to a layer or variable name among ``names``.

    ``names`` are reference texts (``reference_names(model)``, or a shapes table's keys).
    """
    owners: dict[str, list[str]] = {}  # a layer or variable name -> reference texts that contain it
    kinds: dict[str, str] = {}
    for name in names:
        parts = [part.strip("`") for part in re.findall(r"`[^`]*`|[^.]+", name)]
        for position, part in enumerate(parts):
            if not LAYER_INDEX.fullmatch(part) and part not in TARGETS:
                owners.setdefault(part, []).append(name)
                kinds.setdefault(part, "name" if len(parts) == 1 else
                                 "variable" if position == len(parts) - 1 else "layer")
    warnings = []
    for param in formula.params.values():
        close = [] if param.declared else difflib.get_close_matches(param.name, list(owners), n=1, cutoff=SIMILAR)
        if close:
            meant = " or ".join(dict.fromkeys(owners[close[0]][:2]))
            warnings.append(Diagnostic(
                "W501", f"implicit parameter '{param.name}' looks like the {kinds[close[0]]} '{close[0]}'",
                param.span, f"did you mean {meant}? (a free name creates a new trainable scalar; "
                            f"declare it with 'where {param.name}: real' if you meant one)"))
    return warnings
