"""What a failed script's stderr says went wrong, in one line.

A nonzero exit (``script_exit``) carries the script's stderr in its details and the tail of
it in its message; the tail starts wherever 500 characters back happens to fall, often mid
traceback (``reader = PdfReader(sys.argv[1]) ^^^^``). The line that says why is the
exception a Python traceback ends with, or the line that names an error, or the last one:
the terminal's sentence and the reports' groups both read it from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["SCRIPT_EXIT", "error_headline", "telling_line"]

SCRIPT_EXIT = "script_exit"
_TRACEBACK = "Traceback (most recent call last):"


def telling_line(stderr: str) -> str:
    """The line of a failed command's stderr that says what went wrong ("" if it is empty).

    After a Python traceback (the last one: in a chain, "During handling of the above
    exception ..." comes after the cause), its exception: the first line after the header
    that is not indented (frames and source lines are). Otherwise the first line that names
    an error (``Error: Cannot find module 'x'`` is followed by its stack), else the last."""
    raw = stderr.splitlines()
    header = max((i for i, ln in enumerate(raw) if ln.strip() == _TRACEBACK), default=None)
    if header is not None:
        for line in raw[header + 1:]:
            if line.strip() and not line[:1].isspace():
                return line.strip()
    lines = [ln.strip() for ln in raw if ln.strip()]
    for line in lines:
        head = line.split(":", 1)[0]
        if ":" in line and (head.endswith(("Error", "Exception")) or head == "error"):
            return line
    return lines[-1] if lines else ""


def error_headline(code: str, message: str, details: Mapping[str, Any]) -> str:
    """An error's message, with a failed script's stderr tail replaced by its telling line:
    ``the script exited with status 1: FileNotFoundError: [Errno 2] No such file ...``."""
    stderr = details.get("stderr")
    if code != SCRIPT_EXIT or not isinstance(stderr, str):
        return message
    line = telling_line(stderr)
    head = message.split(": ", 1)[0]
    return f"{head}: {line}" if line else head
