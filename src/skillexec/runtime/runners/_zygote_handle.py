"""Engine side of one zygote: start it, ask it to fork, hear about exits, stop it.

The process started is a launcher; the zygote is its child and pid 1 of a PID namespace
(see ``_zygote``). Pids the zygote reports are that namespace's: a forked child's pid on
the host comes from the kernel, with the first byte the child sends on its own socket
(``_channels.peer_pid``). The zygote's stdout and stderr come back on one pipe, of which the
last ``OUTPUT_TAIL_BYTES`` are kept for the error of a failed start; nothing reaches the
engine's terminal.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from skillexec.errors import ErrorInfo, ErrorType
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._attempt_metrics import NetCounters
from skillexec.runtime.runners._zygote import SPEC_ENV
from skillexec.runtime.workspace import remove_tree

__all__ = ["OUTPUT_TAIL_BYTES", "ChildExit", "SpareBusy", "SpareGone", "ZygoteDied",
           "ZygoteHandle"]

OUTPUT_TAIL_BYTES = 64 * 1024

# The zygote's bootstrap. It imports only what it needs: every resident megabyte costs each
# fork about 0.1 ms here (page tables), which is why ``skillexec`` and ``skillexec.skills``
# import their public names lazily. ``_fork.install`` comes first: it must see every
# at-fork hook registered (see ``_fork``).
_BOOT = """
import json, os, sys
sys.path[:0] = json.loads(os.environ.pop("SKILLEXEC_ZYGOTE_PATH"))
from skillexec.runtime.runners._fork import install
install()
from skillexec.runtime.runners._zygote import main
main()
"""


class ZygoteDied(Exception):
    pass


class SpareGone(Exception):
    """The zygote made no spare when asked, or a call named one it no longer has."""


class SpareBusy(SpareGone):
    """The zygote made no spare when asked because a call came first (ask again later)."""


@dataclass(frozen=True, slots=True)
class ChildExit:
    status: int | None  # None: unknown (the zygote died before it could reap the child)
    cpu_s: float | None = None
    maxrss_kb: int | None = None
    inblock: int | None = None
    oublock: int | None = None
    minflt: int | None = None  # page faults: on a VM each costs several microseconds
    unclaimed: bool = False  # a spare that ended before it took a call (ran none of it)


class ZygoteHandle:
    def __init__(self, spec: dict[str, Any], *, env: dict[str, str],
                 private_dir: str | None = None) -> None:
        self._spec = spec
        self.spec_netns = bool(spec.get("netns"))
        self.pidns = bool(spec.get("pidns"))
        self.userns = bool(spec.get("userns"))
        self.uid: int | None = spec.get("uid")  # its identity, leased (None: the engine's)
        # The skill environment it imported from: another one needs another parent.
        self.env_paths = tuple(spec.get("skill", {}).get("env_paths", ()))
        # The folder its code came from: another folder of the same id needs another parent.
        self.folder: str | None = spec.get("skill", {}).get("path")
        # The zygote's HOME/TMPDIR/XDG folder: removed once it is dead.
        self.private_dir = private_dir
        self._out_fd = -1
        self._out_tail = bytearray()
        self.on_death: Callable[[], None] | None = None  # once, when the zygote is gone
        self._env = env
        self.env = env  # the zygote's starting environment (children get "env_extra" on top)
        self.base_env = env  # the same without its private folders (set by the runner)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self._sock: socket.socket | None = None
        self._ready: asyncio.Future[None] | None = None
        self._forks: dict[int, asyncio.Future[tuple[int, asyncio.Future[ChildExit]]]] = {}
        self._exits: dict[int, asyncio.Future[ChildExit]] = {}
        self._next_id = 0
        self.dead = False
        self.error: ErrorInfo | None = None
        self.attempts = 0
        self.active = 0
        self.overlapped = False  # attempts ran at once: per-namespace counters are shared
        self.last_used = time.monotonic()
        self.retired = False
        self._net: NetCounters | None = None
        # Its spare, forked and in a cgroup slot (a _spare_engine.ReadySpare), and whether
        # one is being made, or spares are off for good (one died or could not be placed).
        self.spare: Any = None
        self.spare_making = False
        self.spares_off = False

    async def start(self, *, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        spec = dict(self._spec, control_fd=child.fileno(), engine_pid=os.getpid())
        env = dict(self._env)
        env[SPEC_ENV] = orjson.dumps(spec).decode()
        env["SKILLEXEC_ZYGOTE_PATH"] = orjson.dumps([p for p in sys.path if p]).decode()
        try:
            # Started from the loop's thread: the zygote's parent-death signal follows the
            # thread that forked it.
            # Its own session (no controlling terminal), stdin from /dev/null, stdout and
            # stderr into a pipe read (and capped) here.
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - a vfork+exec, no waiting
                [sys.executable, "-I", "-c", _BOOT], env=env, pass_fds=(child.fileno(),),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True)
        except OSError as exc:
            parent.close()
            self.error = ErrorInfo(type=ErrorType.RESOURCE, code="zygote_failed",
                                   message=f"the skill's zygote could not be started: {exc}")
            self._on_death()  # its private folder and slot go now
            return
        finally:
            child.close()
        self.pid = self.proc.pid
        assert self.proc.stdout is not None
        self._out_fd = os.dup(self.proc.stdout.fileno())
        self.proc.stdout.close()
        os.set_blocking(self._out_fd, False)
        loop.add_reader(self._out_fd, self._read_output)
        parent.setblocking(False)
        self._sock = parent
        self._ready = loop.create_future()
        loop.add_reader(parent.fileno(), self._on_readable)
        skill_id = self._spec.get("skill", {}).get("id", "?")
        try:
            await asyncio.wait_for(asyncio.shield(self._ready), timeout_s)
        except TimeoutError:
            self.error = ErrorInfo(
                type=ErrorType.TIMEOUT, code="import_timeout",
                message=f"skill {skill_id!r} did not finish importing within {timeout_s:g} s "
                        f"(zygote_import_timeout_s)", details={"timeout_s": timeout_s})
            self.kill()
        except ZygoteDied:
            if self.error is None:
                self.error = ErrorInfo(type=ErrorType.EXECUTION, code="zygote_failed",
                                       message=f"the zygote of skill {skill_id!r} exited "
                                               f"while starting")
            self.kill()
        if self.error is not None:
            self._read_output()
            tail = self.output_tail()
            if tail:
                self.error = ErrorInfo(
                    type=self.error.type, code=self.error.code, message=self.error.message,
                    retryable=self.error.retryable, severity=self.error.severity,
                    details={**self.error.details, "output": tail})
        elif self.pidns:
            self.pid = _only_child(self.proc.pid)
            if not self.pid:  # fail closed: its children could not be told apart
                self.error = ErrorInfo(
                    type=ErrorType.RESOURCE, code="isolation_unavailable",
                    message=f"the zygote of skill {skill_id!r} cannot be found in /proc")
                self.pid = self.proc.pid
                self.kill()

    def _read_output(self) -> None:
        fd = self._out_fd
        if fd < 0:
            return
        tail = self._out_tail
        while True:
            try:
                chunk = os.read(fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                chunk = b""
            if not chunk:
                self._close_output()
                return
            tail += chunk
            if len(tail) > OUTPUT_TAIL_BYTES:
                del tail[:len(tail) - OUTPUT_TAIL_BYTES]

    def _close_output(self) -> None:
        if self._out_fd >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._out_fd)
            os.close(self._out_fd)
            self._out_fd = -1

    def output_tail(self) -> str:
        """The last bytes the zygote wrote to stdout or stderr (its import's output)."""
        return self._out_tail.decode(errors="replace")

    def _on_readable(self) -> None:
        assert self._sock is not None
        while True:
            try:
                msg, fds = proto.recv_control(self._sock)
            except BlockingIOError:
                return
            except (EOFError, OSError, proto.ProtocolError):
                self._on_death()
                return
            for fd in fds:
                os.close(fd)
            self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        t = msg.get("t")
        if t == "forked":
            fut = self._forks.pop(int(msg["id"]), None)
            pid = int(msg["pid"])
            ex_fut = self._exits.get(pid)  # a spare's, named by a call
            if ex_fut is None:
                ex_fut = self._exits[pid] = asyncio.get_running_loop().create_future()
            if fut is not None and not fut.done():
                fut.set_result((pid, ex_fut))
        elif t == "fork_failed":
            fut = self._forks.pop(int(msg["id"]), None)
            if fut is not None and not fut.done():
                spare = msg.get("spare")
                fut.set_exception((SpareBusy if spare == "busy" else SpareGone if spare
                                   else ZygoteDied)(str(msg.get("message"))))
        elif t == "exited":
            ex = self._exits.pop(int(msg["pid"]), None)
            if ex is not None and not ex.done():
                ex.set_result(ChildExit(
                    status=int(msg["status"]), cpu_s=float(msg["utime"]) + float(msg["stime"]),
                    maxrss_kb=int(msg["maxrss_kb"]), inblock=int(msg["inblock"]),
                    oublock=int(msg["oublock"]), minflt=int(msg.get("minflt", 0)),
                    unclaimed=bool(msg.get("unclaimed"))))
        elif t == "ready":
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif t == "error":
            self.error = ErrorInfo.from_dict(msg["error"])

    def _on_death(self) -> None:
        if self.dead:
            return
        self.dead = True
        if self._sock is not None:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
        if self._ready is not None and not self._ready.done():
            self._ready.set_exception(ZygoteDied("zygote exited"))
            self._ready.exception()  # consumed: start() may have timed out already
        for fut in self._forks.values():
            if not fut.done():
                fut.set_exception(ZygoteDied("zygote exited"))
        for ex in self._exits.values():
            if not ex.done():
                ex.set_result(ChildExit(status=None))
        self._forks.clear()
        self._exits.clear()
        if self.spare is not None:
            spare, self.spare = self.spare, None
            spare.discard()
        if self._net is not None:
            self._net.close()  # it holds the namespace: not past the zygote's life
        self._reap_self()
        self._read_output()
        self._close_output()
        if self.private_dir is not None:
            # What the skill's import left there may nest deeper than shutil.rmtree's
            # recursion goes (its RecursionError ended engine.close).
            with contextlib.suppress(OSError):
                remove_tree(self.private_dir)
            self.private_dir = None
        if self.on_death is not None:
            done, self.on_death = self.on_death, None
            done()

    async def fork(self, request: dict[str, Any], fds: list[int], *, kind: str = "fork",
                   ) -> asyncio.Future[tuple[int, asyncio.Future[ChildExit]]]:
        """Ask for a child (``kind`` "spare": a spare, see ``_spare``); the future
        (awaited by the caller, as late as it can: other news of the child may come
        first) resolves to its pid as the zygote sees it (in its PID namespace, if it
        has one) and the future of its exit, or fails with ZygoteDied (SpareGone: no
        spare made, or the one named is gone)."""
        if self.dead or self._sock is None:
            raise ZygoteDied("zygote is not running")
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[tuple[int, asyncio.Future[ChildExit]]] = (
            asyncio.get_running_loop().create_future())
        self._forks[rid] = fut
        msg = dict(request, t=kind, id=rid)
        try:
            await _send_with_fds(self._sock, msg, fds)
        except OSError as exc:
            self._forks.pop(rid, None)
            self._on_death()
            raise ZygoteDied(f"zygote control channel failed: {exc}") from exc
        return fut

    def net_counters(self) -> tuple[int, int] | None:
        """Bytes received and sent in the zygote's network namespace (None: unknown)."""
        if self.dead or self.pid <= 0:
            return None
        if self._net is None:
            self._net = NetCounters(self.pid)
        return self._net.read()

    def rss_mb(self) -> float:
        try:
            with open(f"/proc/{self.pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6
        except (OSError, ValueError, IndexError):
            return 0.0

    def retire(self) -> None:
        """Stop taking forks; the zygote exits once its running children are reaped."""
        self.retired = True
        if self.dead or self._sock is None:
            return
        if self.spare is not None:  # (one a call has taken is that call's to end)
            spare, self.spare = self.spare, None
            spare.discard()
        if self.active == 0:
            self.kill()
            return
        with contextlib.suppress(OSError):
            proto.send_control(self._sock, {"t": "retire"})

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            # The zygote first (pid 1: its namespace dies with it), then the launcher.
            for pid in ({self.pid, self.proc.pid} if self.pid > 0 else {self.proc.pid}):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._on_death()

    def _reap_self(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=0.5)


def _only_child(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
            kids = f.read().split()
    except OSError:
        return 0
    return int(kids[0]) if len(kids) == 1 else 0


async def _send_with_fds(sock: socket.socket, msg: dict[str, Any], fds: list[int]) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            proto.send_control(sock, msg, fds)
            return
        except BlockingIOError:
            await _writable(loop, sock)


async def _writable(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    loop.add_writer(sock.fileno(), ready)
    try:
        await fut
    finally:
        loop.remove_writer(sock.fileno())
