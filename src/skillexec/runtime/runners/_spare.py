"""A spare: a zygote's child forked before its call comes, so that a call does not wait for
the fork.

The zygote keeps one spare. Forked off the critical path (once a pass of the zygote's loop
has answered what the engine sent), it does what every child does before anything of a
call — it closes the zygote's descriptors, resets the signal handling it inherited, takes
a session of its own, dies with the zygote (``_child.detach``) — and then blocks on a
socket of its own to the zygote. When a fork request comes, the zygote prepares it as for
any child (``_child.prepare``: the limits, the environment, this call's Landlock ruleset)
and sends it to the spare with the call's descriptors (SCM_RIGHTS); the spare closes that
socket and confines itself for the call (hello, descriptors, limits, cwd, environment,
Landlock) exactly as a freshly forked child would, before any of the skill's code runs.
A spare serves one call and is never reused; what it holds while it waits is the zygote's
state (the skill imported, nothing of any call), and its uid, namespaces and seccomp
filter are the zygote's, as a freshly forked child's are.

Accounting: a spare is one more process of the zygote's (its uid, its cgroup slot, its
PID namespace) while it waits. It is not an attempt's: the zygote kills it when it retires
and leaves it out of its leftover sweep (see ``_reaper.reap``); it dies with the zygote.
"""

from __future__ import annotations

import array
import os
import signal
import socket
from typing import Any, NoReturn

import orjson

from skillexec.runtime.runners import _child, _fork
from skillexec.runtime.runners import _protocol as proto

__all__ = ["Spare", "fork_spare"]

# Within any stream socket's buffer: a hand-off is one non-blocking write, never partial.
_MAX_HAND_OFF = 64 * 1024


class Spare:
    """The zygote's handle on its spare."""

    __slots__ = ("pid", "sock", "vsz")

    def __init__(self, pid: int, sock: socket.socket, vsz: int) -> None:
        self.pid = pid
        self.sock = sock  # the zygote's end
        self.vsz = vsz  # the zygote's address space when it forked the spare (its limits)

    def hand_off(self, msg: dict[str, Any], fds: list[int], prep: _child.ForkPrep) -> bool:
        """Send the spare its call; False if it was not sent (then the call must be forked
        the usual way). The caller still owns ``fds`` and ``prep`` either way (the spare
        has copies of them once this returns True)."""
        # First byte: whether the engine waits for the hello (sent before anything else).
        data = (b"H" if msg.get("hello") else b"-") + orjson.dumps(
            {"req": msg, "rl": prep.rlimits, "un": prep.env_unset, "set": prep.env_set,
             "err": prep.ruleset_error, "rs": prep.ruleset_fd >= 0})
        if len(data) > _MAX_HAND_OFF:
            return False  # a call this big is rare: forked as before, the spare kept
        send = [*fds, prep.ruleset_fd] if prep.ruleset_fd >= 0 else fds
        try:
            sent = self.sock.sendmsg(
                [data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", send))])
        except OSError:
            sent = -1  # it died waiting (EPIPE)
        if sent != len(data):
            self.kill()
            return False
        self.sock.close()  # the spare reads up to this end
        return True

    def kill(self) -> None:
        """Stop it (it is reaped as any process of the zygote's is)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.sock.close()


def fork_spare(setup: _child.ChildSetup, *, vsz: int) -> Spare | None:
    """In the zygote: a new spare, or None if one cannot be forked now (tried again later)."""
    try:
        # A stream pair: the zygote's seccomp filter allows no other kind (see seccomp).
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        pid = _fork.fork(setup.fork_plan)
    except OSError:
        mine.close()
        theirs.close()
        return None
    if pid == 0:
        _wait(setup, theirs, mine)
    theirs.close()
    mine.setblocking(False)  # a spare's buffer is empty: a send that would block is a bug
    return Spare(pid, mine, vsz)


def _wait(setup: _child.ChildSetup, own: socket.socket, zygote_end: socket.socket,
          ) -> NoReturn:
    """In the spare: detach, wait for the call, run it (never returns)."""
    try:
        zygote_end.close()
        _child.detach(setup)
        # A call's message decoded once while waiting, and dropped: the pages that decoding
        # writes are copied now rather than on the call's path.
        _prep_of(orjson.loads(_SHAPE), [])
        data, fds = _receive(own)
        own.close()
    except BaseException:
        os._exit(0)  # EOF: the zygote retired or died before a call came
    try:
        msg = orjson.loads(memoryview(data)[1:])
        req: dict[str, Any] = msg["req"]
        req.pop("hello", None)  # sent already (see _receive)
        prep = _prep_of(msg, fds)
    except BaseException:
        os._exit(70)  # malformed (the zygote's bug): the engine sees no answer
    _child.run_child(setup, req, fds, prep, detached=True)
    os._exit(71)  # not reached: run_child ends the process


def _prep_of(msg: dict[str, Any], fds: list[int]) -> _child.ForkPrep:
    ruleset_fd = fds.pop() if msg["rs"] else -1
    return _child.ForkPrep([(int(w), (int(p[0]), int(p[1]))) for w, p in msg["rl"]],
                           list(msg["un"]), [(str(k), str(v)) for k, v in msg["set"]],
                           ruleset_fd, msg["err"])


# What a hand-off looks like (its keys, sizes and types; no call's values).
_SHAPE = orjson.dumps({
    "req": {"kind": "python", "workdir": "/" * 64, "max_input_bytes": 1 << 26,
            "max_output_bytes": 1 << 24, "limits": {
                "memory_bytes": 1 << 29, "cpu_seconds": 60.0, "file_size_bytes": 1 << 28,
                "open_files": 256, "processes": 512},
            "env_extra": {k: "/" * 64 for k in ("HOME", "TMPDIR", "XDG_CACHE_HOME",
                                                "XDG_CONFIG_HOME", "XDG_DATA_HOME")},
            "hello": True, "id": 1, "t": "fork"},
    "rl": [[7, [256, 256]], [9, [1 << 30, 1 << 30]], [0, [60, 61]]], "un": [],
    "set": [[k, "/" * 64] for k in ("HOME", "TMPDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME",
                                    "XDG_DATA_HOME")], "err": None, "rs": False})


_ANCBUF = socket.CMSG_SPACE(proto.CONTROL_MAX_FDS * 4)


def _receive(sock: socket.socket) -> tuple[bytes, list[int]]:
    """The one message the zygote sends on a spare's stream (it closes its end after):
    the descriptors come with its first bytes, and so does the hello, sent on at once.
    No buffer made ahead: zeroing one costs a page fault per page."""
    data, ancdata, _flags, _addr = sock.recvmsg(_MAX_HAND_OFF, _ANCBUF)
    fds: list[int] = []
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", cdata[:len(cdata) - len(cdata) % 4]).tolist()
    if not data:
        raise EOFError("the zygote closed the spare's socket")
    if data[:1] == b"H" and fds:
        # As a freshly forked child's first act (see _child._confine): the engine's end
        # learns our pid from it, before any of the skill's code runs.
        os.write(fds[0], proto.HELLO)
    while len(data) < _MAX_HAND_OFF:
        more = sock.recv(_MAX_HAND_OFF - len(data))
        if not more:
            break
        data += more
    return data, fds
