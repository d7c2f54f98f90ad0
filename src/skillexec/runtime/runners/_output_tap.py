"""A script's printed lines as its progress, for whoever follows its task.

A bundled script cannot call ``context.progress``: what it says while it runs is what it
prints ("Rendering page 3 of 40", a tqdm bar on stderr). The tap reads each chunk as the
engine collects it and reports the latest complete line (``\\n`` or ``\\r`` ends one: a bar
redrawn after a ``\\r`` is reported as the next redraw ends it), at most every ``every_s``
and once more after a burst, so that a script printing a line per row costs a report per
quarter second. The fraction is read off the line where it says one ("45%", "3/40", "3 of
40"); else the last one read stands (0 at first). Only whole lines of at most 4 KiB are
reported: the engine's output filter masks whole secrets in a message, as it does in a
skill's own reports.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

__all__ = ["OutputTap", "fraction_in"]

_MAX_LINE_BYTES = 4096  # a longer line is not reported
_LONG = b"\x00\xff\x00"  # stands for the start of a line past _MAX_LINE_BYTES
_ENDS = re.compile(rb"[\r\n]")
_PERCENT = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d+)?)\s?%")
_OF = re.compile(r"(?<![\w/.:-])(\d{1,9})\s?(?:/|\s+of\s+)\s?(\d{1,9})(?![\w/.:-])")


def fraction_in(line: str) -> float | None:
    """The fraction a progress line states, if it states one plainly."""
    if (m := _PERCENT.search(line)) is not None and float(m.group(1)) <= 100:
        return float(m.group(1)) / 100
    if (m := _OF.search(line)) is not None:
        done, total = int(m.group(1)), int(m.group(2))
        if total > 0 and done <= total:
            return done / total
    return None


class OutputTap:
    """Fed the chunks of a script's stdout and stderr; reports lines through ``report``."""

    __slots__ = ("_every_s", "_fraction", "_loop", "_partial", "_pending", "_report",
                 "_sent_at", "_timer")

    def __init__(self, report: Callable[[float, str], None], *, every_s: float = 0.25) -> None:
        self._report = report
        self._every_s = every_s
        self._loop = asyncio.get_running_loop()
        # Per stream: a line not yet ended (None: one past _MAX_LINE_BYTES, never reported).
        self._partial: dict[int, bytes | None] = {}
        self._pending: str | None = None
        self._fraction = 0.0
        self._sent_at = -every_s
        self._timer: asyncio.TimerHandle | None = None

    def feed(self, stream: int, chunk: bytes) -> None:
        held = self._partial.get(stream, b"")
        data = (_LONG if held is None else held) + chunk
        cut = max(data.rfind(b"\n"), data.rfind(b"\r"))
        rest = data[cut + 1:]
        # A line is reported whole or not at all: a line cut to its end (or a bar's half
        # drawn state) could hold part of a secret the output filter, which masks whole
        # secrets, would not know. Past _MAX_LINE_BYTES a line is never reported.
        self._partial[stream] = rest if len(rest) <= _MAX_LINE_BYTES and _LONG not in rest \
            else None
        if cut < 0:
            return
        # Only the end matters: a chunk may hold 256 KiB of lines. What the window cuts at
        # its start is no whole line.
        start = max(0, cut - 2 * _MAX_LINE_BYTES - len(_LONG))
        lines = _ENDS.split(data[start:cut])[1 if start else 0:]
        last = next((ln for ln in reversed(lines) if ln.strip() and len(ln) <= _MAX_LINE_BYTES
                     and _LONG not in ln), None)
        if last is None:
            return
        self._pending = last.decode(errors="replace").strip()
        wait_s = self._sent_at + self._every_s - self._loop.time()
        if wait_s <= 0:
            self._send()
        elif self._timer is None:
            self._timer = self._loop.call_later(wait_s, self._send)

    def _send(self) -> None:
        self._timer = None
        line, self._pending = self._pending, None
        if line is None:
            return
        self._sent_at = self._loop.time()
        if (fraction := fraction_in(line)) is not None:
            self._fraction = fraction
        self._report(self._fraction, line)

    def close(self) -> None:
        """No report after this (the call is answering): what is pending is dropped."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._pending = None
