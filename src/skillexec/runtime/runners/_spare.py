"""A spare: a zygote's child forked before its call comes, and put in its call's cgroup slot
before that call, so that a call waits neither for the fork nor for the slot's attach.

The engine asks for one (``{"t": "spare"}``, with the call's socket and stdout/stderr
pipes) once a zygote has no call left (see ``_spare_engine``): calls that come one at a
time then each find one, while calls that overlap keep forking as before (a spare made
beside running calls competes with them for the CPU: ~20 % of sandboxed throughput at
concurrency 8). The zygote forks it once it has no child left (``fork_pending``). The
spare does what every child does before anything of a call — it closes the zygote's
descriptors, resets the signal handling it inherited, takes a session of its own, dies
with the zygote (``_child.detach``) — says hello on its socket (the engine learns its pid
from the kernel, moves it into a cgroup slot, and only then names it in a call), and
blocks on a socket of its own to the zygote. When a fork request names it, the zygote
prepares it as for any child (``_child.prepare``: the limits, the environment, this
call's Landlock ruleset) and sends it to the spare (SCM_RIGHTS for the ruleset); the spare
confines itself for the call (descriptors, limits, cwd, environment, Landlock) exactly as a
freshly forked child would, before any of the skill's code runs, and reads the call's
first frame, which the engine sent without waiting for an answer: the spare is in its
slot already. A request naming a spare that is gone is refused, never forked afresh (such
a child would not be in its slot). A spare serves one call and is never reused; what it
holds while it waits is the zygote's state (the skill imported, nothing of any call), and
its uid, namespaces and seccomp filter are the zygote's, as a freshly forked child's are.

Accounting: a spare is one more process of the zygote's (its uid, its PID namespace)
while it waits. It is not an attempt's: the zygote kills it when it retires and leaves it
out of its leftover sweep (see ``_reaper.reap``); it dies with the zygote; its exit is
reported as any child's, so that the engine frees its slot.
"""

from __future__ import annotations

import array
import builtins
import os
import signal
import socket
import types
from typing import Any, NoReturn

import orjson

from skillexec.runtime.context import SkillContext
from skillexec.runtime.runners import _child, _child_env, _fork
from skillexec.runtime.runners import _protocol as proto

__all__ = ["Spare", "fork_pending", "requested", "serve_call"]

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
        """Send the spare its call; False if it was not sent (the spare is killed then). The
        caller still owns ``fds`` and ``prep`` either way (the spare has copies of them
        once this returns True)."""
        data = orjson.dumps(
            {"req": msg, "rl": prep.rlimits, "un": prep.env_unset, "set": prep.env_set,
             "err": prep.ruleset_error, "rs": prep.ruleset_fd >= 0})
        send = [*fds, prep.ruleset_fd] if prep.ruleset_fd >= 0 else fds
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", send))] if send else []
        sent = -1
        if len(data) <= _MAX_HAND_OFF:  # a call this big is rare: refused, the spare killed
            try:
                sent = self.sock.sendmsg([data], anc)
            except OSError:
                pass  # it died waiting (EPIPE)
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


def requested(ctl: socket.socket, msg: dict[str, Any], fds: list[int],
              pending: list[tuple[dict[str, Any], list[int]]] | None) -> None:
    """In the zygote: the engine asks for a spare (forked by ``fork_pending``); refused
    when spares are off or the zygote retires (``pending`` None), or one is asked for
    already."""
    if pending is not None and not pending and len(fds) == 3:
        pending.append((msg, fds))
        return
    for fd in fds:
        os.close(fd)
    proto.send_control(ctl, {"t": "fork_failed", "id": msg.get("id"), "spare": True,
                             "message": "no spare now"})


def fork_pending(ctl: socket.socket, setup: _child.ChildSetup,
                 pending: list[tuple[dict[str, Any], list[int]]], spares: list[Spare],
                 vsz: int, rbuf: bytearray) -> None:
    """In the zygote, with no child alive (it would compete with one for the CPU): the
    spare asked for, forked, and the engine told its pid (as for a forked child)."""
    msg, fds = pending.pop()
    new = None if spares else _fork_spare(setup, fds, hello=bool(msg.get("hello")), vsz=vsz)
    for fd in fds:
        os.close(fd)
    if new is None:
        proto.send_control(ctl, {"t": "fork_failed", "id": msg.get("id"), "spare": True,
                                 "message": "the spare could not be forked"})
        return
    spares.append(new)
    proto.send_control(ctl, {"t": "forked", "id": msg["id"], "pid": new.pid})
    _warm(setup, rbuf, vsz)


