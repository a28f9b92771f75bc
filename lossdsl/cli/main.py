"""The command line: ``lossdsl lint`` and ``lossdsl explain``. Exit codes: 0 clean, 1 findings, 2 usage or input.

Without ``--model`` neither command imports TensorFlow or Keras.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..analysis.checks import Analysis, analyze, check
from ..language.diagnostics import Diagnostic, as_records, render_github, render_text, sort_key
from ..language.grouped import render_grouped
from ..language.formula import CONSTANT, SNAPSHOT, STATE, Formula
from ..language.gradient_targets import gradient_costs
from ..language.history import describe_state
from .inputs import InputError, load_shapes, python_files, read_python, read_text, shown
from .pyscan import Snippet, find_formulas, whole_text
from .quiet import quiet_tensorflow
from ..language.source import Source

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INPUT = 0, 1, 2


@dataclass
class Target:
    """One text diagnostics are shown against (an argument, a file, stdin), and the formulas in it."""

    source: Source
    snippets: list[Snippet]

    def lint(self, model=None, shapes: dict | None = None) -> list[Diagnostic]:
        """Every diagnostic of every formula, placed in this text, in order."""
        found = [s.place(d) for s in self.snippets for d in check(s.text, model=model, shapes=shapes)]
        return sorted(found, key=sort_key)


# ------------------------------------------------------------------------------------------- inputs
def python_target(path: Path) -> Target:
    """The formula literals of a Python file."""
    code = read_python(str(path))
    try:
        return Target(Source(code, shown(path)), find_formulas(code, shown(path)))
    except (SyntaxError, ValueError) as error:
        where = f":{error.lineno}" if getattr(error, "lineno", None) else ""
        raise InputError(f"{shown(path)}{where}: not valid Python: {getattr(error, 'msg', error)}") from None
    except (RecursionError, MemoryError):  # what Python's own parser raises for 3,000 nested operators
        raise InputError(f"{shown(path)}: nested too deeply for Python's parser") from None


def lint_targets(arguments: list[str], files: list[str], notes: list[str]) -> list[Target]:
    """Targets for positional arguments (formulas, ``-``, .py files, directories) and ``-f`` files.

    What a directory walk skips is added to ``notes``.
    """
    targets = []
    for number, argument in enumerate(arguments, start=1):
        if argument == "-":
            targets.append(text_target(read_text("-"), "<stdin>"))
        elif argument.endswith(".py") or os.path.isdir(argument):
            path = Path(argument)
            paths = python_files(path, notes) if path.is_dir() else [path]
            targets += [python_target(p) for p in paths]
        elif os.path.exists(argument):  # `lint loss.txt` would lint the reference `loss.txt`, clean
            raise InputError(f"{argument} is a file, not a formula: did you mean -f {argument}?")
        else:
            targets.append(text_target(argument, f"<arg{number}>"))
    targets += [text_target(read_text(f), "<stdin>" if f == "-" else shown(f)) for f in files]
    if not targets:
        raise InputError("no formula given: pass FORMULA, -f FILE, - (stdin), .py files or directories")
    return targets


def text_target(text: str, name: str) -> Target:
    return Target(Source(text, name), [whole_text(text)])


def load_model(path: str | None):
    """The ``--model`` file loaded with ``safe_mode=True`` (this imports Keras and TensorFlow)."""
    if path is None:
        return None
    if not Path(path).is_file():
        raise InputError(f"cannot read {shown(path)}: "  # a FIFO would block Keras' reader
                         + ("not a regular file" if os.path.exists(path) else "no such file"))
    if path.endswith(".keras") and not zipfile.is_zipfile(path):  # Keras would say "File not found"
        raise InputError(f"{shown(path)} is not a Keras model file (a .keras file is a zip archive written by "
                         "model.save)")
    with quiet_tensorflow():
        try:
            import keras
            from .. import keras as _lossdsl_layers  # noqa: F401  registered with Keras, so a saved formula loads
        except ImportError as error:
            raise InputError(f"--model needs TensorFlow: {_reason(error)}") from None
        try:
            model = keras.models.load_model(path, safe_mode=True)
        except Exception as error:  # Keras raises many kinds for a bad file; all mean "cannot use this input"
            raise InputError(f"cannot load model {shown(path)}: {_reason(error)}") from None
    # A model saved after attach() is lossdsl's wrapper: its formula was resolved against the user's model.
    return model.inner if isinstance(model, _lossdsl_layers.FormulaModel) else model


def write(text: str, stream=None) -> None:
    """Print ``text``, with what the stream cannot encode (undecodable bytes of an argument) as escapes."""
    stream = stream or sys.stdout
    encoding = getattr(stream, "encoding", None) or "utf-8"
    print(text.encode(encoding, "backslashreplace").decode(encoding), file=stream)


def _reason(error: Exception) -> str:
    """The first line of what went wrong, without a traceback."""
    text = getattr(error, "strerror", None) or str(error)
    return text.splitlines()[0] if text else type(error).__name__


# --------------------------------------------------------------------------------------------- lint
def run_lint(args: argparse.Namespace) -> int:
    notes = []
    targets = lint_targets(args.formulas, args.file or [], notes)
    for note in notes:
        write(f"lossdsl: note: {note}", sys.stderr)
    shapes, model = load_shapes(args.shapes), load_model(args.model)
    reports = [(target.source, target.lint(model, shapes)) for target in targets]
    output = render_reports(reports, args.format, sum(len(t.snippets) for t in targets))
    if output:
        write(output)
    found = [d for _, diagnostics in reports for d in diagnostics]
    failed = any(d.is_error for d in found) or (args.strict and any(not d.is_note for d in found))
    return EXIT_FINDINGS if failed else EXIT_CLEAN


def render_reports(reports: list[tuple[Source, list[Diagnostic]]], output_format: str, checked: int) -> str:
    """All findings in one format; JSON is a single list over every source."""
    if output_format == "json":
        return json.dumps([r for source, found in reports for r in as_records(found, source)], indent=2)
    render = render_github if output_format == "github" else _render_text_grouped
    blocks = [render(found, source) for source, found in reports if found]
    if output_format == "text" and blocks:
        blocks.append(summary([d for _, found in reports for d in found], checked))
    elif output_format == "text":  # so that "found no formula" and "clean" read differently
        blocks.append(clean_summary(checked, sum(not source.name.startswith("<") for source, _ in reports)))
    return "\n".join(blocks)


def _render_text_grouped(found: list[Diagnostic], source: Source) -> str:
    """Text output with the findings of one code in one block (JSON and GitHub keep one record each)."""
    return "\n".join(render_grouped(found, source))


def summary(found: list[Diagnostic], checked: int) -> str:
    errors, notes = sum(d.is_error for d in found), sum(d.is_note for d in found)
    counts = f"{_count(errors, 'error')}, {_count(len(found) - errors - notes, 'warning')}"
    return counts + (f", {_count(notes, 'note')}" if notes else "") + f" in {_count(checked, 'formula')}"


def clean_summary(checked: int, files: int) -> str:
    """``3 formulas in 2 files: clean``, or ``no formula found in 2 files``."""
    where = f" in {_count(files, 'file')}" if files else ""
    return f"{_count(checked, 'formula')}{where}: clean" if checked else f"no formula found{where}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# ------------------------------------------------------------------------------------------ explain
def run_explain(args: argparse.Namespace) -> int:
    if len(args.formulas) + bool(args.file) != 1:
        raise InputError("explain takes one formula: FORMULA, -f FILE or - (stdin)")
    given = args.file or args.formulas[0]
    text = read_text(given) if args.file or given == "-" else given
    name = "<stdin>" if given == "-" else shown(args.file) if args.file else "<arg1>"
    shapes, model = load_shapes(args.shapes), load_model(args.model)
    source = Source(text, name)
    analysis = analyze(text, model=model, shapes=shapes)
    if analysis.formula is None:
        write(render_text(list(analysis.diagnostics), source))
        return EXIT_FINDINGS
    # a formula with errors is not lowered: its program would be as wrong as the formula
    write(explanation(analysis, source, None if analysis.has_errors else lowered_ops(analysis.lowerable)))
    return EXIT_FINDINGS if analysis.has_errors else EXIT_CLEAN


def resolved_columns(resolved) -> dict:
    """The columns ``explain`` adds for a reference resolved against a model."""
    if resolved.members:
        return {"layer": f"{len(resolved.members)} matching variables"}
    if resolved.reference.is_inputs:
        return {"layer": "(model input)"}
    if resolved.layer is not None:  # read from fit()'s own forward pass
        return {"layer": resolved.layer_path, "variable": f"{resolved.variable_name} of the batch",
                "trainable": "no variable; the gradient flows through it into the layers below"}
    if resolved.variable is None:
        return {"layer": "(model output)" if resolved.output_index is None else f"output {resolved.output_index}"}
    if resolved.reference.role == SNAPSHOT:
        trainable = "no (a copy taken when attached, saved with the model)"
    else:
        trainable = "yes" if resolved.trainable else "no (read only, no gradient)"
    return {"layer": resolved.layer_path, "variable": resolved.variable_name, "trainable": trainable}


def lowered_ops(formula: Formula) -> list[str]:
    """The TensorFlow ops the formula lowers to: its planned program, which needs no TensorFlow."""
    from ..language.errors import LossError
    from ..lowering.program import plan
    try:
        return plan(formula).ops
    except LossError as error:
        return [f"cannot lower: {d.code} {d.message}" for d in error.diagnostics]


NOT_DERIVED = "not shown: the formula has errors"


def explanation(analysis: Analysis, source: Source, ops: list[str] | None = None) -> str:
    """The whole ``explain`` report: one titled section per aspect of the analysed formula.

    After an error it shows what was parsed and found, and nothing derived from the broken formula:
    no term shapes and no lowered program.
    """
    formula, shapes = analysis.formula, analysis.reference_shapes
    details = None
    if analysis.resolved is not None:
        details = {text: resolved_columns(r) for text, r in analysis.resolved.items()}
    sections = [
        ("parsed", parsed_lines(formula)),
        ("latex", [formula.latex()]),
        ("references", table(reference_rows(formula, shapes, details)) or ["none"]),
        ("parameters", [p.describe() for p in formula.params.values()] or ["none"]),
        *([("state kept between steps (non-trainable weights, saved with the model)", state)]
          if (state := describe_state(formula)) else []),
        ("shapes", shape_lines(analysis)),
        ("diagnostics", render_text(list(analysis.diagnostics), source).splitlines() or ["none"]),
        ("lowered to TensorFlow", [NOT_DERIVED] if analysis.has_errors else ops or ["not shown"]),
    ]
    costs = gradient_costs(formula)
    if costs:  # SPEC 5.7: explain says what a gradient costs
        sections.insert(-1, ("gradients", costs))
    return "\n\n".join(title + "\n" + "\n".join("  " + line for line in lines) for title, lines in sections)


def parsed_lines(formula: Formula) -> list[str]:
    return [f"{name} = {expr}" for name, expr in formula.terms.items()] + [f"loss = {formula.expr}"]


def reference_rows(formula: Formula, shapes: dict | None = None, details: dict | None = None) -> list[dict]:
    """One row per reference: name, path, kind, the shape if known, then any columns ``details[name]`` adds.

    ``details`` maps reference text to extra columns (for example the layer path, variable and
    trainability found by resolving against a model).
    """
    from ..analysis.shapes import describe

    def shape_of(name: str) -> str:
        return describe(None if shapes.get(name) is None else tuple(shapes[name]))

    rows = []
    for text, reference in formula.references.items():
        kind = ("target" if reference.is_target else "pattern" if reference.pattern and reference.role != SNAPSHOT
                else "snapshots (pattern)" if reference.pattern else
                "inputs" if reference.is_inputs else "activation" if reference.is_activation else
                {SNAPSHOT: "snapshot", CONSTANT: "given tensor", STATE: "training state"}.get(reference.role,
                                                                                             "variable"))
        path = describe_path(reference.path) if reference.role != STATE else \
            f"history of {reference.path[1]}" if len(reference.path) == 3 else "training progress"
        row = {"name": text, "path": path, "kind": kind}
        members = (shapes or {}).get(text) if reference.pattern else None
        if shapes is not None and reference.pattern:
            row["shape"] = f"{len(members)} member{'s' * (len(members) != 1)}" if members else describe(None)
        elif shapes is not None:
            row["shape"] = shape_of(text)
        rows.append({**row, **(details or {}).get(text, {})})
        for member in members or ():  # explain lists every member of a pattern (SPEC §5.2)
            rows.append({"name": f"  {member}", "path": "", "kind": f"member of {text}", "shape": shape_of(member),
                         **(details or {}).get(member, {})})
    return rows


def describe_path(path: tuple) -> str:
    """``(0, "kernel")`` -> ``layers[0] / kernel``."""
    return " / ".join(f"layers[{part}]" if isinstance(part, int) else str(part) for part in path)


def shape_lines(analysis: Analysis) -> list[str]:
    """The inferred shape of each named term and of the loss."""
    from ..analysis.shapes import describe
    if analysis.has_errors:
        return [NOT_DERIVED]
    if analysis.shapes is None:
        return ["unknown: pass --shapes or --model"]
    return [f"{name or 'loss'}: {describe(shape)}" for name, shape in analysis.shapes.items()]


def table(rows: list[dict]) -> list[str]:
    """Rows of equal keys as aligned text columns under a header."""
    if not rows:
        return []
    columns = list(dict.fromkeys(key for row in rows for key in row))
    cells = [columns] + [[str(row.get(c, "")) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in cells]


# ----------------------------------------------------------------------------------------- commands
def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The top-level parser (for help and usage errors) and one parser per command."""
    parser = argparse.ArgumentParser(prog="lossdsl", description="Check and explain lossdsl formulas.",
                                     epilog="exit codes: 0 clean, 1 findings, 2 usage or input error")
    parser.add_argument("--version", action="version", version=f"lossdsl {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{lint,explain}")
    lint = commands.add_parser("lint", help="report problems in formulas", description=(
        "Lint formulas given as arguments, files (-f, one formula per file), stdin (-), or the string "
        "literals passed to lossdsl.check/parse/compile/attach in .py files and directories. "
        "Put -- before a formula that starts with '-'."), epilog=parser.epilog)
    lint.add_argument("formulas", nargs="*", metavar="FORMULA|PATH", help="a formula, -, a .py file or a directory")
    lint.add_argument("-f", "--file", action="append", metavar="FILE", help="a file holding one formula (- for stdin)")
    lint.add_argument("--format", choices=("text", "json", "github"), default="text",
                      help="text (default), one JSON list, or GitHub workflow annotations")
    lint.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    lint.set_defaults(run=run_lint)
    explain = commands.add_parser("explain", help="show how a formula is read", description=(
        "Show a formula's parsed form, LaTeX, references, parameters, shapes and diagnostics."), epilog=parser.epilog)
    explain.add_argument("formulas", nargs="*", metavar="FORMULA", help="the formula, or - for stdin")
    explain.add_argument("-f", "--file", metavar="FILE", help="a file holding the formula (- for stdin)")
    explain.set_defaults(run=run_explain)
    for command in (lint, explain):
        command.add_argument("--shapes", metavar="PATH.json", help='shapes of references, {"L1.kernel": [10, 16]}')
        command.add_argument("--model", metavar="PATH.keras", help="a saved Keras model (imports TensorFlow)")
    return parser, {"lint": lint, "explain": explain}


def _version() -> str:
    from .. import __version__
    return __version__


def main(argv: list[str] | None = None) -> int:
    """Run ``lossdsl`` with ``argv`` (default: the process arguments) and return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, commands = build_parser()
    if not argv or argv[0] not in commands:
        parser.parse_args(argv)  # help, version, or a usage error: all exit here
        parser.error("a command is required")
    # Everything after -- is a formula, even "-a*norm(L0.kernel)"; split by hand, as argparse's intermixed
    # parsing (options between formulas: lossdsl lint a.py --strict b.py) does not handle --.
    split = argv.index("--") if "--" in argv else len(argv)
    args = commands[argv[0]].parse_intermixed_args(argv[1:split])
    args.formulas += argv[split + 1:]
    try:
        return args.run(args)
    except InputError as error:
        write(f"lossdsl: error: {error}", sys.stderr)
        return EXIT_INPUT
