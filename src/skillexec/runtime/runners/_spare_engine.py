"""Engine side of a zygote's spare (see ``_spare``): asked for once the zygote has no call
left, found by the kernel's credentials on its socket, moved into a cgroup slot of its own,
and only then given to the next call (any but a command's), which sends its request and
first frame straight to it: no fork, no attach, no word with the zygote on its path.

The attach is what a call saves most when calls are spaced out (as an agent's are): a
cgroup v1 attach after a quiet spell waits for an RCU grace period (~6 ms here, against
~0.4 ms back to back); here it runs in a worker thread, off every call's path.

Fail closed: a spare that cannot be identified or attached is killed, and spares stay off
for that zygote (its calls fork as before), as they do when one dies while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from skillexec.runtime.limits import CgroupSlot
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._channels import peer_pid, socket_pair
from skillexec.runtime.runners._child_request import first_frame
from skillexec.runtime.runners._zygote_handle import ChildExit, SpareBusy, SpareGone, ZygoteHandle
from skillexec.runtime.runners.base import Attempt

__all__ = ["ReadySpare", "make", "send_call", "take", "want"]

# How long a zygote stays without a call before a spare is made: calls that come back to
# back (a batch, a loop) would each compete with one being made, and fork fresh anyway.
QUIET_S = 0.003


@dataclass(slots=True, eq=False)
class ReadySpare:
    """A spare in its slot, and the engine's ends of its call's channels."""

    pid: int  # as its zygote numbers it (named so in the call's request)
    host: int  # as the engine's PID namespace does
    sock: socket.socket
    out_r: int
    err_r: int
    slot: CgroupSlot | None
    exit_fut: asyncio.Future[ChildExit]
    release: Callable[[CgroupSlot], None]  # the slot back to its pool, empty

    def discard(self) -> None:
        """Never used: killed, its channels closed, its slot freed once it is gone."""
        if not self.exit_fut.done() and self.host > 0:
            with contextlib.suppress(OSError):
                os.kill(self.host, signal.SIGKILL)
        self.close_channels()
        slot = self.slot
        if slot is not None:
            self.slot = None
            slot.signal_all()
            self.exit_fut.add_done_callback(lambda _f: _free(slot, self.release))

    def close_channels(self) -> None:
        self.sock.close()
        for fd in (self.out_r, self.err_r):
            if fd >= 0:
                os.close(fd)
        self.out_r = self.err_r = -1


def send_call(sock: socket.socket, attempt: Attempt, request: dict[str, Any]) -> bytes | None:
    """A call's request and first frame, sent to its spare now, as far as the socket takes
    them without waiting; what is left to send (b"": nothing), or None: the first frame was
    not sent (not JSON: the attempt says so), the request was, whole. SpareGone: the spare
    is gone (its end is closed): nothing of the call ran."""
    head = proto.encode_frame(request)
    if len(head) > proto.SPARE_REQUEST_MAX_BYTES + proto.HEADER_SIZE:  # huge secrets: forked
        raise SpareGone("the request is too large for a spare")
    try:
        first: bytes | None = first_frame(attempt, request["kind"],
                                          args_sent="args_frame" in request)
    except (TypeError, orjson.JSONEncodeError):
        first = None
    frame = head + (first or b"")
    try:
        sent = sock.send(frame)
    except (BrokenPipeError, ConnectionResetError) as exc:
        raise SpareGone(f"the spare is gone: {exc}") from exc
    except OSError:  # full (a large input): the attempt sends the rest
        sent = 0
    if first is not None:
        return frame[sent:]
    if sent < len(frame):  # rare (a request is small): the rest, blocking a moment
        with contextlib.suppress(OSError):
            sock.setblocking(True)
            sock.sendall(frame[sent:])
            sock.setblocking(False)
    return None


def _free(slot: CgroupSlot, release: Callable[[CgroupSlot], None]) -> None:
    slot.kill_all()
    release(slot)


def want(zyg: ZygoteHandle, slot_of: Callable[[], CgroupSlot | None],
         release: Callable[[CgroupSlot], None], jobs: set[asyncio.Task[None]]) -> None:
    """A zygote's call ended: a spare made for its next call if none comes meanwhile."""
    if zyg.active or zyg.spare is not None or zyg.spare_making or zyg.spares_off:
        return
    loop = asyncio.get_running_loop()

    def quiet() -> None:
        if zyg.active or zyg.dead or zyg.retired or zyg.spare is not None \
                or zyg.spare_making or zyg.spares_off \
                or time.monotonic() - zyg.last_used < QUIET_S * 0.9:
            return
        job = loop.create_task(make(zyg, slot_of, release))
        jobs.add(job)
        job.add_done_callback(jobs.discard)

    loop.call_later(QUIET_S, quiet)


def take(zyg: ZygoteHandle) -> ReadySpare | None:
    """The zygote's spare for a call, if it has one alive (it is then the call's)."""
    spare: ReadySpare | None = zyg.spare
    if spare is None:
        return None
    zyg.spare = None
    if spare.exit_fut.done():
        zyg.spares_off = True  # it died waiting
        spare.discard()
        return None
    return spare


async def make(zyg: ZygoteHandle, slot_of: Callable[[], CgroupSlot | None],
               release: Callable[[CgroupSlot], None]) -> None:
    """Ask ``zyg`` for a spare and place it (see the module's doc); ``zyg.spare`` once done.
    Any failure turns spares off for this zygote."""
    zyg.spare_making = True
    engine_sock, child_sock = socket_pair(passcred=zyg.pidns)
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    spare: ReadySpare | None = None
    forked: asyncio.Future[tuple[int, asyncio.Future[ChildExit]]] | None = None
    try:
        try:
            forked = await zyg.fork({"hello": True} if zyg.pidns else {},
                                    [child_sock.fileno(), out_w, err_w], kind="spare")
        finally:
            child_sock.close()
            os.close(out_w)
            os.close(err_w)
        host = await peer_pid(engine_sock) if zyg.pidns else 0
        pid, exit_fut = await forked
        spare = ReadySpare(pid, host if zyg.pidns else pid, engine_sock, out_r, err_r,
                           None, exit_fut, release)
        if spare.host <= 0:
            raise OSError("the spare could not be found")
        spare.slot = slot_of()
        if spare.slot is not None:
            # The attach may wait for an RCU grace period: in a thread, off the loop.
            await asyncio.to_thread(spare.slot.add, spare.host)
        if exit_fut.done() or zyg.dead or zyg.retired:
            raise OSError("the spare or its zygote is gone")
        zyg.spare, spare = spare, None
        exit_fut.add_done_callback(lambda _f: _gone(zyg))
    except BaseException as exc:
        if forked is not None:
            forked.add_done_callback(_retrieved)  # its failure is this one's, or moot
        if not isinstance(exc, (asyncio.CancelledError, SpareBusy)):
            zyg.spares_off = True
        if spare is not None:
            spare.discard()
        else:
            # Not found: never given a call, it sees its socket close now and exits.
            engine_sock.close()
            os.close(out_r)
            os.close(err_r)
        if not isinstance(exc, Exception):
            raise
    finally:
        zyg.spare_making = False


def _retrieved(fut: asyncio.Future[Any]) -> None:
    if not fut.cancelled():
        fut.exception()


def _gone(zyg: ZygoteHandle) -> None:
    """A spare died while it waited: its slot freed, and no more spares for this zygote."""
    spare: ReadySpare | None = zyg.spare
    if spare is not None and spare.exit_fut.done():
        zyg.spare = None
        zyg.spares_off = True
        spare.discard()
