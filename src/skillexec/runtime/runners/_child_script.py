"""A forked child running a bundled script (see ``skillexec.scripts``), confined already.

Python scripts run here, in the warm parent's copy, with ``runpy`` semantics: ``__main__``,
``sys.argv = [script, *args]``, the script's folder first on ``sys.path``, the workspace
as cwd; ``SystemExit`` is the exit code, an uncaught exception a traceback on stderr and
exit code 1. Other scripts replace this process with their interpreter (``node``,
``bash``: an argv list, never a shell string). The engine reads the exit status.
"""

from __future__ import annotations

import base64
import builtins
import importlib
import os
import resource
import runpy
import sys
import traceback
import types
from pathlib import Path
from types import CodeType
from typing import Any

# Loaded in the zygote already (runtime.entry imports it): no cost to a forked child.
from skillexec.environments.modules import ending_missing_module
from skillexec.runtime.runners import _protocol as proto

__all__ = ["Staged", "end", "preload", "run", "stage", "unstage"]

# sys.path as the script parent left it (filled by preload): a folder the script added is
# one this is not in.
_PARENT_PATH: set[str] = set()


Compiled = tuple[int, int, CodeType]  # the file's (mtime_ns, size) when compiled, its code
MAX_COMPILED = 200
MAX_COMPILED_BYTES = 2 << 20  # a larger script is compiled by its own call's child


def compile_scripts(paths: list[str]) -> dict[str, Compiled]:
    """In the script parent: each Python script of the skill compiled (never run), so that
    a child skips reading and compiling it (and the page faults that would cost it)."""
    out: dict[str, Compiled] = {}
    for path in map(Path, paths[:MAX_COMPILED]):
        try:
            st = path.stat()
            if st.st_size > MAX_COMPILED_BYTES:
                continue  # a sparse terabyte ended the parent, and every script call with it
            out[os.path.realpath(path)] = (st.st_mtime_ns, st.st_size,
                              compile(path.read_bytes(), str(path), "exec", dont_inherit=True))
        except (OSError, SyntaxError, ValueError, MemoryError, RecursionError):
            continue  # the child compiles it, and reports what is wrong
    return out


def preload(sk: dict[str, Any]) -> dict[str, Compiled]:
    """A script parent (its environment already first on sys.path): what its scripts
    import at top level imported once here, so that each forked child finds it loaded.
    Confined already: this is the skill's (or its packages') code. A module that fails to
    import is left for the script, whose traceback then says so. The scripts themselves
    are compiled here, never run: a child then only checks that its file is unchanged."""
    for name in sk.get("preload") or ():
        try:
            importlib.import_module(name)
        except (Exception, SystemExit):
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # nothing the imports printed may reach a child's own stdout
        except Exception:
            pass
    _line_buffered(sys.stdout)
    root = sk.get("path")
    if root and root not in sys.path:
        # Last, after the standard library and the packages: scripts written to run as
        # ``python -m scripts.x`` from the skill's folder (skill-creator's ``from
        # scripts.utils import ...``) find its modules, and shadow none of theirs.
        sys.path.append(str(root))
    _PARENT_PATH.update(p for p in sys.path if isinstance(p, str))
    return compile_scripts(list(sk.get("compile") or ()))


