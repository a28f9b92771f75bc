"""The command line: ``lossdsl lint`` and ``lossdsl explain``."""

from .main import main

__all__ = ["main"]
