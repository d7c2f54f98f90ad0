"""The README's command-line synopsis is the command line: each command's ``--help``
(its usage line and its options) against the README's line for it, both ways."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from functools import cache

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # fifty commands' help, read from a CLI process

# Options every command that uses them shares; the README says so once, below its synopsis.
_SHARED = {"--help", "--skills-dir", "--data-dir", "--journal-url"}
_OPTION = re.compile(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])(?![\w-])")


# One CLI process answers every command's --help: skillexec's main(), as `python -m
# skillexec` runs it, with that command's argv; fifty processes would each pay the import.
_SERVE_HELP = """
import contextlib, io, json, sys
from skillexec.cli import main
for line in sys.stdin:
    sys.argv = ["python -m skillexec", *json.loads(line), "--help"]
    out, code = io.StringIO(), 0
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exc:
            code = exc.code
    print(json.dumps([code, out.getvalue()]), flush=True)
"""
_server: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True, scope="module")
def _help_server() -> Iterator[None]:
    yield
    for proc in _server:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)
    _server.clear()


@cache
def help_text(*path: str) -> str:
    if not _server:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "250",
               "TERMINAL_WIDTH": "250", "NO_COLOR": "1"}
        _server.append(subprocess.Popen([sys.executable, "-c", _SERVE_HELP], env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True))
    proc = _server[0]
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(json.dumps(path) + "\n")
    proc.stdin.flush()
    code, out = json.loads(proc.stdout.readline())
    assert code in (0, None), (path, code)
    return str(out)


def _panel(text: str, title: str) -> list[str]:
    """The rows of one of Rich's help panels (``Options``, ``Commands``, ``Arguments``)."""
    rows, inside = [], False
    for line in text.splitlines():
        if line.startswith("╭─ ") and title in line:
            inside = True
        elif line.startswith("╰"):
            inside = False
        elif inside:
            rows.append(line.strip("│ "))
    return rows


def commands(*path: str) -> list[tuple[str, ...]]:
    """Every command below ``path``, as the words that name it."""
    rows = _panel(help_text(*path), "Commands")
    if not rows:
        return [path]
    names = [row.split()[0] for row in rows if row and not row.startswith(" ")]
    return [c for name in names for c in commands(*path, name)]


def usage(path: tuple[str, ...]) -> list[str]:
    """The arguments of the usage line (``Usage: skillexec tasks show [OPTIONS] {ID}``),
    required ones in braces, optional ones in brackets (``[ARG]...``: a repeated one)."""
    line = next(ln for ln in help_text(*path).splitlines() if "Usage:" in ln)
    words = line.split("[OPTIONS]", 1)[1].split() if "[OPTIONS]" in line else []
    return [w.removesuffix("...") for w in words]


def options(path: tuple[str, ...]) -> set[str]:
    """The option names of a command's help: the leading tokens of each Options row."""
    found: set[str] = set()
    for row in _panel(help_text(*path), "Options"):
        for token in row.split():
            if token == "*":  # a required option's mark
                continue
            if not _OPTION.fullmatch(token):
                break
            found.add(token)
    return found - _SHARED


def readme_synopsis() -> dict[tuple[str, ...], str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    block = section.split("```", 2)[1]
    lines: dict[tuple[str, ...], str] = {}
    for line in block.strip().splitlines():
        words = line.split()
        assert words[0] == "skillexec", line
        i = 1
        path: tuple[str, ...] = ()
        while i < len(words) and re.fullmatch(r"[a-z][a-z-]*", words[i]):
            path += (words[i],)
            i += 1
        lines[path] = " ".join(words[i:])
    return lines


def test_every_command_is_in_the_readme_and_every_readme_line_is_a_command() -> None:
    synopsis = readme_synopsis()
    cli_commands = set(commands()) | {()}  # () : `skillexec --version` and completion
    assert set(synopsis) == cli_commands


def test_each_readme_line_matches_the_commands_help() -> None:
    for path, rest in readme_synopsis().items():
        said = set(_OPTION.findall(rest))
        if path == ():
            assert said == {"--version", "--install-completion", "--show-completion"}
            assert said <= set(_OPTION.findall(help_text()))
            continue
        assert said == options(path), (path, said ^ options(path))
        # the required arguments, as the usage line spells them, in order; then the
        # optional ones
        required = [w.upper() for w in re.sub(r"\[[^\]]*\]", " ", rest).split()
                    if not w.startswith("-") and w not in ("|", "...")]
        optional = [w.strip("[]").upper() for w in re.findall(r"\[[A-Za-z_]+\]", rest)]
        args = usage(path)
        assert required == [w.strip("{}").upper() for w in args if w.startswith("{")], path
        # A repeated argument reads "[PKG]..." in both.
        assert optional == [w.removesuffix("...").strip("[]").upper() for w in args
                            if w.startswith("[")], path
