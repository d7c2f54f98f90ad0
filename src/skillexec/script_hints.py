"""What the engine can tell of a failed script's cause, beyond its own words.

A script that exits nonzero ends ``script_exit`` with its streams; where the engine knows
something the script's words do not say (this is the sandbox, by design; the limit it met;
a file it was given by a path of the skill's folder), a hint says so, in the failure's
``details`` under its key and after its message. Each is said only where the script's
output shows it (a requires-python note on a script that failed for a missing input file
sent users after the wrong cause).
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from pathlib import Path

from skillexec.script_stderr import (
    address_space_hint,
    network_hint,
    open_files_hint,
    sandbox_hint,
    self_install_hint,
    shows_offline,
)
from skillexec.skills.folder_files import FolderFileTooLarge, read_folder_file

__all__ = ["script_hints", "timeout_hint"]

# What a Python too old for the script shows (its syntax, a module or name it lacks).
_OLD_PYTHON = re.compile(r"SyntaxError|ImportError|ModuleNotFoundError|AttributeError|NameError"
                         r"|unsupported operand type\(s\) for \||is not subscriptable")
# A script's own words about the Python it runs on ("needs Python 3.14", "requires Python",
# "sys.version_info"): its version check failed, not its code.
_ASKS_PYTHON = re.compile(r"\bpython\b[^\n]{0,40}?\b3\.\d+|\b(?:requires?|needs?)\b[^\n]{0,30}"
                          r"\bpython\b|version_info", re.IGNORECASE)
# What tools look for in the folders above their working folder.
_CONFIGS = frozenset({"pyproject.toml", "setup.cfg", "tox.ini", "ruff.toml", ".ruff.toml",
                      "pytest.ini", "mypy.ini", ".mypy.ini", ".flake8", ".pylintrc",
                      "package.json", "tsconfig.json", ".editorconfig", ".git", ".gitignore",
                      "Cargo.toml", "go.mod", ".python-version", "uv.toml", ".npmrc"})
_CONFIG_PREFIXES = (".eslintrc", ".prettierrc", "eslint.config", "prettier.config",
                    ".babelrc", "biome.json")
# Linear on any input: the lines that say a refusal, then the absolute paths in them (one
# pattern with both around a path backtracked cubically on a line of slashes, on the loop).
_REFUSAL = re.compile(r"Permission denied|EACCES")
_PATH = re.compile(r"/[^\s'\":]{1,1024}")
# What a script that goes to the network names (a URL, a client library or program),
# in its code: not in a comment line, nor an XML namespace or schema's name (an SVG or
# DOCX writer's xmlns="http://www.w3.org/2000/svg" goes nowhere).
_NETWORK_CODE = re.compile(rb"https?://|\b(?:requests|httpx|aiohttp|urllib3?|curl|wget|axios"
                           rb"|fetch|websockets?|socket)\b")
_COMMENT_LINE = re.compile(rb"^[ \t]*(?:#|//|/?\*|<!--)")
_NAMESPACE = re.compile(rb"xmlns(?::[\w.-]+)?\s*=\s*[\\]?[\"']https?://[^\"'\\\s]*|https?://(?:"
                        rb"www\.w3\.org|schemas\.openxmlformats\.org|schemas\.microsoft\.com"
                        rb"|purl\.org|ns\.adobe\.com|schemas\.xmlsoap\.org|json-schema\.org"
                        rb"|www\.opengis\.net|xmlns\.com)/[^\"'\s]*")
_USAGE = re.compile(r"^usage: .*(?:\n.*)*?\n[^\n]*: error: ", re.M)
# The last line of a Python traceback, and the errors of one that went online.
_RAISED = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt)\b)", re.M)
_NETWORK_ERRORS = re.compile(r"Connection|URL|HTTP|Socket|gaierror|herror|Timeout|SSL|"
                             r"MaxRetry|Proxy|Transport|Network|Request|OSError|IOError")
# What a failure that met the network says in its own words (Python's, node's, curl's,
# a tool's), beyond the refusals sandbox_hint knows.
_NETWORK_WORDS = re.compile(r"\b(?:connect\w*|disconnected|resolv\w*|host(?:name)?s?|network"
                            r"|offline|online|timed? ?out|timeout|unreachable|refused|socket"
                            r"|dns|ssl|tls|certificate|proxy|download\w*|fetch\w*|upload\w*"
                            r"|HTTP ?Error|URL ?Error|ECONN\w+|ETIMEDOUT|EAI_\w+)\b",
                            re.IGNORECASE)
_MAX_SCANNED_BYTES = 256 * 1024


def script_hints(*, stderr: str, stdout: str, requires_python: str | None, sandbox: bool,
                 network: bool, address_space_mb: int | None, folder: Path | None,
                 workdir: Path, args: Sequence[object],
                 open_files: int | None = None, skill_id: str = "ID",
                 system_info: bool = False, script: Path | None = None) -> dict[str, str]:
    """The hints for a failed script, by key (``requires_python``, ``sandbox``,
    ``memory``, ``install``, ``open_files``, ``bundled``), in the order they are said."""
    out: dict[str, str] = {}
    # A script that says nothing (a bare exit 1) or speaks of its Python gets it too.
    if requires_python and (_OLD_PYTHON.search(stderr) or not stderr.strip()
                            or _ASKS_PYTHON.search(stderr + "\n" + stdout[-4000:])):
        out["requires_python"] = requires_python
    said = stderr + "\n" + stdout[-4000:]  # many scripts print their errors on stdout
    hint = sandbox_hint(said, network=network, skill_id=skill_id,
                        system_info=system_info) if sandbox else None
    if hint:
        above = _above(stderr, workdir)
        out["sandbox"] = hint if above is None else (
            f"{hint}; {above} is in a folder above the workspace: tools that look for their "
            "configuration in parent folders (ruff, pytest, git) find the project's there, "
            "and may not read it: set work_dir (SKILLEXEC_WORK_DIR) outside the project")
    elif address_space_mb and (hint := address_space_hint(stderr, limit_mb=address_space_mb)):
        out["memory"] = hint
    elif sandbox and not network and script is not None and _maybe_offline(stderr, stdout) \
            and _goes_online(script):
        # Its words show no refusal (curl -s exits 6, silent), but its code goes online.
        out["sandbox"] = network_hint(skill_id, maybe=True)
    if pip := self_install_hint(stderr, skill_id=skill_id):
        out["install"] = pip
    if open_files and (hint := open_files_hint(said, limit=open_files)):
        out["open_files"] = hint
    if folder is not None and (named := _bundled(args, folder, workdir)):
        out["bundled"] = (f"{named!r} is a file of the skill's folder, and the script runs "
                          "in a workspace of its own: send it with the call's files, or pass "
                          f"its path, {folder / named}")
    return out


def timeout_hint(*, stdout: str, stderr: str, workdir: Path, skill_id: str) -> str | None:
    """For a sandboxed script without ``network_access`` that timed out: the network hint,
    where its output or the logs its tools keep in its HOME (npm's ``.npm/_logs``: "GET
    https://registry.npmjs.org/npm attempt 1 failed with EAI_AGAIN", while npx said
    nothing) show a lookup or connection refused. A client that retries those until the
    call's time runs out tells nothing else."""
    if shows_offline(stderr[-16384:]) or shows_offline(stdout[-16384:]) \
            or any(shows_offline(log) for log in _tool_logs(workdir)):
        return network_hint(skill_id)
    return None


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LOG_DIRS = ((".npm", "_logs"),)
_LOG_TAIL = 64 * 1024


