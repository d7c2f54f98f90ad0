"""A script's end as its child tells it, engine side (see ``_child_script.end``).

A Python script's child sends an "end" frame (its exit code and resource usage) as its
last act, once its streams are flushed. The engine answers from that frame: waiting for
the exit instead costs the teardown of an address space as large as the warm parent's
(milliseconds here, more on a loaded machine), then the zygote's wake-up, ``wait4`` and
report — none of which the answer needs. What is left of the child is killed and its
cgroup slot settled off the call's path (``settle_later``).

Everything the child says is untrusted: the frame could be forged by the script itself,
which gains nothing by it (the exit code is its own to choose, and it is killed once the
frame is read), and its CPU time is never taken below what the kernel counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import socket
from typing import Any

from skillexec.runtime.limits import CgroupPool, CgroupSlot
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._channels import Conn
from skillexec.runtime.runners._zygote_handle import ChildExit

__all__ = ["ScriptEnd", "answered", "kernel_cpu_s", "read_to_end", "release", "settle_later",
           "whole_lines"]

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,20}")  # the child's word
_FRAME_CAP = 1 << 16


class ScriptEnd:
    """What a script's child said before it exited."""

    __slots__ = ("blocked", "end", "missing_module", "setup_failed")

    def __init__(self) -> None:
        self.end: ChildExit | None = None  # its "end" frame (None: it exited without one)
        self.setup_failed: str | None = None
        self.missing_module: str | None = None
        self.blocked: tuple[str, ...] = ()  # unreadable folders on its sys.path


async def read_to_end(conn: Conn, sock: socket.socket,
                      exit_fut: asyncio.Future[Any]) -> ScriptEnd:
    """Read the child's frames until its "end", or until the socket ends: at the child's
    exit — or once the zygote has reaped it, should a process it started hold the socket
    open (its end is then read as EOF: what was sent before is still read first)."""
    said = ScriptEnd()

    def reaped(_fut: asyncio.Future[Any]) -> None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RD)

    exit_fut.add_done_callback(reaped)
    try:
        while True:
            try:
                _kind, msg = await conn.read_frame(cap=_FRAME_CAP)
            except (EOFError, OSError, proto.ProtocolError, proto.FrameTooLarge):
                return said
            if not isinstance(msg, dict):
                continue
            t = msg.get("t")
            if t == "end":
                said.end = _exit_of(msg)
                return said
            if t == "setup_failed":
                said.setup_failed = str(msg.get("message"))[:4000]
            elif t == "missing_module":
                module = msg.get("module")
                if isinstance(module, str) and _MODULE.fullmatch(module):
                    said.missing_module = module
                    blocked = msg.get("blocked")
                    if isinstance(blocked, list):
                        said.blocked = tuple(str(p)[:300] for p in blocked[:3])
    finally:
        exit_fut.remove_done_callback(reaped)


def _exit_of(msg: dict[str, Any]) -> ChildExit | None:
    try:
        return ChildExit(status=(int(msg["code"]) & 0xFF) << 8, cpu_s=float(msg["cpu_s"]),
                         maxrss_kb=int(msg["maxrss_kb"]), inblock=int(msg["inblock"]),
                         oublock=int(msg["oublock"]), minflt=int(msg["minflt"]))
    except (KeyError, TypeError, ValueError, OverflowError):
        return None  # malformed: the exit status decides, as for a child without one


def kernel_cpu_s(pid: int) -> float | None:
    """The CPU time the kernel has counted for process ``pid``'s main thread so far (its
    schedstat, in ns); None when it cannot be read (gone already)."""
    if pid <= 0:
        return None
    try:  # os calls, not open(): io's layers cost more than the system calls here
        fd = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # reaped already (the zygote's report is on its way)
    try:
        return int(os.read(fd, 256).split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(fd)


def answered(early: ChildExit | None, exit_fut: asyncio.Future[ChildExit],
             pid: int) -> ChildExit:
    """The exit of a script's child that said it ended (stopped by the caller): the
    zygote's report if it came already, else the child's own account, but never less CPU
    time than the kernel has counted for it."""
    assert early is not None
    if exit_fut.done() and exit_fut.result().status is not None:
        return exit_fut.result()
    kernel = kernel_cpu_s(pid)
    if kernel is not None and kernel > (early.cpu_s or 0.0):
        return dataclasses.replace(early, cpu_s=kernel)
    return early


def release(slot: CgroupSlot, pool: CgroupPool | None) -> bool:
    """Kill what is left in an attempt's slot and give it back to ``pool``, made ready for
    its next attempt (its peak and OOM count reset now, not on that attempt's path).
    True if the slot was seen empty."""
    slot.kill_all()
    emptied = slot.emptied
    if emptied:
        slot.rearm()
    if pool is not None:
        pool.release(slot)
    return emptied


def settle_later(exiting: asyncio.Future[Any], slot: CgroupSlot, pool: CgroupPool | None,
                 tasks: set[asyncio.Task[None]], settled: asyncio.Future[bool]) -> None:
    """The cgroup slot of a child that answered before its exit: emptied and released to
    ``pool`` once the child is gone (killed already, with what it started), in a task
    kept in ``tasks`` (the runner cancels them when it closes; its pool kills the rest).
    ``settled`` then says whether every process of the attempt was seen gone."""
    async def settle() -> None:
        try:
            await asyncio.wait((exiting,), timeout=5.0)
        finally:
            settled.set_result(release(slot, pool) and exiting.done())

    def done(task: asyncio.Task[None]) -> None:
        tasks.discard(task)
        if not settled.done():  # cancelled before it ran
            settled.set_result(False)

    task = asyncio.get_running_loop().create_task(settle())
    tasks.add(task)
    task.add_done_callback(done)


def whole_lines(text: str, limit: int) -> str:
    """The last lines of ``text`` that fit in ``limit`` characters: a message that starts
    mid-word ('ripts/fill.py", line 8') says less than one that starts at a line."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    return cut.split("\n", 1)[1] if "\n" in cut else cut
