"""A forked child running a bundled script (see ``skillexec.scripts``), confined already.

Python scripts run here, in the warm parent's copy, with ``runpy`` semantics: ``__main__``,
``sys.argv = [script, *args]``, the script's folder first on ``sys.path``, the workspace
as cwd; ``SystemExit`` is the exit code, an uncaught exception a traceback on stderr and
exit code 1. Other scripts replace this process with their interpreter (``node``,
``bash``: an argv list, never a shell string). The engine reads the exit status.
"""

from __future__ import annotations

import base64
import os
import runpy
import sys
import traceback
from typing import Any

from skillexec.runtime.runners import _protocol as proto

__all__ = ["run"]


def run(req: dict[str, Any], sock: int) -> int:
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
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return _exit_code(exc.code)
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


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
