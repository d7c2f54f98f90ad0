"""Installing a requirement set into a folder, with ``uv`` (or pip where uv is absent).

The packages go into ``<env>/site-packages`` (``--target``) for the engine's own
interpreter: the skill's code runs on the engine's Python, with that folder first on its
``sys.path``. The installer runs as a child process with an argv (never a shell) and a
time limit, in a process group of its own that dies with the thread that started it (a
killed engine left an installer hanging on its index, with no limit, for good); a failure
is reported by its last error line, naming the package it concerns, or, when the index,
the network or the disk failed rather than the packages, the index's host
(``details.transient``: worth trying again later, see ``install_errors``).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from skillexec.environments.install_errors import index_host, transient_failure
from skillexec.errors import DependencyError

__all__ = ["InstallSettings", "Installers", "install", "installer_name"]

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_MAX_ERROR_CHARS = 400
# uv's and pip's words for "no wheel fits", where an sdist may be all there is.
_NO_WHEEL = re.compile(r"no usable wheels|No matching distribution found")
_MARKS = "\u00d7\u2570\u2500\u25b6\u2502 "  # uv's error tree: the cross, its branches


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallSettings:
    installer: str = "auto"  # auto | uv | pip
    index_url: str | None = None
    find_links: tuple[str, ...] = ()
    no_index: bool = False  # only find_links (and, for uv, its cache) are used
    offline: bool = False  # uv: its cache only, no network at all
    # Building an sdist runs its build backend's code as the engine's user (root, with the
    # engine's environment and data directory) outside any sandbox: a skill's author picks
    # the package, so only wheels unless the operator says otherwise.
    build_from_source: bool = False
    timeout_s: float = 600.0


def installer_name(settings: InstallSettings) -> str:
    """``uv`` or ``pip``: what :func:`install` will run."""
    if settings.installer == "pip":
        return "pip"
    if _uv_bin() is not None:
        return "uv"
    if settings.installer == "uv":
        raise DependencyError("the installer 'uv' is not available here (pip install uv, or "
                              "set environments.installer to 'pip')", code="installer_missing")
    return "pip"


# Run before the installer (exec'd in place): it dies with the thread that started it,
# and not at all if that thread is already gone (PR_SET_PDEATHSIG is 1, SIGKILL 9).
_LAUNCH = ("import ctypes, os, sys\n"
           "try:\n    ctypes.CDLL(None).prctl(1, 9, 0, 0, 0)\n"
           "except (AttributeError, OSError):\n    pass\n"
           "if os.getppid() != int(sys.argv[1]):\n    os._exit(70)\n"
           "os.execv(sys.argv[2], sys.argv[2:])\n")


class Installers:
    """The installers running now, each the leader of its process group: ``kill_all``
    ends them (an engine that closes does not wait minutes for one) and starts no more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._groups: set[int] = set()
        self.closed = False

    def start(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with self._lock:
            if self.closed:
                raise DependencyError("the install was not started: the engine is closing",
                                      code="install_failed", retryable=True,
                                      details={"transient": True})
            launcher = [sys.executable, "-I", "-S", "-c", _LAUNCH, str(os.getpid())]
            proc = subprocess.Popen([*launcher, *argv], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                    cwd="/", start_new_session=True)
            self._groups.add(proc.pid)
        return proc

    def ended(self, proc: subprocess.Popen[bytes]) -> None:
        with self._lock:
            self._groups.discard(proc.pid)

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL to its whole group (pip's build steps, uv's workers), and reaped."""
        with self._lock:
            if proc.pid in self._groups:
                _killpg(proc.pid)
        proc.kill()
        proc.wait()

    def kill_all(self) -> None:
        with self._lock:
            self.closed = True
            for group in self._groups:
                _killpg(group)


def _killpg(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # gone already


def install(requirements: tuple[str, ...], site: Path, *, settings: InstallSettings,
            skill_id: str | None = None, hashes: tuple[str, ...] = (),
            installers: Installers | None = None) -> str:
    """Install ``requirements`` into ``site``; return the installer used. DependencyError
    (``install_failed``) names the package and the installer's last error line, or the
    index's host for a failure of the index, the network or the disk (retryable); with
    ``skill_id``, after the skill. ``hashes`` (``name --hash=... ...``): checked by uv
    (from a requirements file beside ``site``), ignored by pip, which checks none unless
    every package, dependencies included, has one."""
    name = installer_name(settings)
    argv = _argv(name, requirements, site, settings)
    if hashes and name == "uv":
        listed = site.parent / "requirements.txt"
        listed.write_text(_with_hashes(requirements, hashes), encoding="utf-8")
        argv[argv.index("--"):] = ["-r", str(listed)]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # resolve for the interpreter as it is, not as tweaked here
    env.setdefault("UV_NO_PROGRESS", "1")
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    if "UV_CACHE_DIR" not in env and "PIP_CACHE_DIR" not in env and not _usable_cache(env):
        # A user with no writable HOME (nobody's is /nonexistent): every install failed in
        # the cache ("failed to create directory `/nonexistent/.cache/uv`"). One beside
        # the environments then, which the engine's user owns.
        cache = site.parent.parent / ".cache"
        env["UV_CACHE_DIR"], env["PIP_CACHE_DIR"] = str(cache / "uv"), str(cache / "pip")
    running = installers or Installers()
    try:
        # From "/" (Installers.start): uv takes a uv.toml or pyproject.toml [tool.uv] found
        # from its working folder up as its configuration, and a skills repository run
        # from its top could point it at a wheel it ships, for an environment other skills
        # share. The operator's own (user and system) configuration is still read.
        proc = running.start(argv, env)
    except OSError as exc:
        raise _failed(skill_id, requirements, name,
                      f"{name} could not be started: {exc.strerror or exc}") from None
    try:
        stdout, stderr = proc.communicate(timeout=settings.timeout_s)
    except subprocess.TimeoutExpired:
        running.kill(proc)
        raise _transient(skill_id, name, f"the install took longer than "
                         f"{settings.timeout_s:g} s", settings, "") from None
    except BaseException:  # interrupted (^C in skills install): its installer goes too
        running.kill(proc)
        raise
    finally:
        running.ended(proc)
    if proc.returncode != 0:
        out = stderr.decode("utf-8", "replace") + stdout.decode("utf-8", "replace")
        why = _last_error_line(out) or f"{name} exited with status {proc.returncode}"
        if proc.returncode < 0 or running.closed:
            raise _transient(skill_id, name, "the install was stopped (the engine is "
                             "closing, or the installer was killed)", settings, out)
        if transient_failure(out):
            raise _transient(skill_id, name, why, settings, out)
        if not settings.build_from_source and _NO_WHEEL.search(out):
            why += (" (only wheels are installed: building from source runs the package's "
                    "own code, see environments.build_from_source)")
        raise _failed(skill_id, requirements, name, why, output=out)
    return name


def _usable_cache(env: dict[str, str]) -> bool:
    """Whether the installers' default cache folder (``$XDG_CACHE_HOME`` or ``~/.cache``)
    is there to write, or can be made: its nearest existing folder is one we may write."""
    base = env.get("XDG_CACHE_HOME") or (env["HOME"] + "/.cache" if env.get("HOME") else "")
    if not base or not os.path.isabs(base):
        return False
    path = base
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _argv(name: str, requirements: tuple[str, ...], site: Path,
          s: InstallSettings) -> list[str]:
    flags: list[str] = []
    if s.index_url:
        flags += ["--index-url", s.index_url]
    for link in s.find_links:  # a folder as the operator named it, from their folder
        flags += ["--find-links", link if "://" in link else os.path.abspath(link)]
    if s.no_index:
        flags.append("--no-index")
    if not s.build_from_source:
        flags += ["--only-binary", ":all:"]
    if name == "uv":
        uv = _uv_bin()
        assert uv is not None  # installer_name checked it
        if s.offline:
            flags.append("--offline")
        return [uv, "pip", "install", "--target", str(site), "--python", sys.executable,
                "--quiet", "--no-progress", *flags, "--", *requirements]
    return [sys.executable, "-m", "pip", "install", "--target", str(site), "--no-input",
            "--quiet", "--no-warn-script-location", "--disable-pip-version-check", *flags,
            *requirements]


def _uv_bin() -> str | None:
    try:
        from uv import find_uv_bin
    except ImportError:
        return shutil.which("uv")
    try:
        return str(find_uv_bin())
    except (FileNotFoundError, OSError):
        return shutil.which("uv")


def _last_error_line(output: str) -> str:
    lines: list[str] = []
    indents: list[int] = []
    for raw in output.splitlines():
        line = _ANSI.sub("", raw).rstrip()
        text = line.strip()
        if not text or set(text) <= set(_MARKS):
            continue
        indent = len(line) - len(line.lstrip())
        # uv wraps a message at the terminal's width: a line indented past the one before
        # it, and not a message of its own, goes on with it (the reason was cut mid-way).
        if lines and indent > indents[-1] and not _starts_message(text):
            lines[-1] += " " + text
        else:
            lines.append(text)
            indents.append(indent)
    errors = [line for line in lines if line[0] in _MARKS
              or line.lower().startswith(("error", "cause:", "caused by:"))]
    chosen = (errors or lines or [""])[-1].lstrip(_MARKS)
    for prefix in ("ERROR: ", "error: ", "cause: ", "Caused by: "):
        chosen = chosen.removeprefix(prefix)
    return chosen[:_MAX_ERROR_CHARS]


def _starts_message(text: str) -> bool:
    return text[0] in _MARKS or text.lower().startswith(
        ("error", "warning", "cause:", "caused by:", "hint:", "help:", "note:"))


def _with_hashes(requirements: tuple[str, ...], hashes: tuple[str, ...]) -> str:
    """A requirements file: each requirement with the ``--hash`` options of its name."""
    by_name = {canonicalize_name(h.split()[0]): h.split(maxsplit=1)[1] for h in hashes}
    return "".join(f"{r} {by_name.get(canonicalize_name(Requirement(r).name), '')}".rstrip()
                   + "\n" for r in requirements)


def _whose(skill_id: str | None) -> str:
    return f"skill {skill_id!r}: " if skill_id else ""


def _failed(skill_id: str | None, requirements: tuple[str, ...], installer: str, why: str,
            *, output: str = "") -> DependencyError:
    names = [Requirement(r).name for r in requirements]
    said = {canonicalize_name(w) for w in re.findall(r"[A-Za-z0-9][A-Za-z0-9._-]*", output)}
    blamed = [n for n in names if canonicalize_name(n) in said] or names
    which = ", ".join(repr(n) for n in blamed)
    return DependencyError(
        f"{_whose(skill_id)}installing the package{'s' if len(blamed) > 1 else ''} "
        f"{which} failed ({installer}): {why}",
        code="install_failed",
        details={"skill_id": skill_id, "packages": blamed, "installer": installer,
                 "reason": why, "transient": False})


def _transient(skill_id: str | None, installer: str, why: str, settings: InstallSettings,
               output: str) -> DependencyError:
    """A failure of the index, the network or the disk, not of the packages: it names the
    index's host (never its credentials), and is worth trying again later."""
    if re.search(r"No space left on device|os error 28|Errno 28", output + why):
        where = "the disk is full"
    else:
        where = f"the package index at {index_host(output, settings.index_url)} failed"
    return DependencyError(
        f"{_whose(skill_id)}{where} ({installer}): {why}", code="install_failed",
        retryable=True, details={"skill_id": skill_id, "installer": installer,
                                 "reason": why, "transient": True})
