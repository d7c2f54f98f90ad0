"""One attempt in flight, engine side: feed the child, serve its requests, read its answer.

Everything the child sends is untrusted: frames are size-checked before they are read,
stdout and stderr are capped (past the cap the attempt is killed), and every way the child
can end — an answer, a crash, a limit, the deadline — maps to one ErrorInfo.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from skillexec.environments.imports import is_own_module
from skillexec.environments.modules import (
    missing_module_message,
    module_key,
    own_module_message,
    package_for,
)
from skillexec.environments.python_version import python_mismatch
from skillexec.errors import ErrorInfo, ErrorSeverity, ErrorType
from skillexec.runtime.entry import interpret_result
from skillexec.runtime.limits import CgroupSlot
from skillexec.runtime.runners import _protocol as proto
from skillexec.runtime.runners._channels import Capture, Conn
from skillexec.runtime.runners._child_exit import exit_error
from skillexec.runtime.runners._child_request import first_frame
from skillexec.runtime.runners._script_end import read_to_end, whole_lines
from skillexec.runtime.runners._zygote_handle import ChildExit
from skillexec.runtime.runners.base import Attempt, CancelledWithStreams, Outcome
from skillexec.runtime.workspace import WorkspaceUsage, measure_tree, quota_error
from skillexec.script_hints import script_hints, timeout_hint
from skillexec.script_npm import missing_npm_package, npm_message
from skillexec.script_stderr import missing_module_in, read_grant_hint
from skillexec.scripts import base_id, interpreter
from skillexec.skills.model import Permission
from skillexec.units import duration

__all__ = ["AttemptIO", "Capture"]

_SLACK_BYTES = 64 * 1024
# An attempt still running after this long has its workspace measured (in a worker thread,
# stopping at the quota), and again each time as long after: a skill filling the disk is
# stopped within seconds, not at its deadline. Shorter attempts are checked once, at the end.
# A walk that took long (a big tree) waits _WALK_SHARE times its duration before the next,
# so watching costs the engine at most a fifth of a core, whatever the skill makes.
_WORKSPACE_CHECK_S = 1.0
_WALK_SHARE = 4.0


@dataclass(slots=True)
class AttemptIO:
    attempt: Attempt
    pid: int
    exit_fut: asyncio.Future[ChildExit]
    sock: socket.socket
    stdout: Capture
    stderr: Capture
    overflow: asyncio.Future[None]
    slot: CgroupSlot | None
    kind: str  # "python" | "command" | "script"
    sandbox: bool
    max_output_bytes: int
    max_artifact_bytes: int
    cpu_limit_s: float | None
    stdin_fd: int | None = None
    args_sent: bool = False  # a script's arguments go as a bytes frame (see args_frame)
    first_rest: bytes | None = None  # what is left of a first frame sent early (spare)
    # Its RLIMIT_AS (a script's is None where a memory cgroup bounds it instead).
    address_space_bytes: int | None = None
    open_files: int | None = None  # its RLIMIT_NOFILE, for a failed script's hint
    started: float = field(default_factory=time.perf_counter)
    killed: bool = False
    setup_failure: str | None = None
    quota_error: ErrorInfo | None = None
    # A script's end as its child told it, before its exit (see _script_end): the attempt
    # answers without waiting for the exit, which is then settled off the call's path.
    early: ChildExit | None = None
    _ended: bool = False
    _quota_timer: asyncio.TimerHandle | None = None

    async def run(self) -> Outcome:
        # The raw socket with the loop's sock_* calls: asyncio streams cost a transport, a
        # protocol and a reader per attempt (~0.3 ms of the engine's CPU here).
        self.sock.setblocking(False)
        conn = Conn(self.sock)
        loop = asyncio.get_running_loop()
        # The conversation runs in this task; the deadline and an overflow interrupt it by
        # cancelling the task (as asyncio.timeout does) rather than racing a second task
        # with asyncio.wait: no task, waiter and done callbacks per attempt, and two fewer
        # passes of the event loop once the child has answered.
        task = asyncio.current_task()
        assert task is not None
        cancelling = task.cancelling()
        interrupted: list[str] = []  # "overflow" or "timeout", the first one only

        def interrupt(why: str) -> None:
            if not self._ended and not interrupted:
                interrupted.append(why)
                task.cancel()

        def on_overflow(_fut: asyncio.Future[None]) -> None:
            interrupt("overflow")

        # Cancellation is polled with a timer rather than a task: one less task per attempt.
        watch: list[asyncio.TimerHandle] = []

        def poll_cancel() -> None:
            if self.attempt.context.cancelled:
                # Cooperative: the child's handler sets context.cancelled; the deadline holds.
                if not self.exit_fut.done() and self.pid > 0:
                    with contextlib.suppress(OSError):
                        os.kill(self.pid, signal.SIGTERM)
                return
            watch[:] = [loop.call_later(0.2, poll_cancel)]

        watch.append(loop.call_later(0.2, poll_cancel))
        if self.attempt.context.workspace_quota is not None:
            self._quota_timer = loop.call_later(_WORKSPACE_CHECK_S, self._check_workspace)
        timeout_s = self.attempt.limits.timeout_s
        deadline = loop.call_later(timeout_s, interrupt, "timeout")
        self.overflow.add_done_callback(on_overflow)
        try:
            try:
                outcome = await (self._python(conn) if self.kind == "python"
                                 else self._script(conn) if self.kind == "script"
                                 else self._command(conn))
            except asyncio.CancelledError:
                # Ours only if nobody else cancelled the task meanwhile (the engine's own
                # cancellation of the attempt propagates; a script's, with what it printed:
                # the cancelled result keeps it, as a timed-out script's does).
                if not interrupted or task.uncancel() > cancelling:
                    if self.kind == "python":
                        raise
                    raise CancelledWithStreams(self._streams_so_far()) from None
                outcome = self._interrupted(interrupted[0], timeout_s)
        finally:
            self._ended = True  # an interrupt still queued on the loop is now a no-op
            deadline.cancel()
            self.overflow.remove_done_callback(on_overflow)
            if self._quota_timer is not None:
                self._quota_timer.cancel()
            for h in watch:
                h.cancel()
        return outcome

    def _interrupted(self, why: str, timeout_s: float) -> Outcome:
        if why == "overflow" and self.quota_error is not None:
            return Outcome(error=self.quota_error)  # the child was killed already
        self.kill()
        if why == "overflow":
            which = "stdout" if self.stdout.overflowed else "stderr"
            cap = self.stdout.cap if which == "stdout" else self.stderr.cap
            details: dict[str, Any] = {"stream": which, "cap": cap}
            if self.kind == "script":  # its start says what it was printing (13 MB of it)
                self.stdout.drain()
                self.stderr.drain()
                details.update({name: bytes(stream.buf[:_HEAD_BYTES]).decode(errors="replace")
                                for name, stream in (("stdout", self.stdout),
                                                     ("stderr", self.stderr))})
            return self._fail(ErrorType.RESOURCE, "output_too_large",
                              f"the skill wrote more than {cap} bytes to {which}" + (
                                  _TO_A_FILE if self.kind == "script" else ""),
                              details=details)
        # What a script printed before it hung says where it hung ("Installing pnpm...").
        said = {} if self.kind == "python" else self._streams_so_far()
        if self.slot is not None and (refused := self.slot.forks_refused()):
            # A fork loop held down by the pids limit until its time ran out: not a slow
            # skill to give another try (a timeout is retried).
            return self._fail(ErrorType.RESOURCE, "process_limit_exceeded",
                              f"skill {self.attempt.skill.id!r} kept starting processes "
                              f"past its limit ({refused} refused) until its time ran out "
                              f"({duration(timeout_s)})",
                              details={**said, "forks_refused": refused})
        skill = self.attempt.skill
        # A client retrying lookups or connections the sandbox refuses until time ran out.
        if said and self.sandbox and Permission.NETWORK_ACCESS not in skill.permissions and (
                hint := timeout_hint(**said, workdir=self.attempt.context.workdir,
                                     skill_id=base_id(skill))):
            said["sandbox"] = hint
        return self._fail(ErrorType.TIMEOUT, "execution_timeout",
                          f"skill {skill.id!r} did not finish within {duration(timeout_s)}"
                          + (f" ({said['sandbox']})" if "sandbox" in said else ""),
                          retryable=True, details=said or None)

    def _streams_so_far(self) -> dict[str, str]:
        """What a script printed until now. Read what the pipes hold still: a line written
        just before it was stopped is in them."""
        self.stdout.drain()
        self.stderr.drain()
        return {"stdout": self.stdout.buf.decode(errors="replace"),
                "stderr": self.stderr.buf.decode(errors="replace")}

    def _check_workspace(self) -> None:
        quota = self.attempt.context.workspace_quota
        if self._ended or quota is None:
            return
        files, size = quota
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        measuring = loop.run_in_executor(None, functools.partial(
            measure_tree, str(self.attempt.context.workdir), max_files=files, max_bytes=size))

        def measured(fut: asyncio.Future[WorkspaceUsage]) -> None:
            if self._ended or fut.cancelled() or fut.exception() is not None:
                return
            error = quota_error(fut.result(), max_files=files, max_bytes=size)
            if error is None:
                walked = time.perf_counter() - started
                self._quota_timer = loop.call_later(max(_WORKSPACE_CHECK_S, walked * _WALK_SHARE),
                                                    self._check_workspace)
            elif not self.overflow.done():
                self.quota_error = error
                self.kill()
                self.overflow.set_result(None)

        measuring.add_done_callback(measured)

    # -- Python skills: frames both ways ------------------------------------------------
    async def _python(self, conn: Conn) -> Outcome:
        ctx = self.attempt.context
        try:
            await conn.send(first_frame(self.attempt, self.kind, args_sent=False)
                            if self.first_rest is None else self.first_rest)
        except (TypeError, orjson.JSONEncodeError) as exc:
            self.kill()
            return self._fail(ErrorType.PARAMETER, "input_not_json",
                              f"the input could not be sent as JSON: {exc}")
        except OSError:
            pass  # the child died before reading: its exit status says why
        result_cap = self.max_output_bytes + _SLACK_BYTES
        while True:
            try:
                _kind, msg = await conn.read_frame(cap=result_cap)
            except proto.FrameTooLarge as exc:
                self.kill()
                return self._fail(ErrorType.RESOURCE, "output_too_large",
                                  f"the skill sent {exc.size} bytes, over the cap of "
                                  f"{self.max_output_bytes} bytes", details={"size": exc.size})
            except (EOFError, OSError, proto.ProtocolError):
                return await self._ended_without_answer()
            if not isinstance(msg, dict):
                continue
            t = msg.get("t")
            if t == "result":
                return self._result(msg)
            if t == "progress":
                with contextlib.suppress(Exception):
                    ctx.progress(float(msg.get("fraction", 0.0)), str(msg.get("message", "")))
            elif t == "artifact":
                try:
                    _k, data = await conn.read_frame(cap=self.max_artifact_bytes)
                except proto.FrameTooLarge as exc:
                    self.kill()
                    return self._fail(ErrorType.RESOURCE, "output_too_large",
                                      f"artifact of {exc.size} bytes is over the cap of "
                                      f"{self.max_artifact_bytes} bytes")
                except (EOFError, OSError, proto.ProtocolError):
                    return await self._ended_without_answer()
                await self._save_artifact(conn, msg, data)
                if (over := self.attempt.context.quota_error) is not None:
                    self.kill()  # past a quota: nothing more is read, nothing more kept
                    return Outcome(error=over)
            elif t == "setup_failed":
                self.setup_failure = str(msg.get("message"))

    async def _save_artifact(self, conn: Conn, msg: dict[str, Any], data: Any) -> None:
        reply: dict[str, Any] = {"t": "artifact_reply", "id": msg.get("id")}
        try:
            ref = await asyncio.to_thread(self.attempt.context.save_artifact,
                                          str(msg.get("name")), bytes(data),
                                          msg.get("mime") if isinstance(msg.get("mime"), str)
                                          else None)
            reply["ref"] = ref.to_dict()
        except Exception as exc:
            reply["error"] = f"{type(exc).__name__}: {exc}"
        with contextlib.suppress(OSError):
            await conn.send(proto.encode_frame(reply))

    def _result(self, msg: dict[str, Any]) -> Outcome:
        if msg.get("ok"):
            output, error = interpret_result(msg.get("value"))
            return Outcome(output=output, error=error)
        try:
            error = ErrorInfo.from_dict(msg["error"])
        except (KeyError, TypeError, ValueError):
            error = ErrorInfo(type=ErrorType.EXECUTION, code="execution_failed",
                              message="the skill failed and sent a malformed error")
        tb = msg.get("traceback")
        return Outcome(error=error, traceback=tb if isinstance(tb, str) else None)

    # -- command skills: JSON on stdin, JSON on stdout ------------------------------------
    async def _command(self, conn: Conn) -> Outcome:
        loop = asyncio.get_running_loop()
        with contextlib.suppress(OSError):
            await conn.send(proto.encode_frame({"t": "go"}))
        assert self.stdin_fd is not None
        pipe = os.fdopen(self.stdin_fd, "wb", buffering=0)
        self.stdin_fd = None
        transport, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, pipe)
        try:
            data = self.attempt.input_data
            transport.write(orjson.dumps(data.get("parameters", data)))
        finally:
            transport.close()
        await self.stdout.eof.wait()
        # Shielded: an interrupt (deadline, overflow) cancels this task, not the exit's
        # future, which the attempt still reads afterwards.
        child = await asyncio.shield(self.exit_fut)
        status = child.status
        if status is not None and os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
            raw = bytes(self.stdout.buf)
            try:
                value = orjson.loads(raw) if raw.strip() else None
            except orjson.JSONDecodeError:
                return self._fail(ErrorType.EXECUTION, "output_not_json",
                                  "the command's stdout is not JSON: "
                                  f"{raw[:200].decode(errors='replace')!r}")
            output, error = interpret_result(value)
            return Outcome(output=output, error=error)
        if status is not None and os.WIFEXITED(status):
            return self._fail(ErrorType.EXECUTION, "command_failed",
                              f"the command exited with status {os.WEXITSTATUS(status)}",
                              details={"exit_code": os.WEXITSTATUS(status),
                                       "stderr": self.stderr.tail()})
        return self._from_status(child)

    # -- bundled scripts: argv and stdin in, exit code and streams out --------------------
    async def _script(self, conn: Conn) -> Outcome:
        data = self.attempt.input_data  # its "go" (it is in its cgroups now), with its input
        with contextlib.suppress(OSError):  # dead already: its exit status says why
            await conn.send(first_frame(self.attempt, self.kind, args_sent=self.args_sent)
                            if self.first_rest is None else self.first_rest)
        said = await read_to_end(conn, self.sock, self.exit_fut)
        if said.end is not None and not data.get("session"):
            # Its streams were flushed before it said so: what they hold is all of it. (A
            # session's folder outlives the call: there the exit is awaited, so that no
            # write of the process lands after the folder was looked at.)
            child = self.early = said.end
            self.stdout.drain()
            self.stderr.drain()
            if self.stdout.overflowed or self.stderr.overflowed:
                return self._interrupted("overflow", self.attempt.limits.timeout_s)
        else:
            await self.stdout.eof.wait()
            await self.stderr.eof.wait()
            child = await self.exit_fut
        status = child.status
        if status is None or not os.WIFEXITED(status):
            return self._from_status(child) if status is not None else self._fail(
                ErrorType.EXECUTION, "child_crashed", "the script's process vanished",
                retryable=True)
        code = os.WEXITSTATUS(status)
        if code == 70 and said.setup_failed is not None:  # it could not confine itself
            return self._fail(ErrorType.RESOURCE, "isolation_unavailable",
                              f"the sandbox could not be applied: {said.setup_failed}",
                              severity=ErrorSeverity.CRITICAL)
        stdout = self.stdout.buf.decode(errors="replace")
        out: dict[str, Any] = {"exit_code": code, "stdout": stdout,
                               "stderr": self.stderr.buf.decode(errors="replace")}
        if code == 0:
            return Outcome(output=out)
        if (missing := said.missing_module or missing_module_in(self.stderr.tail())):
            return self._missing_module(missing, out, blocked=said.blocked)
        skill = self.attempt.skill
        script = skill.entry.file
        if script is not None and _runs_on_node(script) and (
                package := missing_npm_package(self.stderr.tail())):
            return self._fail(ErrorType.DEPENDENCY, "missing_module", npm_message(
                package, skill_id=base_id(skill), folder=skill.path, script=script),
                details={**out, "module": package, "package": package, "npm": True})
        tail = whole_lines(self.stderr.tail().strip(), 500)
        limit = self.address_space_bytes
        hints = script_hints(
            stderr=self.stderr.tail(), stdout=stdout,
            requires_python=python_mismatch(script) if script is not None else None,
            sandbox=self.sandbox, network=Permission.NETWORK_ACCESS in skill.permissions,
            address_space_mb=limit // (1 << 20) if limit else None, folder=skill.path,
            open_files=self.open_files, skill_id=base_id(skill),
            system_info=Permission.SYSTEM_INFO in skill.permissions,
            workdir=self.attempt.context.workdir, script=script,
            args=self.attempt.input_data.get("args") or ())
        out.update(hints)
        notes = "".join(f" (the script {v})" if k == "requires_python" else f" ({v})"
                        for k, v in hints.items())
        return self._fail(ErrorType.EXECUTION, "script_exit",
                          f"the script exited with status {code}" + (f": {tail}" if tail else "")
                          + notes, details=out)

    def _missing_module(self, module: str, out: dict[str, Any], *,
                        blocked: tuple[str, ...]) -> Outcome:
        """A script ended by an import nothing provides: the package to declare, unless the
        module is the skill's own (``from scripts.call_api import x``, with ``scripts``
        the skill's folder): a package of that name on the index is someone else's; or
        unless the folder the script looked in is there, seen from here, but hidden by its
        sandbox (``blocked``: what it put on sys.path and could not open)."""
        skill = self.attempt.skill
        script = skill.entry.file
        sid = base_id(skill)
        details = {**out, "module": module_key(module)}
        if hidden := [p for p in blocked if self.sandbox and os.path.isdir(p)]:
            grant = read_grant_hint(sid, hidden[0],
                                    file_read=Permission.FILE_READ in skill.permissions)
            return self._fail(ErrorType.PERMISSION, "sandbox_denied", (
                f"skill {sid!r}: the script cannot import {module!r}: the folder it looks "
                f"in, {hidden[0]}, is outside the skill's folder, which the sandbox lets no "
                f"skill read (a plugin's skills read their plugin's folder): {grant}"),
                details={**details, "blocked": hidden, "grant": grant})
        if is_own_module(skill, module, beside=script.parent if script else None):
            where = "the skill's folder"
            if script is not None and skill.path is not None:
                rel = os.path.relpath(script.parent, skill.path.resolve())
                where = where if rel == "." else f"{rel}/"
            return self._fail(ErrorType.DEPENDENCY, "missing_module", own_module_message(
                module, skill_id=sid, where=where), details={**details, "own": True})
        return self._fail(ErrorType.DEPENDENCY, "missing_module", missing_module_message(
            module, skill_id=sid), details={**details, "package": package_for(module)})

    # -- endings ----------------------------------------------------------------------------
    async def _ended_without_answer(self) -> Outcome:
        try:
            child = await asyncio.wait_for(asyncio.shield(self.exit_fut), 5.0)
        except TimeoutError:
            self.kill()
            child = ChildExit(status=None)
        if self.setup_failure is not None:
            return self._fail(ErrorType.RESOURCE, "isolation_unavailable",
                              f"the sandbox could not be applied: {self.setup_failure}",
                              severity=ErrorSeverity.CRITICAL)
        return self._from_status(child)

    def _from_status(self, child: ChildExit) -> Outcome:
        return Outcome(error=exit_error(child, cpu_limit_s=self.cpu_limit_s, slot=self.slot,
                                        stderr_tail=self.stderr.tail))

    def _fail(self, etype: ErrorType, code: str, message: str, *, retryable: bool = False,
              severity: ErrorSeverity = ErrorSeverity.MEDIUM,
              details: dict[str, Any] | None = None) -> Outcome:
        return Outcome(error=ErrorInfo(type=etype, code=code, message=message,
                                       retryable=retryable, severity=severity,
                                       details=details or {}))

    def stop(self) -> None:
        """A child that said it ended (see _script_end): SIGKILL it, its process group and
        what is in its cgroups, without waiting for any of them to be gone."""
        self.killed = True
        if not self.exit_fut.done() and self.pid > 0:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.slot is not None:
            self.slot.signal_all()

    def kill(self) -> None:
        """SIGKILL the child's process group and everything left in its cgroups."""
        self.killed = True
        if not self.exit_fut.done() and self.pid > 0:  # 0: gone before it was found
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        if self.slot is not None:
            self.slot.kill_all()


# A script's output that does not fit a stream (its whole extracted text) has a place.
_HEAD_BYTES = 16 << 10  # of each stream, kept in the details
_TO_A_FILE = (" (each stream's cap, limits.max_stream_bytes; the first "
              f"{_HEAD_BYTES >> 10} KiB of each are in the details); write large output to "
              "a file in the workspace instead: the files a script writes are the call's "
              "artifacts")


def _runs_on_node(script: Path) -> bool:
    try:
        return interpreter(script) == "node"
    except KeyError:
        return False
