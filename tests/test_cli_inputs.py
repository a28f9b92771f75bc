"""Hostile command-line inputs: each is exit 2 with one line saying what was wrong, never a traceback or a
hang; a directory walk skips what is no regular .py file with a note and lints the rest."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lossdsl.cli import inputs, main

BAD = "import lossdsl\nlossdsl.check('norm(L1.kernel')\n"  # E101 on line 2
GOOD = "import lossdsl\nlossdsl.check('norm(L1.kernel)')\n"


def run_cli(capsys, *argv):
    """(exit code, stdout, stderr) of ``lossdsl argv`` run in this process."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv, stdin=None, timeout=120, **environment):
    """``python -m lossdsl argv`` in a subprocess (argv may hold bytes): a hang fails by the timeout."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), **environment}
    return subprocess.run([sys.executable, "-m", "lossdsl", *argv], input=stdin, capture_output=True,
                          timeout=timeout, env=env)


def written(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# argument builder (tmp_path -> argv), the one line lossdsl prints on stderr
HOSTILE_FILES = [
    ("shapes JSON nested 2,000 deep",
     lambda t: ["lint", "--shapes", written(t, "s.json", "[" * 2000 + "]" * 2000), "norm(a)"],
     "s.json: JSON nested too deeply (a shapes table has two levels)"),
    ("a dimension of 5,000 digits",
     lambda t: ["lint", "--shapes", written(t, "s.json", '{"L1.kernel": [' + "9" * 5000 + "]}"), "norm(a)"],
     "s.json: a number with 5,000 digits is no dimension"),
    ("a Python sum of 3,000 terms", lambda t: ["lint", written(t, "sum.py", "x = " + "+".join(["1"] * 3000))],
     "sum.py: nested too deeply for Python's parser"),
    ("200,000 unary minus signs", lambda t: ["lint", written(t, "minus.py", "x = " + "-" * 200_000 + "1")],
     "minus.py: nested too deeply for Python's parser"),
    ("-f /dev/zero", lambda t: ["lint", "-f", "/dev/zero"],
     "cannot read /dev/zero: a character device, not a regular file"),
    ("--shapes /dev/zero", lambda t: ["lint", "--shapes", "/dev/zero", "a"],
     "cannot read /dev/zero: a character device, not a regular file"),
    ("-f a directory", lambda t: ["lint", "-f", str(t)], ": a directory, not a regular file"),
    ("explain -f a directory", lambda t: ["explain", "-f", str(t)], ": a directory, not a regular file"),
]


@pytest.mark.parametrize("name", [name for name, *_ in HOSTILE_FILES])
@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_hostile_input_file_is_exit_2_with_one_line(capsys, tmp_path, name):
    argv, message = next((argv, message) for n, argv, message in HOSTILE_FILES if n == name)
    code, out, err = run_cli(capsys, *argv(tmp_path))
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and err.startswith("lossdsl: error: ") and err.rstrip().endswith(message)


def test_what_is_read_is_capped(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "MAX_INPUT_BYTES", 100)
    assert run_cli(capsys, "lint", "-f", written(tmp_path, "f.txt", "a" * 100))[0] == 0
    code, _, err = run_cli(capsys, "lint", "-f", written(tmp_path, "g.txt", "a" * 101))
    assert (code, err.rstrip()) == (2, f"lossdsl: error: cannot read {tmp_path / 'g.txt'}: more than 100 bytes")


def test_stdin_is_capped_too():
    result = run_process("lint", "-", stdin=b"a" * (inputs.MAX_INPUT_BYTES + 1))
    assert (result.returncode, result.stderr.decode()) == (2, f"lossdsl: error: cannot read -: more than "
                                                              f"{inputs.MAX_INPUT_BYTES:,} bytes\n")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file names are bytes")
def test_undecodable_file_names_and_arguments_print_under_a_strict_utf8_stdout(tmp_path):
    folder = tmp_path / "code"
    folder.mkdir()
    (Path(os.fsdecode(bytes(folder) + b"/bad\xff.py"))).write_text(BAD)
    result = run_process("lint", bytes(folder), PYTHONIOENCODING="utf-8:strict")
    assert (result.returncode, result.stderr) == (1, b"")
    assert f"{folder}/bad\\xff.py:2:20: E101".encode() in result.stdout
    result = run_process("lint", "--format", "json", bytes(folder), PYTHONIOENCODING="utf-8:strict")
    assert (result.returncode, result.stderr) == (1, b"") and b'bad\\\\xff.py' in result.stdout
    result = run_process("lint", b"norm(a\xff)", PYTHONIOENCODING="utf-8:strict")
    assert result.returncode == 1 and b"E108" in result.stdout and result.stderr == b""


# ------------------------------------------------------------------------------ FIFOs, odd entries
@pytest.fixture
def odd_folder(tmp_path):
    """A folder with one bad module and, named .py, a FIFO, a symlink to it, a dangling symlink, and a
    directory ``pkg.py`` holding a second bad module."""
    folder = tmp_path / "project"
    (folder / "pkg.py").mkdir(parents=True)
    (folder / "pkg.py" / "inner.py").write_text(BAD)
    (folder / "main.py").write_text(BAD)
    os.mkfifo(folder / "pipe.py")
    (folder / "link.py").symlink_to(folder / "pipe.py")
    (folder / "gone.py").symlink_to(folder / "nowhere.py")
    return folder


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_directory_walk_lints_regular_files_and_notes_the_rest(odd_folder):
    result = run_process("lint", str(odd_folder), timeout=60)
    assert result.returncode == 1
    assert [line.split(":")[0] for line in result.stdout.decode().splitlines() if ": E101" in line] == [
        f"{odd_folder}/main.py", f"{odd_folder}/pkg.py/inner.py"]
    assert result.stderr.decode().splitlines() == [
        f"lossdsl: note: skipped {odd_folder}/gone.py: a symbolic link to nothing",
        f"lossdsl: note: skipped {odd_folder}/link.py: a FIFO, not a regular file",
        f"lossdsl: note: skipped {odd_folder}/pipe.py: a FIFO, not a regular file"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("argv", [["lint", "-f", "{}/pipe.py"], ["lint", "--shapes", "{}/pipe.py", "a"],
                                  ["lint", "{}/pipe.py"], ["lint", "{}/link.py"],
                                  ["explain", "--shapes", "{}/link.py", "a"],
                                  ["lint", "--model", "{}/pipe.py", "a"]])
def test_an_explicit_fifo_is_refused(odd_folder, argv):
    result = run_process(*[a.format(odd_folder) for a in argv], timeout=60)
    assert (result.returncode, result.stdout) == (2, b"")
    assert result.stderr.decode().endswith((": a FIFO, not a regular file\n", ": not a regular file\n"))


def test_a_clean_walk_has_no_notes(tmp_path, capsys):
    written(tmp_path, "a.py", GOOD)
    assert run_cli(capsys, "lint", str(tmp_path)) == (0, "1 formula in 1 file: clean\n", "")
