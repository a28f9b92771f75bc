"""The analysis of a formula, computed once: what parsed, what is wrong, what its names and shapes are.

``analyze()`` builds the record; ``check()`` returns its diagnostics; ``compile``/``attach`` (keras.py)
and ``lint``/``explain`` (cli) take the record itself, so no stage resolves a reference or infers a
shape a second time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..language import frontend
from ..language.diagnostics import Diagnostic, placed, sort_key
from ..language.errors import raise_for
from ..language.builder import EDITION
from ..language.formula import Formula
from ..language.history import tensor_history_problems
from ..language.source import Source
from .members import expand_members, members_of, with_table_members
from .constants import as_arrays, constant_problems, name_given_shapes, with_derived_shapes
from .shapes import Shape, infer_node_shapes, validate_shapes_table
from .similar import similar_name_warnings
from .stability import check_stability

if TYPE_CHECKING:
    from .resolve import ResolvedReference  # imports Keras: only for the annotation


@dataclass(frozen=True)
class Analysis:
    """Everything lossdsl knows about one formula before lowering it.

    ``formula`` is ``None`` when the text cannot be built into one. ``resolved`` maps each reference
    to what it names in the model (``None`` without a model); ``reference_shapes`` maps each reference
    to its shape, from the model or the ``shapes`` table (``None`` without either); ``shapes`` is the
    inferred shape of every named term and of the loss (key ``""``), ``None`` when the references'
    shapes are unknown or a reference did not resolve; ``node_shapes`` the shape of every node, the batch
    marked, which the lowering reads to find the reductions over the batch.

    >>> import lossdsl
    >>> analysis = lossdsl.analyze("g = L1.kernel.T @ L1.kernel\\nnorm(g - I)", shapes={"L1.kernel": [10, 16]})
    >>> analysis.shapes, analysis.has_errors
    ({'g': (16, 16), '': ()}, False)
    >>> broken = lossdsl.analyze("norm(L1.kernel @ L1.kernel)", shapes={"L1.kernel": [10, 16]})
    >>> [(d.code, d.message) for d in broken.diagnostics]
    [('E302', '(10, 16) @ (10, 16): inner dimensions 16 and 10 differ')]
    """

    source: str
    formula: Formula | None
    diagnostics: tuple[Diagnostic, ...]
    resolved: dict[str, ResolvedReference] | None = None
    reference_shapes: dict[str, Shape] | None = None
    shapes: dict[str, Shape] | None = None
    #: every node's shape with the batch marked (node -> shape), for the lowering's reductions over the batch
    node_shapes: dict | None = field(default=None, repr=False, compare=False)
    #: The formula with every pattern's members written out (``analysis.members``): what is lowered.
    expanded: Formula | None = None

    @property
    def members(self) -> dict[str, tuple[str, ...]]:
        """{pattern text: the reference text of each variable it matches, in model order}."""
        return dict(members_of(self.reference_shapes))

    @property
    def lowerable(self) -> Formula | None:
        """The formula lowering takes: with its patterns' members written out when they are known."""
        return self.expanded or self.formula

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)

    def raise_for_errors(self) -> None:
        """Raise the :class:`lossdsl.LossError` subclass of the first error, if there is one."""
        raise_for(list(self.diagnostics), self.source)


def analyze(src: str, model=None, shapes: dict | None = None, places: dict | None = None,
            constants: dict | None = None, edition: int = EDITION) -> Analysis:
    """The :class:`Analysis` of ``src``: syntax and names always; shapes given a model or a ``shapes`` table.

    ``shapes`` maps reference text to a shape, e.g. ``{"L1.kernel": [10, 16]}`` (``None`` for unknown
    dimensions); anything else is a TypeError. Given a model, references and shapes come from it and
    ``shapes`` is not used. Without a model, TensorFlow is not imported. ``places`` (a model saved with
    the formula records them) is where each reference was found in the model's structure: a name that no
    longer resolves after a reload is looked up there (``ResolvedReference.renamed`` says what changed).
    ``constants`` maps the tensors the formula declares (``where F: tensor``) to arrays, and may give a
    parameter an array initial value: given, a declared tensor without an array is an error (E221), and
    the arrays' shapes are checked. ``edition`` 1 reads a formula saved before the second edition.

    >>> import lossdsl
    >>> analysis = lossdsl.analyze("a*norm(L1.kernel) + 1/a + mse(y_true, y_pred)\\nwhere a: positive",
    ...                            shapes={"L1.kernel": [4, 8], "y_true": [None, 2], "y_pred": [None, 2]})
    >>> analysis.diagnostics, analysis.shapes, list(analysis.formula.params)
    ((), {'': ()}, ['a'])
    """
    if shapes is not None:
        validate_shapes_table(shapes)
    arrays = None if constants is None else as_arrays(constants)
    formula, front_end_findings = frontend.analyze(src, edition)
    if formula is None:
        return Analysis(src, None, tuple(placed(front_end_findings, Source(src))))
    found = [*front_end_findings, *check_stability(formula)]
    if arrays is not None:
        found += constant_problems(formula, arrays)
    resolved, inferable = None, shapes is not None
    if model is not None:
        from .resolve import resolve_formula  # imports Keras
        resolved, shapes, problems = resolve_formula(formula, model, places)
        found += problems
        inferable = not any(d.is_error for d in problems)  # an unresolved reference has no shape to check
    elif shapes is not None:
        found += similar_name_warnings(formula, shapes)
        shapes, unmatched = with_table_members(formula, shapes)
        found += unmatched
        inferable = not unmatched
    shapes = with_derived_shapes(formula, shapes, arrays)
    inferred = node_shapes = expanded = None
    if inferable:
        inferred, node_shapes, problems = infer_node_shapes(formula, shapes)
        found += problems if arrays is None else name_given_shapes(problems, formula, arrays)
        found += tensor_history_problems(formula, inferred)
        if not any(d.is_error for d in found):
            expanded = expand_members(formula, members_of(shapes))
    found = placed(sorted(found, key=sort_key), Source(src))  # str(d) then reads "line:col: CODE message"
    return Analysis(src, formula, tuple(found), resolved, shapes, inferred, node_shapes=node_shapes, expanded=expanded)


def check(src: str, model=None, shapes: dict | None = None, constants: dict | None = None) -> list[Diagnostic]:
    """All diagnostics for ``src``, sorted by position: syntax and names always; shapes given a model or a
    ``shapes`` table (``{"L1.kernel": [10, 16]}``); the declared tensors given ``constants``
    (``{"F": array}``). The diagnostics of :func:`analyze`; without a model, TensorFlow is not imported.

    >>> import lossdsl
    >>> [d.code for d in lossdsl.check("a*norm(L0.kernel")]
    ['E101']
    """
    return list(analyze(src, model=model, shapes=shapes, constants=constants).diagnostics)