def _line_buffered(stream: object) -> None:
    """A script's stdout is a pipe, which Python buffers in blocks: what a script printed
    before its timeout's SIGKILL (or a crash) was lost, while its stderr was kept. Each
    line is written as it ends, as in a terminal, whatever the script does with signals.
    Set here once, in the script parent: every child forked from it inherits it."""
    reconfigure = getattr(stream, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(line_buffering=True)
        except (ValueError, OSError):
            pass  # closed or replaced by a preloaded module: the script sees it as it is


class Staged:
    """A Python script's run set up in the script parent just before its child's fork
    (see ``stage``): what the zygote puts back once the child is forked."""

    __slots__ = ("argv", "code", "main", "path0", "saved_main")

    def __init__(self, code: CodeType, main: types.ModuleType, argv: list[str], path0: str,
                 saved_main: types.ModuleType | None) -> None:
        self.code = code
        self.main = main
        self.argv = argv
        self.path0 = path0
        self.saved_main = saved_main


def stage(compiled: dict[str, Compiled], req: dict[str, Any]) -> Staged | None:
    """In the script parent, just before forking the child for ``req``: its ``__main__``,
    ``sys.argv`` and ``sys.path[0]`` made the parent's own, for the child to inherit (a
    child that made them itself would pay copy-on-write faults for each object it writes).
    Only for a compiled Python script called without stdin (whose arguments then come
    as a plain frame: see ``_child_request.args_frame``); None otherwise, and the child
    sets itself up as before. The arguments are the child's alone: ``sys.argv`` is only
    the script's path here. ``unstage`` puts the parent's back."""
    if req.get("kind") != "script" or req.get("interp") != "python" \
            or not req.get("args_frame"):
        return None
    script = str(req["script"])
    code = _unchanged(compiled.get(script), script)
    if code is None:
        return None
    argv = [script]
    main = types.ModuleType("__main__")
    main.__dict__.update(__file__=script, __cached__=None, __loader__=None,
                         __package__=None, __spec__=None, __builtins__=builtins)
    staged = Staged(code, main, sys.argv, os.path.dirname(script), sys.modules.get("__main__"))
    sys.argv = argv
    sys.path.insert(0, staged.path0)
    sys.modules["__main__"] = main
    return staged


def unstage(staged: Staged) -> None:
    """In the script parent, once the child is forked."""
    sys.argv = staged.argv
    if sys.path and sys.path[0] == staged.path0:
        del sys.path[0]
    if staged.saved_main is not None:
        sys.modules["__main__"] = staged.saved_main


def run(req: dict[str, Any], sock: int, compiled: dict[str, Compiled],
        staged: Staged | None = None) -> int:
    """The script's exit code (an interpreter's exec does not return)."""
    # The engine's frame is its "go" too: by then it has moved this process into its
    # cgroups (nothing of the script runs before).
    kind, start = proto.read_frame_fd(sock, cap=int(req["max_input_bytes"]))
    script = str(req["script"])
    if kind == proto.KIND_BYTES:  # the arguments alone (see _child_request.args_frame)
        args = start.decode().split("\0")[:-1]
        if staged is not None:
            if args:
                sys.argv = [script, *args]
        else:
            start = {"args": args, "stdin": None}
    if staged is None:
        args = [str(a) for a in start["args"]]
        if start.get("stdin") is not None:
            _stdin(base64.b64decode(start["stdin"]))
        if req["interp"] != "python":
            argv = [str(req["interp"]), script, *args]
            try:
                os.execve(req["exe"], argv, dict(os.environ))
            except OSError as exc:
                os.write(2, f"{argv[0]}: {exc}\n".encode(errors="replace"))
                return 127
        sys.argv = [script, *args]
        sys.path.insert(0, os.path.dirname(script))
    try:
        if staged is not None:  # its parent set it up (see stage)
            exec(staged.code, staged.main.__dict__)  # noqa: S102 - the skill's, sandboxed
            return 0
        code = _unchanged(compiled.get(script), script)
        if code is None:
            runpy.run_path(script, run_name="__main__")
        else:
            main = types.ModuleType("__main__")
            main.__dict__.update(__file__=script, __cached__=None, __loader__=None,
                                 __package__=None, __spec__=None, __builtins__=builtins)
            sys.modules["__main__"] = main
            exec(code, main.__dict__)  # noqa: S102 - the skill's script, in its sandbox
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException as exc:
        _print_traceback(exc, script)
        _tell_missing_module(exc, sock)
        return 1
    return 0


def _print_traceback(exc: BaseException, script: str) -> None:
    """As ``python script.py`` prints it: from the script's first frame on, none of ours
    (nor runpy's) before it; the whole of it if the script has no frame in it (an error
    of ours, or a SyntaxError, which names its file and line without one)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != script:
        tb = tb.tb_next
    if tb is None and not isinstance(exc, SyntaxError):
        tb = exc.__traceback__
    traceback.print_exception(type(exc), exc, tb)


def end(sock: int, code: int) -> None:
    """The script's end, told on the socket as this process's last act (its streams
    flushed): the engine answers from it rather than wait for the exit, which tears down
    an address space as large as the warm parent's (milliseconds) before the zygote can
    reap it and report. With it, the process's resource usage as wait4 would report it,
    but for that teardown (the engine checks the CPU time against the kernel's)."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    try:
        proto.write_all(sock, proto.encode_frame({
            "t": "end", "code": code & 0xFF, "cpu_s": ru.ru_utime + ru.ru_stime,
            "maxrss_kb": ru.ru_maxrss, "inblock": ru.ru_inblock, "oublock": ru.ru_oublock,
            "minflt": ru.ru_minflt}))
    except OSError:
        pass  # the engine is gone, or reads the exit status instead


def _tell_missing_module(exc: BaseException, sock: int) -> None:
    """An import nothing provides ended the script: the engine hears which module (from
    the exception, never the traceback's text) and names the package to declare."""
    module = ending_missing_module(exc)
    if module is not None:
        try:
            proto.write_all(sock, proto.encode_frame({
                "t": "missing_module", "module": module[:200], "blocked": _unreadable()}))
        except OSError:
            pass  # the engine reports the exit status and traceback instead


def _unreadable() -> list[str]:
    """The folders the script put on ``sys.path`` that this process cannot open: where one
    is outside its skill (thoughtspot's ``../../shared/erd``), the sandbox's refusal (or its
    view, which hides the folder) is why its import failed, and no package is the cure. The
    engine, which sees the real folders, tells those from mistyped ones."""
    found = []
    for entry in sys.path[:64]:
        if not isinstance(entry, str) or not entry or entry in _PARENT_PATH:
            continue  # the parent's own entries: none the script put there
        try:
            os.scandir(entry).close()
        except (PermissionError, FileNotFoundError):
            found.append(entry[:300])
            if len(found) == 3:
                break
        except OSError:
            continue
    return found


def _unchanged(hit: Compiled | None, script: str) -> CodeType | None:
    if hit is None:
        return None
    try:
        st = os.stat(script)
    except OSError:
        return None
    return hit[2] if (st.st_mtime_ns, st.st_size) == hit[:2] else None


def _stdin(data: bytes) -> None:
    """The call's stdin as fd 0: an anonymous file (a pipe would block past 64 KiB)."""
    fd = os.memfd_create("stdin", os.MFD_CLOEXEC)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)
    sys.stdin = open(0, encoding="utf-8", errors="surrogateescape", closefd=False)  # noqa: SIM115


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)  # sys.exit("message"): printed, status 1 (as Python does)
    return 1