def _tool_logs(workdir: Path) -> list[str]:
    """The tails of the newest few logs in the workspace's tool log folders. The workspace
    is the script's: never through a link, nothing but regular files, never blocking."""
    out: list[str] = []
    for parts in _LOG_DIRS:
        fd = -1
        try:
            fd = os.open(workdir, _DIR_FLAGS)
            for part in parts:
                nfd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = nfd
            names = sorted(n for n in os.listdir(fd) if n.endswith(".log"))[-3:]
            out += [t for n in names if (t := _tail(fd, n)) is not None]
        except OSError:
            continue
        finally:
            if fd >= 0:
                os.close(fd)
    return out


def _tail(dir_fd: int, name: str) -> str | None:
    try:
        f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                    dir_fd=dir_fd)
    except OSError:
        return None
    try:
        st = os.fstat(f)
        if not stat.S_ISREG(st.st_mode):
            return None
        os.lseek(f, max(0, st.st_size - _LOG_TAIL), os.SEEK_SET)
        return os.read(f, _LOG_TAIL).decode(errors="replace")
    except OSError:
        return None
    finally:
        os.close(f)


def _goes_online(script: Path) -> bool:
    try:
        code = read_folder_file(script, max_bytes=_MAX_SCANNED_BYTES)
    except FolderFileTooLarge:
        return False
    if code is None:
        return False
    return any(_NETWORK_CODE.search(_NAMESPACE.sub(b"", line)) is not None
               for line in code.splitlines() if not _COMMENT_LINE.match(line))