def _warm(setup: _child.ChildSetup, rbuf: bytearray, vsz: int) -> None:
    """In the zygote, just after a spare's fork: what handing it a call writes, written
    once now, off the call's path. After a fork every page the zygote writes is a
    copy-on-write fault (several microseconds each here): ~150 of them on the hand-off's
    path otherwise. A request of a call's shape is read and prepared (its workdir is
    ``/``: its ruleset, the one built ahead, is built and closed, never enforced; the loop
    builds the next one ahead before it waits) and its answers encoded."""
    page = 4096
    for i in range(0, min(len(rbuf), 4 * page), page):
        rbuf[i] = 0  # where the request is read
    key, plan = setup.rlimit_key, setup.rlimit_plan
    try:
        req = orjson.loads(_SHAPE)["req"]
        req["workdir"] = "/"
        prep = _child.prepare(setup, req, vsz)
        prep.close()
        orjson.dumps({"req": req, "rl": prep.rlimits, "un": prep.env_unset,
                      "set": prep.env_set, "err": prep.ruleset_error, "rs": False})
        orjson.dumps({"t": "forked", "id": 1, "pid": 1})
    except Exception:
        pass  # only a warm-up: the call's own prepare reports what is wrong
    finally:
        setup.rlimit_key, setup.rlimit_plan = key, plan  # the last call's plan, still valid


def serve_call(msg: dict[str, Any], prep: _child.ForkPrep, spares: list[Spare]) -> int:
    """In the zygote: the call of a request naming a spare, handed to it; its pid, or 0 if
    it is gone (the call is then refused: only that spare is in the call's slot)."""
    spare = spares[0] if spares else None
    if spare is None or spare.pid != msg.get("spare"):
        return 0
    spares.clear()
    return spare.pid if spare.hand_off(msg, [], prep) else 0


def _fork_spare(setup: _child.ChildSetup, fds: list[int], *, hello: bool,
                vsz: int) -> Spare | None:
    """In the zygote: a new spare holding ``fds`` (its call's socket and pipes), or None if
    one cannot be forked now."""
    try:
        # A stream pair: the zygote's seccomp filter allows no other kind (see seccomp).
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return None
    _child_env.restore(setup)
    try:
        pid = _fork.fork(setup.fork_plan)
    except OSError:
        mine.close()
        theirs.close()
        return None
    if pid == 0:
        _wait(setup, theirs, mine, fds, hello=hello)
    theirs.close()
    mine.setblocking(False)  # a spare's buffer is empty: a send that would block is a bug
    return Spare(pid, mine, vsz)


def _wait(setup: _child.ChildSetup, own: socket.socket, zygote_end: socket.socket,
          fds: list[int], *, hello: bool) -> NoReturn:
    """In the spare: detach, say hello, wait for the call, run it (never returns)."""
    try:
        zygote_end.close()
        _child.detach(setup)
        if hello:
            # As a freshly forked child's first act (see _child._confine), before any of
            # the skill's code runs: the engine's end learns our pid from it.
            os.write(fds[0], proto.HELLO)
        # A call's message decoded once while waiting, and dropped: the pages that decoding
        # writes are copied now rather than on the call's path.
        _prep_of(orjson.loads(_SHAPE), [])
        _rehearse(setup)
        data, extra = _receive(own)
        own.close()
    except BaseException:
        os._exit(0)  # EOF: the zygote retired or died before a call came
    try:
        msg = orjson.loads(data)
        req: dict[str, Any] = msg["req"]
        prep = _prep_of(msg, extra)
    except BaseException:
        os._exit(70)  # malformed (the zygote's bug): the engine sees no answer
    _child.run_child(setup, req, fds, prep, detached=True)
    os._exit(71)  # not reached: run_child ends the process


def _rehearse(setup: _child.ChildSetup) -> None:
    """In a spare while it waits: what its call will run first, run once on made-up data
    (a frame read from a pipe, a context, a script's module), so that the pages it writes
    (refcounts of the objects it touches included) are copied now, not on the call's path."""
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        os.write(w, proto.encode_frame({"input": {}, "context": {
            "task_id": "-" * 24, "skill_id": setup.skill_id, "attempt": 1, "config": {},
            "deadline": 0.0, "trace": {}}}) + proto.encode_frame(b"a\0", kind=proto.KIND_BYTES))
        _kind, start = proto.read_frame_fd(r, cap=1 << 16)
        proto.read_frame_fd(r, cap=1 << 16)
    finally:
        os.close(r)
        os.close(w)
    c = start["context"]
    SkillContext(task_id=c["task_id"], skill_id=c["skill_id"], attempt=1, workdir="/",
                 config=c["config"], deadline=c["deadline"], log=setup.log,
                 progress_sink=lambda f, m: None, artifact_sink=None, cancel_event=None,
                 trace=c["trace"])
    types.ModuleType("__main__").__dict__.update(__file__="", __builtins__=builtins)


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
    """The one message the zygote sends on a spare's stream (it closes its end after),
    with the call's ruleset (if any) along its first bytes. No buffer made ahead: zeroing
    one costs a page fault per page."""
    data, ancdata, _flags, _addr = sock.recvmsg(_MAX_HAND_OFF, _ANCBUF)
    fds: list[int] = []
    for level, kind, cdata in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds += array.array("i", cdata[:len(cdata) - len(cdata) % 4]).tolist()
    if not data:
        raise EOFError("the zygote closed the spare's socket")
    while len(data) < _MAX_HAND_OFF:
        more = sock.recv(_MAX_HAND_OFF - len(data))
        if not more:
            break
        data += more
    return data, fds
