"""The forked child: confine itself, read its input, run the skill, answer, exit.

Runs in a process forked from a zygote, which already imported the skill and is itself
confined (uid, Landlock layer, seccomp, network namespace). The child adds what is per
attempt: its own session, parent-death signal, rlimits, a private cwd and environment and
a second Landlock layer that narrows writes to its own workdir. Then it talks to the engine
over the socket it was given (length-prefixed JSON frames, see ``_protocol``).
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import signal
import socket
import sys
import threading
import traceback
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

# The C functions under signal.signal(): the wrappers convert to and from enums, which
# touches (and so copies, after a fork) many pages for nothing.
_signal: Any = importlib.import_module("_signal")
_SIGCHLD = int(signal.SIGCHLD)
_SIGTERM = int(signal.SIGTERM)
_SIG_DFL = int(signal.SIG_DFL)
_SANDBOX_ERRNOS = frozenset({errno.EPERM, errno.EACCES, errno.ENETUNREACH, errno.EROFS})


class ChildSetup:
    """What the zygote prepared once and hands to every child it forks."""

    def __init__(self, *, invoker: Invoker | None, sandbox: bool, allow_network: bool,
                 landlock_rules: landlock.PreparedRuleset | None, skill_id: str,
                 log: logging.Logger, zygote_pid: int) -> None:
        self.invoker = invoker
        self.sandbox = sandbox
        # The child's own Landlock layer, prepared: the zygote's reads, and writes only in
        # the extra write paths (and, added per child, its own workdir).
        self.landlock_rules = landlock_rules
        self.allow_network = allow_network
        self.skill_id = skill_id
        self.log = log
        self.zygote_pid = zygote_pid
        # Made once in the zygote; each child gets its own copy of them (copy-on-write).
        self.cancel = threading.Event()
        self.lock = threading.Lock()
        # The zygote's environment once it is ready: children compare against this plain
        # dict instead of walking os.environ (which decodes every key).
        self.environ: dict[str, str] = dict(os.environ)
        # Network counters matter only in the zygote's own network namespace.
        self.net_counters = True


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
    _signal.set_wakeup_fd(-1)
    _signal.signal(_SIGCHLD, _SIG_DFL)  # the zygote reset SIGINT, SIGHUP, SIGXCPU
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
    # The environment becomes exactly req["env"]; it mostly matches the zygote's already,
    # so only the differences are written (each write is a putenv and page faults).
    env: dict[str, str] = req["env"]
    environ = os.environ
    base = setup.environ  # what os.environ holds: the zygote changes nothing after its setup
    for k in base:
        if k not in env:
            del environ[k]
    for k, v in env.items():
        if base.get(k) != v:
            environ[k] = v
    if setup.landlock_rules is not None:
        # A second layer on top of the zygote's: writes only in this attempt's workdir.
        wfds = landlock.open_rule_fds((workdir,))
        try:
            setup.landlock_rules.restrict_self(wfds)
        finally:
            for fd, _ in wfds:
                os.close(fd)


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

    def __init__(self, sock: socket.socket, lock: threading.Lock) -> None:
        self.sock = sock
        self._lock = lock
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
    cancel = setup.cancel
    _signal.signal(_SIGTERM, lambda _s, _f: cancel.set())
    chan = _Channel(sock, setup.lock)
    c = start["context"]
    ctx = SkillContext(
        task_id=c["task_id"], skill_id=c["skill_id"], attempt=int(c["attempt"]),
        workdir=req["workdir"], config=c["config"], deadline=float(c["deadline"]),
        log=setup.log if c["skill_id"] == setup.skill_id
        else logging.getLogger(f"skillexec.skill.{c['skill_id']}"),
        progress_sink=lambda f, m: chan.send({"t": "progress", "fraction": f, "message": m}),
        artifact_sink=chan.save_artifact, cancel_event=cancel, trace=c.get("trace") or {},
    )
    net_before = _net_counters() if setup.net_counters else None
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
    if before is None:
        return None
    after = _net_counters()
    if after is None:
        return None
    return [after[0] - before[0], after[1] - before[1]]
