"""The one exception a rule raises for what it finds: a shape rule, a lowering rule, a reference walk.

The walker that called the rule catches it and records a diagnostic at the node's span (or at a part of
it), so a check never stops at its first finding and a user never sees a traceback.
"""

from __future__ import annotations


class Finding(Exception):
    """What a rule found: ``code``, ``message`` and ``hint`` of a diagnostic, and where it belongs.

    ``node`` is the sympy node it concerns when the walker does not know it (lowering); ``part`` names a
    part of the node (an option by name, a subscript by position: see ``Formula.span_of``).
    """

    def __init__(self, code: str, message: str, hint: str | None = None, part: str | int | None = None,
                 node=None):
        super().__init__(message)
        self.code, self.message, self.hint, self.part, self.node = code, message, hint, part, node
