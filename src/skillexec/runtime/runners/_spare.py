"""A spare: a zygote's child forked before its call comes and put in its call's cgroup slot
before that call, so that the call goes straight to it: no fork, no attach and no word with
the zygote on the call's path.

The engine asks for one (``{"t": "spare"}``, with the call's socket and stdout/stderr
pipes) once a zygote has no call left (see ``_spare_engine``): calls that come one at a
time then each find one, while calls that overlap keep forking as before (a spare made
beside running calls competes with them for the CPU: ~20 % of sandboxed throughput at
concurrency 8). The zygote forks it once it has no child left (``fork_pending``), with a
Landlock ruleset of its own built beforehand: a child's, but for its workdir. The spare
does what every child does before anything of a call — it closes the zygote's
descriptors, resets the signal handling it inherited, takes a session of its own, dies
with the zygote (``_child.detach``) — says hello on its socket (the engine learns its pid
from the kernel, moves it into a cgroup slot, and only then gives it a call), and blocks
on that socket.

A call that takes it (any but a command's) sends it the request the zygote would have had,
then its first frame. The spare tells its zygote that it is a call's now (one byte on their
own socket, before any of the skill's code runs: see ``settle``), adds the call's workdir to
its ruleset (a system call with the folder's ``O_PATH`` descriptor: no rule of its own to
build), and confines itself for the call (descriptors, limits, cwd, environment, Landlock)
exactly as a freshly forked child would, before any of the skill's code runs. A spare
serves one call and is never reused; what it holds while it waits is the zygote's state
(the skill imported, nothing of any call: the request never passes through the zygote,
nor the secrets in it), and its uid, namespaces and seccomp filter are the zygote's, as a
freshly forked child's are.

Accounting: a spare is one more process of the zygote's (its uid, its PID namespace)
while it waits. It is not an attempt's: the zygote leaves it out of its leftover sweep (see
``_reaper.reap``); when the zygote retires, the engine stops it unless a call has it (the
zygote, which may not know yet, exits once it is gone); it dies with the zygote; its exit is
reported as any child's, so that the engine frees its slot.
"""

from __future__ import annotations

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
from skillexec.security import landlock

__all__ = ["Spare", "fork_pending", "held", "requested", "settle"]

CLAIMED = b"C"  # what a spare sends its zygote when a call takes it


class Spare:
    """The zygote's handle on its spare."""

    __slots__ = ("pid", "sock")

    def __init__(self, pid: int, sock: socket.socket) -> None:
        self.pid = pid
        self.sock = sock  # the zygote's end (non-blocking): CLAIMED arrives on it

    def claimed(self) -> bool:
        """Whether a call took it (said before any of the skill's code ran, so before any
        exit of its call's: a spare seen to exit unclaimed died waiting)."""
        try:
            return self.sock.recv(1) == CLAIMED
        except (BlockingIOError, OSError):
            return False

    def kill(self) -> None:
        """Stop it (it is reaped as any process of the zygote's is)."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.sock.close()


def settle(spares: list[Spare], children: dict[int, int]) -> None:
    """In the zygote: a spare a call took is a child of that call's from now on (its exit is
    reported as theirs; no sweep or retirement kills it; no spare is forked beside it)."""
    if spares and spares[0].claimed():
        spare = spares.pop()
        spare.sock.close()
        children[spare.pid] = 0


def held(spares: list[Spare], pending: list[tuple[dict[str, Any], list[int]]]) -> tuple[int, ...]:
    """In the zygote: its descriptors that a child forked now must close, being a spare's
    (its socket) or another call's (what a spare asked for holds). A spare killed with the
    leftovers has closed its socket but is listed until it is reaped: not counted (closing
    -1 in the child would fail its call's confinement)."""
    return (*(fd for s in spares if (fd := s.sock.fileno()) >= 0),
            *(fd for _m, fds in pending for fd in fds))


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
                 sizes: tuple[int, int]) -> None:
    """In the zygote, with no child alive (it would compete with one for the CPU): the
    spare asked for, forked, and the engine told its pid (as for a forked child)."""
    msg, fds = pending.pop()
    new: Spare | None = None
    why = "the spare could not be forked"
    ruleset_fd = -1
    try:
        if setup.landlock_rules is not None:
            ruleset_fd = setup.landlock_rules.build()  # the one built ahead, as a rule
        if not spares:
            new = _fork_spare(setup, fds, hello=bool(msg.get("hello")), sizes=sizes,
                              ruleset_fd=ruleset_fd)
    except Exception as exc:
        why = f"the spare's ruleset: {type(exc).__name__}: {exc}"
    finally:
        if ruleset_fd >= 0:
            os.close(ruleset_fd)
        for fd in fds:
            os.close(fd)
    if new is None:
        proto.send_control(ctl, {"t": "fork_failed", "id": msg.get("id"), "spare": True,
                                 "message": why})
        return
    spares.append(new)
    proto.send_control(ctl, {"t": "forked", "id": msg["id"], "pid": new.pid})


