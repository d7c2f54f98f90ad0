"""The forked child: confine itself, read its input, run the skill, answer, exit.

Runs in a process forked from a zygote, which already imported the skill and is itself
confined (uid, Landlock layer, seccomp, network namespace). The child adds what is per
attempt: its own session, parent-death signal, rlimits, a private cwd and environment and
a second Landlock layer that narrows writes to its own workdir. Then it talks to the engine
over the socket it was given (length-prefixed JSON frames, see ``_protocol``).
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

import orjson

from skillexec.errors import ErrorInfo, ErrorType, SkillExecError
from skillexec.runtime.context import SkillContext
from skillexec.runtime.entry import Invoker
from skillexec.runtime.limits import apply_rlimits
from skillexec.runtime.runners import _protocol as proto
from skillexec.security import landlock
from skillexec.security.privileges import set_parent_death_signal
from skillexec.task import ArtifactRef

__all__ = ["ChildSetup", "run_child"]

_SANDBOX_ERRNOS = frozenset({errno.EPERM, errno.EACCES, errno.ENETUNREACH, errno.EROFS})


class ChildSetup:
    """What the zygote prepared once and hands to every child it forks."""

    def __init__(self, *, invoker: Invoker | None, sandbox: bool, landlock: bool,
                 allow_network: bool,
                 read_fds: list[tuple[int, bool]], write_paths: tuple[str, ...],
                 connect_ports: tuple[int, ...], zygote_pid: int) -> None:
        self.invoker = invoker
        self.sandbox = sandbox
        self.landlock = landlock
        self.allow_network = allow_network
        self.read_fds = read_fds
        self.write_paths = write_paths
        self.connect_ports = connect_ports
        self.zygote_pid = zygote_pid


def run_child(setup: ChildSetup, req: dict[str, Any], fds: list[int], vsz_bytes: int) -> None:
    """Never returns: the child ends with os._exit."""
    code = 0
    sock: socket.socket | None = None
    try:
        sock = socket.socket(fileno=fds[0])
        _confine(setup, req, fds, vsz_bytes)
    except BaseException as exc:
        if sock is not None:
            try:
                proto.write_frame_sync(sock, {"t": "setup_failed",
                                              "message": f"{type(exc).__name__}: {exc}"})
            except OSError:
                pass
        os._exit(70)
    try:
        if req["kind"] == "command":
            _exec_command(sock, req)
        else:
            code = _serve(setup, req, sock)
    except BaseException:
        code = 71
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
    os._exit(code)


def _confine(setup: ChildSetup, req: dict[str, Any], fds: list[int], vsz_bytes: int) -> None:
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGHUP, signal.SIGXCPU):
        signal.signal(sig, signal.SIG_DFL)
    os.setsid()
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != setup.zygote_pid:
        os._exit(72)  # the zygote died between fork and prctl
    # fds: [socket, stdout, stderr] (+ stdin for commands)
    stdin_fd = fds[3] if len(fds) > 3 else os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin_fd, 0)
    os.dup2(fds[1], 1)
    os.dup2(fds[2], 2)
    for fd in {stdin_fd, fds[1], fds[2]}:
        if fd > 2:
            os.close(fd)
    lim = req["limits"]
    as_bytes = lim.get("memory_bytes")
    apply_rlimits(
        address_space_bytes=None if as_bytes is None else vsz_bytes + int(as_bytes),
        cpu_seconds=lim.get("cpu_seconds"),
        file_size_bytes=int(lim["file_size_bytes"]),
        open_files=int(lim["open_files"]),
        processes=lim.get("processes"),
    )
    workdir = req["workdir"]
    os.chdir(workdir)
    os.environ.clear()
    os.environ.update(req["env"])
    if setup.landlock:
        # A second layer on top of the zygote's: writes only in this attempt's workdir.
        landlock.restrict_self(
            landlock.LandlockRules(deny_tcp=not setup.allow_network,
                                   connect_ports=setup.connect_ports),
            read_fds=setup.read_fds,
            write_fds=landlock.open_rule_fds((workdir, *setup.write_paths, os.devnull)),
        )


def _exec_command(sock: socket.socket, req: dict[str, Any]) -> None:
    # Wait for the engine's "go": by then it has moved this process into its cgroups.
    proto.read_frame_sync(sock, cap=4096)
    argv = [str(a) for a in req["argv"]]
    try:
        os.execve(req["exe"], argv, dict(os.environ))
    except OSError as exc:
        proto.write_frame_sync(sock, {"t": "exec_failed", "message": f"{argv[0]}: {exc}"})
        os._exit(127)


class _Channel:
    """The child's end of the socket. No reader thread (a thread costs each fork ~100 page
    faults, about a millisecond here): the engine answers an artifact request before it
    reads anything else, so ``save_artifact`` reads its reply inline, under the lock.
    Cancellation arrives as SIGTERM.
    """

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()
        self._next = 0

    def send(self, payload: Any) -> None:
        data = proto.encode_frame(payload)
        with self._lock:
            self.sock.sendall(data)

    def send_encoded(self, data: bytes) -> None:
        with self._lock:
            self.sock.sendall(data)

    def save_artifact(self, name: str, data: bytes, mime: str | None) -> ArtifactRef:
        with self._lock:
            self._next += 1
            self.sock.sendall(
                proto.encode_frame({"t": "artifact", "id": self._next, "name": name,
                                    "mime": mime})
                + proto.encode_frame(data, kind=proto.KIND_BYTES))
            try:
                _kind, reply = proto.read_frame_sync(self.sock, cap=1 << 20)
            except (EOFError, OSError, proto.ProtocolError):
                os._exit(73)  # the engine is gone: nobody wants the answer
        if not isinstance(reply, dict) or "ref" not in reply:
            err = reply.get("error") if isinstance(reply, dict) else "malformed reply"
            raise RuntimeError(f"artifact {name!r} was not saved: {err}")
        r = reply["ref"]
        return ArtifactRef(id=r["id"], name=r["name"], mime=r["mime"], size=int(r["size"]),
                           sha256=r["sha256"])


def _serve(setup: ChildSetup, req: dict[str, Any], sock: socket.socket) -> int:
    _kind, start = proto.read_frame_sync(sock, cap=int(req["max_input_bytes"]))
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda _s, _f: cancel.set())
    chan = _Channel(sock)
    c = start["context"]
    ctx = SkillContext(
        task_id=c["task_id"], skill_id=c["skill_id"], attempt=int(c["attempt"]),
        workdir=Path(req["workdir"]), config=c["config"], deadline=float(c["deadline"]),
        log=logging.getLogger(f"skillexec.skill.{c['skill_id']}"),
        progress_sink=lambda f, m: chan.send({"t": "progress", "fraction": f, "message": m}),
        artifact_sink=chan.save_artifact, cancel_event=cancel, trace=c.get("trace") or {},
    )
    net_before = _net_counters()
    me = os.getpid()
    try:
        inv = setup.invoker
        assert inv is not None
        if inv.is_async:
            import asyncio

            value = asyncio.run(inv.call(start["input"], ctx))
        else:
            value = inv.call(start["input"], ctx)
    except BaseException as exc:
        info = _classify(setup, exc)
        chan.send({"t": "result", "ok": False, "error": info.to_dict(),
                   "traceback": traceback.format_exc(limit=50)[-64 * 1024:],
                   "net": _net_delta(net_before)})
        return 0
    if os.getpid() != me:
        os._exit(0)
    cap = int(req["max_output_bytes"])
    estimate = _estimated_size(value, cap)
    if estimate > cap:
        chan.send({"t": "result", "ok": False, "error": ErrorInfo(
            type=ErrorType.RESOURCE, code="output_too_large",
            message=f"the skill's result is over the cap of {cap} bytes",
            details={"cap": cap}).to_dict()})
        return 0
    try:
        body = orjson.dumps({"t": "result", "ok": True, "value": value,
                             "net": _net_delta(net_before)},
                            option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except (TypeError, orjson.JSONEncodeError) as exc:
        chan.send({"t": "result", "ok": False, "error": ErrorInfo(
            type=ErrorType.EXECUTION, code="output_not_json",
            message=f"the skill's result is not JSON-serialisable: {exc}").to_dict()})
        return 0
    if len(body) > cap:
        chan.send({"t": "result", "ok": False, "error": ErrorInfo(
            type=ErrorType.RESOURCE, code="output_too_large",
            message=f"the skill's result is {len(body)} bytes, over the cap of {cap} bytes",
            details={"size": len(body), "cap": cap}).to_dict()})
        return 0
    chan.send_encoded(proto.encode_json_body(body))
    return 0


def _estimated_size(value: Any, budget: int) -> int:
    """A lower bound of the JSON size, stopping once past ``budget``.

    Checked before serialising because orjson crashes (SIGSEGV) instead of raising when an
    allocation fails under RLIMIT_AS, and a result of hundreds of megabytes would do that.
    """
    total = 0
    stack = [value]
    while stack and total <= budget:
        v = stack.pop()
        if isinstance(v, str | bytes | bytearray):
            total += len(v) + 2
        elif isinstance(v, dict):
            total += 2 + 2 * len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            total += 2 + len(v)
            stack.extend(v)
        else:
            total += 8
    return total


def _classify(setup: ChildSetup, exc: BaseException) -> ErrorInfo:
    name = type(exc).__name__
    if isinstance(exc, SkillExecError):
        info = exc.info
    elif isinstance(exc, MemoryError):
        info = ErrorInfo(type=ErrorType.RESOURCE, code="memory_limit_exceeded",
                         message="the skill ran out of its memory limit")
    elif isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        info = ErrorInfo(type=ErrorType.RESOURCE, code="file_size_limit_exceeded",
                         message=f"the skill wrote past its file size limit: {exc}")
    elif setup.sandbox and isinstance(exc, OSError) and exc.errno in _SANDBOX_ERRNOS and (
            exc.errno != errno.ENETUNREACH or not setup.allow_network):
        info = ErrorInfo(type=ErrorType.PERMISSION, code="sandbox_denied",
                         message=f"the sandbox denied an operation: {name}: {exc}")
    elif isinstance(exc, SystemExit):
        info = ErrorInfo(type=ErrorType.EXECUTION, code="skill_exited",
                         message=f"the skill called exit({exc.code!r})")
    else:
        # Imported on the error path only: it pulls in ssl, which every fork would pay for.
        from skillexec.reliability.classify import ErrorClassifier

        info = ErrorClassifier().classify(exc)
        info = ErrorInfo(type=info.type, code=info.code, retryable=info.retryable,
                         severity=info.severity, details=info.details,
                         message=f"{name}: {exc}" if str(exc) else name)
    details = dict(info.details)
    details["exception"] = name
    details["retryable"] = info.retryable
    return ErrorInfo(type=info.type, code=info.code, message=info.message,
                     retryable=info.retryable, severity=info.severity, details=details)


_net_fd: int | None = None


def open_net_counters() -> None:
    """In the zygote, before Landlock: keep /proc/self/net/dev open for later reads."""
    global _net_fd
    try:
        _net_fd = os.open("/proc/self/net/dev", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        _net_fd = None


def _net_counters() -> tuple[int, int] | None:
    if _net_fd is None:
        return None
    try:
        text = os.pread(_net_fd, 65536, 0).decode()
    except OSError:
        return None
    rx = tx = 0
    for line in text.splitlines()[2:]:
        _iface, _, rest = line.partition(":")
        cols = rest.split()
        if len(cols) >= 9:
            rx += int(cols[0])
            tx += int(cols[8])
    return rx, tx


def _net_delta(before: tuple[int, int] | None) -> list[int] | None:
    after = _net_counters()
    if before is None or after is None:
        return None
    return [after[0] - before[0], after[1] - before[1]]
