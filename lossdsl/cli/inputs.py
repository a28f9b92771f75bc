"""What the command line reads: formula files, stdin, Python files and directories, the ``--shapes`` table.

Every input is hostile until read: a FIFO or a device would block or never end, a file may be larger than
memory, JSON or Python may nest deeper than their parsers recurse, and a file name may not be text. Each
is an :class:`InputError` (exit code 2) with one line saying what was wrong.
"""

from __future__ import annotations

import io
import json
import os
import stat
import sys
import tokenize
from pathlib import Path

from ..analysis.shapes import validate_shapes_table

#: Bytes read from one file or stdin at most: formulas are capped far lower (MAX_SOURCE_CHARS), and a
#: Python file of this size is generated, not written.
MAX_INPUT_BYTES = 10_000_000
#: Digits in a number of a ``--shapes`` table: more is no dimension (Python's own limit is 4,300).
MAX_DIMENSION_DIGITS = 18


class InputError(Exception):
    """A file, option or argument the command cannot use (exit code 2)."""


def shown(path: str | os.PathLike) -> str:
    """A path as text that any output can print: undecodable bytes of its name as ``\\xff``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def read_bytes(path: str) -> bytes:
    """The bytes of a regular file (or stdin for ``-``), refusing FIFOs, devices, directories and huge files."""
    if path == "-":
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1) if hasattr(sys.stdin, "buffer") else \
            sys.stdin.read(MAX_INPUT_BYTES + 1).encode("utf-8", "surrogateescape")
    else:
        try:  # non-blocking: opening a FIFO for reading would wait for a writer before fstat could refuse it
            descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        except OSError as error:
            raise InputError(f"cannot read {shown(path)}: {error.strerror}") from None
        try:
            mode = os.fstat(descriptor).st_mode
            if not stat.S_ISREG(mode):
                raise InputError(f"cannot read {shown(path)}: {_kind(mode)}, not a regular file")
            with open(descriptor, "rb", closefd=False) as file:
                data = file.read(MAX_INPUT_BYTES + 1)
        finally:
            os.close(descriptor)
    if len(data) > MAX_INPUT_BYTES:
        raise InputError(f"cannot read {shown(path)}: more than {MAX_INPUT_BYTES:,} bytes")
    return data


def _kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO", stat.S_ISCHR: "a character device",
             stat.S_ISBLK: "a block device", stat.S_ISSOCK: "a socket"}
    return next((name for test, name in kinds.items() if test(mode)), "a special file")


def read_text(path: str) -> str:
    """A formula file's text (UTF-8, any line ends), or stdin for ``-``."""
    return _decoded(read_bytes(path), "utf-8", path)


def read_python(path: str) -> str:
    """A Python file's text, in the encoding it declares (as Python itself reads it)."""
    data = read_bytes(path)
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as error:
        raise InputError(f"cannot read {shown(path)}: {error.msg}") from None
    return _decoded(data, encoding, path)


def _decoded(data: bytes, encoding: str, path: str) -> str:
    try:  # a text wrapper, not bytes.decode: it turns \r\n and \r into \n, as reading a text file does
        return io.TextIOWrapper(io.BytesIO(data), encoding).read()
    except UnicodeDecodeError as error:
        raise InputError(f"cannot read {shown(path)}: not {encoding} text ({error.reason} at byte {error.start})") \
            from None


def python_files(directory: Path, notes: list[str]) -> list[Path]:
    """The regular .py files under a directory, skipping hidden directories (.git, .venv).

    What is named .py but is no regular file (a dangling or FIFO symlink, a FIFO) is left out with a note;
    a directory named ``pkg.py`` is walked like any other. Symbolic links to directories are not followed.
    """
    found = []
    for root, directories, files in os.walk(directory, onerror=lambda error: notes.append(
            f"skipped {shown(error.filename)}: {error.strerror}")):
        directories[:] = sorted(d for d in directories if not d.startswith("."))
        for name in sorted(f for f in files if f.endswith(".py")):
            path = Path(root) / name
            try:
                mode = path.stat().st_mode
            except OSError:
                notes.append(f"skipped {shown(path)}: a symbolic link to nothing")
                continue
            if stat.S_ISREG(mode):
                found.append(path)
            else:
                notes.append(f"skipped {shown(path)}: {_kind(mode)}, not a regular file")
    return sorted(found)


def load_shapes(path: str | None) -> dict | None:
    """The ``--shapes`` table: reference text -> list of dimensions (``null`` where unknown)."""
    if path is None:
        return None
    try:
        table = json.loads(read_text(path), parse_int=_dimension)
    except json.JSONDecodeError as error:
        raise InputError(f"{shown(path)}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") from None
    except RecursionError:
        raise InputError(f"{shown(path)}: JSON nested too deeply (a shapes table has two levels)") from None
    except ValueError as error:
        raise InputError(f"{shown(path)}: {error}") from None
    try:
        return validate_shapes_table(table)
    except TypeError as error:
        raise InputError(f"{shown(path)}: {error}") from None


def _dimension(digits: str) -> int:
    """An integer of the shapes table; refused before Python converts thousands of digits."""
    if len(digits.lstrip("-")) > MAX_DIMENSION_DIGITS:
        raise ValueError(f"a number with {len(digits):,} digits is no dimension")
    return int(digits)
