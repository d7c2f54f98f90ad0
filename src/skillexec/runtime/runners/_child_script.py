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
import os
import runpy
import sys
import traceback
import types
from pathlib import Path
from types import CodeType
from typing import Any

from skillexec.runtime.runners import _protocol as proto

__all__ = ["run"]


Compiled = tuple[int, int, CodeType]  # the file's (mtime_ns, size) when compiled, its code
_MAX_COMPILED = 200


def compile_scripts(folder: str | None) -> dict[str, Compiled]:
    """In the script parent: each Python script of the skill compiled (never run), so that
    a child skips reading and compiling it (and the page faults that would cost it)."""
    out: dict[str, Compiled] = {}
    if not folder:
        return out
    for path in sorted(Path(folder).rglob("*.py"))[:_MAX_COMPILED]:
        try:
            st = path.stat()
            out[os.path.realpath(path)] = (st.st_mtime_ns, st.st_size,
                              compile(path.read_bytes(), str(path), "exec", dont_inherit=True))
        except (OSError, SyntaxError, ValueError):
            continue  # the child compiles it, and reports what is wrong
    return out


def run(req: dict[str, Any], sock: int, compiled: dict[str, Compiled]) -> int:
    """The script's exit code (an interpreter's exec does not return)."""
    _kind, start = proto.read_frame_fd(sock, cap=int(req["max_input_bytes"]))
    args = [str(a) for a in start["args"]]
    script = str(req["script"])
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
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


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