def _maybe_offline(stderr: str, stdout: str) -> bool:
    """Whether a failure whose words show no refusal could still be the network's: the
    script said nothing (``curl -s`` exits 6 in silence), or its last words speak of a
    connection, a host, a timeout, a download. A script that said why it failed in other
    words (a hook's ``BLOCKED: ...``, exit 2 by design, whose code names curl among the
    commands it screens) failed for that."""
    if _other_cause(stderr):
        return False
    said = (stderr[-4000:] + "\n" + stdout[-4000:]).strip()
    return not said or _NETWORK_WORDS.search(said) is not None


def _other_cause(stderr: str) -> bool:
    """Whether the script's own words name a cause the network is not: a Python traceback
    ending in an exception that is no network error (a ValueError of its own), or a usage
    error (argparse's, exit 2: its arguments, not its network)."""
    tail = stderr[-4000:]
    if _USAGE.search(tail):
        return True
    if "Traceback (most recent call last)" not in tail:
        return False
    raised = _RAISED.findall(tail)
    return bool(raised) and _NETWORK_ERRORS.search(raised[-1]) is None


def _above(stderr: str, workdir: Path) -> str | None:
    """A refused configuration file in a folder above the workspace (a project's
    pyproject.toml), as tools that walk up from their working folder look for."""
    work = str(workdir)
    lines = [ln for ln in stderr[-4000:].splitlines() if _REFUSAL.search(ln)]
    found: list[str] = [p for ln in lines[-20:] for p in _PATH.findall(ln)]
    for path in (p.rstrip(".,;)") for p in found):
        parent, name = os.path.split(path)
        if parent and work.startswith(parent.rstrip("/") + "/") and (
                name in _CONFIGS or name.startswith(_CONFIG_PREFIXES)):
            return path
    return None


def _bundled(args: Sequence[object], folder: Path, workdir: Path) -> str | None:
    """The first argument that names a file of the skill's folder and none of the
    workspace (``examples/03_limits_to_growth.json``, as SKILL.md wrote it)."""
    top = os.path.realpath(folder)
    for arg in args[:64]:
        if not isinstance(arg, str) or not arg or arg.startswith(("-", "/")) or ".." in arg \
                or "\0" in arg or len(arg) > 512:
            continue
        try:
            # Only a file inside the folder, links resolved: a link of the skill's out of
            # it would make the hint say whether any path of the machine exists.
            real = os.path.realpath(folder / arg)
            if real.startswith(top + os.sep) and os.path.isfile(real) \
                    and not (workdir / arg).exists():
                return arg
        except (OSError, ValueError):
            continue
    return None