def _fork_spare(setup: _child.ChildSetup, fds: list[int], *, hello: bool, sizes: tuple[int, int],
                ruleset_fd: int) -> Spare | None:
    """In the zygote: a new spare holding ``fds`` (its call's socket and pipes) and
    ``ruleset_fd`` (its Landlock ruleset, but for its workdir), or None if one cannot be
    forked now."""
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
        _wait(setup, theirs, mine, fds, hello=hello, sizes=sizes, ruleset_fd=ruleset_fd)
    theirs.close()
    mine.setblocking(False)
    return Spare(pid, mine)


def _wait(setup: _child.ChildSetup, own: socket.socket, zygote_end: socket.socket,
          fds: list[int], *, hello: bool, sizes: tuple[int, int], ruleset_fd: int) -> NoReturn:
    """In the spare: detach, say hello, wait for the call, run it (never returns)."""
    sock = fds[0]
    try:
        zygote_end.close()
        _child.detach(setup)
        if hello:
            # As a freshly forked child's first act (see _child._confine), before any of
            # the skill's code runs: the engine's end learns our pid from it.
            os.write(sock, proto.HELLO)
        # The pages what a call runs first writes (refcounts of the objects it touches
        # included) are copied now rather than on the call's path; the last call's limits
        # plan is kept (a call with the same limits reuses it).
        key, plan = setup.rlimit_key, setup.rlimit_plan
        _child.prepare(setup, orjson.loads(_SHAPE), sizes, ruleset=False)
        setup.rlimit_key, setup.rlimit_plan = key, plan
        _rehearse(setup)
        _kind, req = proto.read_frame_fd(sock, cap=proto.SPARE_REQUEST_MAX_BYTES)
        # The zygote's to know before any of the skill's code runs (see settle).
        own.send(CLAIMED)
        own.close()
    except BaseException:
        os._exit(0)  # EOF: the engine gave the spare up (or its zygote went) before a call
    try:
        prep = _child.prepare(setup, req, sizes, ruleset=False)
        rules = setup.landlock_rules
        if rules is not None:
            if ruleset_fd < 0:
                raise landlock.LandlockError("no Landlock ruleset")
            with _child.workdir_fds(req["workdir"]) as wfds:
                rules.add_writes(ruleset_fd, wfds)
            prep.ruleset_fd = ruleset_fd  # enforced by _confine, as a forked child's
    except BaseException as exc:
        _child.setup_failed(sock, exc)
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


# What a call's request looks like (its keys, sizes and types; no call's values).
_SHAPE = orjson.dumps({
    "kind": "python", "workdir": "/" * 64, "max_input_bytes": 1 << 26,
    "max_output_bytes": 1 << 24, "limits": {
        "memory_bytes": 1 << 29, "cpu_seconds": 60.0, "file_size_bytes": 1 << 28,
        "open_files": 256, "processes": 512},
    "env_extra": {k: "/" * 64 for k in ("HOME", "TMPDIR", "XDG_CACHE_HOME",
                                        "XDG_CONFIG_HOME", "XDG_DATA_HOME")}})
