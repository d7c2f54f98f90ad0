"""The process runner: one child per attempt, forked from a warm per-skill zygote.

Per attempt the engine side leases a cgroup slot, hands the zygote a socket and two pipes
(SCM_RIGHTS), moves the forked child into the slot, sends it its input, then serves its
progress and artifact requests until it answers, fails, overruns a cap or the deadline.
Whatever happens, the child's process group and everything left in its slot is killed
before ``run`` returns (or re-raises a cancellation).

Each skill's zygote gets its own identity: a uid leased host-wide (``security.uids``) when
the engine is root, and always, where the kernel allows, a PID namespace of its own (inside
a user namespace when the engine is not root). The trust boundary is the skill: attempts of
the same skill share an identity, a zygote, its private HOME and its work root
(``<work_root>/<skill slot>/``), which is all a skill's import-time code can ever write.

``SandboxRunner`` (sandbox.py) is this runner with ``sandbox=True``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import time
from functools import partial
from pathlib import Path
from typing import Any

from skillexec.errors import ErrorInfo, ErrorType, SkillExecError
from skillexec.runtime.capabilities import detect_capabilities
from skillexec.runtime.limits import CgroupSlot
from skillexec.runtime.runners import _spare_engine
from skillexec.runtime.runners._attempt import AttemptIO, Capture
from skillexec.runtime.runners._attempt_metrics import ms_since, with_metrics
from skillexec.runtime.runners._channels import NoCredentials, peer_pid, socket_pair
from skillexec.runtime.runners._child_request import (
    AttemptPlan,
    child_request,
    plan_attempt,
    script_exe,
)
from skillexec.runtime.runners._mechanisms import mechanisms, refusal
from skillexec.runtime.runners._output_tap import OutputTap
from skillexec.runtime.runners._script_end import answered, release, settle_later
from skillexec.runtime.runners._script_files import (
    Snapshot,
    collect,
    in_session,
    snapshot,
    write_inputs,
)
from skillexec.runtime.runners._spare_engine import ReadySpare, send_call
from skillexec.runtime.runners._zygote_handle import SpareGone, ZygoteDied, ZygoteHandle
from skillexec.runtime.runners._zygote_pool import ZygotePool
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.runtime.workspace import TMP_DIR, holds_nothing, skill_slot
from skillexec.script_env import checked_env
from skillexec.scripts import base_id, interpreter
from skillexec.skills.model import EntryKind, Skill

__all__ = ["ProcessRunner", "skill_slot"]

_MB = 1024 * 1024



class ProcessRunner:
    name = "process"
    # Its attempts say when their processes are gone (SkillContext.settled): their empty
    # workspaces may be kept for the next (runtime.workspace.WorkspaceSpares).
    settles_workdirs = True
    # Its outputs are read from the child's JSON: already what the journal holds, and held
    # by nobody else (the engine does not read them back from JSON once more).
    outputs_json = True

    def __init__(self, *, settings: IsolationSettings | None = None, sandbox: bool = False,
                 ) -> None:
        self.settings = settings or IsolationSettings()
        self.sandbox = sandbox
        self.name = "sandbox" if sandbox else "process"
        self._caps = detect_capabilities()
        self.zygotes = ZygotePool(self.settings, self._caps, sandbox=sandbox,
                                  mechanisms=self._mechanisms)
        self._settling: set[asyncio.Task[None]] = set()  # see settle_later
        self._closed = False

    # -- Runner protocol ------------------------------------------------------------------
    async def prepare(self, skill: Skill) -> None:
        if self.refusal(skill) is None:
            wr = self.settings.work_root
            zyg = await self.zygotes.get(
                skill, f"{wr}/{skill_slot(skill.id)}" if wr is not None else None)
            if zyg.error is not None:
                self.zygotes.note_failed_warmup(skill, zyg)

    async def run(self, attempt: Attempt) -> Outcome:
        if (sid := attempt.input_data.get("session")) and attempt.skill.entry.kind is \
                EntryKind.SCRIPT:  # one call at a time in its folder, however it came
            return await in_session(attempt, sid, self._run)
        return await self._run(attempt)

    async def _run(self, attempt: Attempt) -> Outcome:
        started = time.perf_counter()
        skill = attempt.skill
        refusal = self.refusal(skill)
        if refusal is not None:
            return Outcome(error=refusal, metrics={"wall_ms": ms_since(started)})
        workdir = attempt.context.workdir
        root = str(workdir.parent)
        before: Snapshot | None = None
        if skill.entry.kind is EntryKind.SCRIPT:
            try:
                root, before = await self._script_inputs(attempt, workdir)
            except SkillExecError as exc:
                return Outcome(error=exc.info, metrics={"wall_ms": ms_since(started)})
        for tries in range(2):
            zyg = await self.zygotes.in_time(attempt, root, started)
            if isinstance(zyg, Outcome):
                return zyg  # still importing when the attempt's time was up
            if zyg.error is not None:
                # Answered now (this call waited on the failed warm-up itself): the next
                # call tries the import again.
                self.zygotes.forget_failed_warmup(skill)
                return Outcome(error=zyg.error, metrics={"wall_ms": ms_since(started)})
            try:
                outcome = await self._run_on(zyg, attempt, workdir, started)
                if before is not None and (outcome.error is None
                                           or outcome.error.code == "script_exit"):
                    await self._script_outputs(attempt, workdir, before, outcome)
                return outcome
            except ZygoteDied:
                self.zygotes.drop(skill, zyg)
                if tries:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        for settling in list(self._settling):
            settling.cancel()  # their slots are killed with the pool, below
        await self.zygotes.close()

    # -- bundled scripts: files in, files out (see _script_files) ---------------------------
    async def _script_inputs(self, attempt: Attempt, workdir: Path) -> tuple[str, Snapshot]:
        """Before a script runs: its interpreter found, the call's environment variables
        checked (again: engine.execute of a script's id comes here without run_script's
        check), the call's files written into its workspace (a session's handed to this
        skill's uid), what is there noted. Returns the work root of the skill's script
        parent (that of the skill the script is of: one warm parent for all its scripts)
        and the snapshot."""
        skill = attempt.skill
        if given := attempt.input_data.get("env"):
            refused = self.settings.permission_policy.env_refused(skill, checked_env(given))
            if refused is not None:
                raise refused
        interp = interpreter(skill.entry.file or "")
        if interp != "python":
            script_exe(self.settings, interp)
        wr = self.settings.work_root
        root = f"{wr}/{skill_slot(base_id(skill))}" if wr is not None else str(workdir.parent)
        files = attempt.input_data.get("files") or {}
        session = attempt.input_data.get("session")
        if not files and not session:
            return root, {}  # a fresh workspace, empty: no thread hop for nothing
        uid = self.zygotes.uid(skill) if self._mechanisms(skill)["uid"] else None
        max_files = attempt.context.workspace_quota[0] if attempt.context.workspace_quota \
            else 100_000

        def prepare() -> Snapshot:
            write_inputs(str(workdir), files, uid=uid)
            # One walk: a session's folder is handed to this skill's uid as it is noted.
            return snapshot(str(workdir), max_files=max_files,
                            uid=uid if session else None)

        return root, await asyncio.to_thread(prepare)

    async def _script_outputs(self, attempt: Attempt, workdir: Path, before: Snapshot,
                              outcome: Outcome) -> None:
        """After it ran: each file it created or changed becomes an artifact (quotas as for
        any skill's artifacts: past one, the attempt ends with its error)."""
        ctx = attempt.context
        max_files = ctx.workspace_quota[0] if ctx.workspace_quota else 100_000
        if not before and holds_nothing(str(workdir)):
            ctx.workdir_empty = True  # the common case: it made nothing (seen once)
            return
        try:
            await asyncio.to_thread(collect, str(workdir), before, max_files=max_files,
                                    max_bytes=self.settings.max_artifact_bytes,
                                    save=ctx.save_artifact)
        except SkillExecError as exc:
            failed = outcome.failed_with(ctx.quota_error or exc.info)
            outcome.output, outcome.error = None, failed.error

    # -- policy and capabilities ----------------------------------------------------------
    def refusal(self, skill: Skill) -> ErrorInfo | None:
        return refusal(self.name, self.settings, self._caps, skill)

    def _mechanisms(self, skill: Skill) -> dict[str, bool]:
        return mechanisms(self.settings, self._caps, skill, sandbox=self.sandbox)

    # -- one attempt ----------------------------------------------------------------------
    async def _run_on(self, zyg: ZygoteHandle, attempt: Attempt, workdir: Path,
                      started: float) -> Outcome:
        s = self.settings
        skill = attempt.skill
        plan = plan_attempt(s, attempt)
        uid = zyg.uid
        if uid is not None:
            os.chown(workdir, uid, uid)
            with contextlib.suppress(FileNotFoundError):  # a spare's (see WorkspaceSpares)
                os.chown(f"{workdir}/{TMP_DIR}", uid, uid, follow_symlinks=False)
        # A spare (forked ahead, in a slot already) serves any call but a command's.
        spare = None if plan.command else _spare_engine.take(zyg)
        slot = spare.slot if spare is not None else self.zygotes.slot()
        if slot is not None:
            slot.arm(memory_bytes=plan.memory_mb * _MB, max_pids=s.max_processes)
        request = child_request(s, attempt, plan, workdir=workdir,
                                own_pids=uid is not None or zyg.userns,
                                hello=zyg.pidns and spare is None,
                                memory_cgroup=slot is not None and slot.memory_dir is not None)
        zyg.active += 1
        zyg.attempts += 1
        zyg.last_used = time.monotonic()
        # The zygote's network namespace is the attempt's alone, if no other attempt runs
        # in it: its counters are read here, from outside, rather than by the child (every
        # page a child touches costs it a copy-on-write fault).
        net_before = zyg.net_counters() if zyg.spec_netns and zyg.active == 1 else None
        exiting: asyncio.Future[Any] | None = None
        child: Any = None
        try:
            try:
                outcome, child, exiting = await self._fork_and_serve(
                    zyg, attempt, request, plan, slot, spare)
            except SpareGone:  # it died after it was placed: forked as before, elsewhere
                assert spare is not None
                spare.slot = slot
                spare.discard()
                zyg.spares_off = True  # as when one dies waiting: none in a loop
                slot = self.zygotes.slot()
                if slot is not None:
                    slot.arm(memory_bytes=plan.memory_mb * _MB, max_pids=s.max_processes)
                request["hello"] = zyg.pidns
                outcome, child, exiting = await self._fork_and_serve(
                    zyg, attempt, request, plan, slot, None)
            net = None
            if net_before is not None and zyg.active == 1:
                after = zyg.net_counters()
                if after is not None:
                    net = [after[0] - net_before[0], after[1] - net_before[1]]
            return with_metrics(outcome, started, child, net, slot=slot)
        finally:
            zyg.active -= 1
            zyg.last_used = time.monotonic()
            cgroups = self.zygotes.cgroups
            if slot is not None and cgroups is not None:
                # Whether every process of the attempt is gone: its child seen to exit,
                # and its slot seen empty (the workspace may then be kept: see
                # ExecutionEnvironment.finish).
                settled = attempt.context.settled = asyncio.get_running_loop().create_future()
                if exiting is not None and not exiting.done():
                    settle_later(exiting, slot, cgroups, self._settling, settled)
                else:
                    exited = exiting is not None or (child is not None
                                                      and child.status is not None)
                    settled.set_result(release(slot, cgroups) and exited)
            self.zygotes.after_attempt(skill, zyg)
            if s.zygote_spare and not self._closed:
                # The next call's child, forked and placed while none runs.
                _spare_engine.want(zyg, self.zygotes.slot, self.zygotes.release_slot,
                                   self._settling)

    async def _fork_and_serve(self, zyg: ZygoteHandle, attempt: Attempt,
                              request: dict[str, Any], plan: AttemptPlan,
                              slot: CgroupSlot | None, spare: ReadySpare | None,
                              ) -> tuple[Outcome, Any, asyncio.Future[Any] | None]:
        """Fork the child (or hand the call to ``spare``), serve it until it answers or
        fails; its exit status with it, and the future of its exit when it answered before
        it (its slot is settled later). SpareGone: ``spare`` was gone (nothing ran)."""
        s = self.settings
        command = plan.command
        first_rest: bytes | None = None
        if spare is not None:
            engine_sock, out_r, err_r, in_w = spare.sock, spare.out_r, spare.err_r, -1
            spare.out_r = spare.err_r = -1
        else:
            engine_sock, child_sock = socket_pair(passcred=zyg.pidns)
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
            in_r, in_w = os.pipe2(os.O_CLOEXEC) if command else (-1, -1)
            child_fds = [child_sock.fileno(), out_w, err_w] + ([in_r] if command else [])
        overflow: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        io: AttemptIO | None = None
        stdout = stderr = None
        tap: OutputTap | None = None
        try:
            if spare is not None:
                # In its slot already: the call goes to it, not to the zygote.
                forked = asyncio.get_running_loop().create_future()
                forked.set_result((spare.pid, spare.exit_fut))
                first_rest = send_call(engine_sock, attempt, request)
            else:
                try:
                    forked = await zyg.fork(request, child_fds)
                finally:
                    child_sock.close()
                    for fd in (out_w, err_w, in_r):
                        if fd >= 0:
                            os.close(fd)
            host = spare.host if spare is not None else 0
            placed: asyncio.Future[None] | None = None
            if zyg.pidns and spare is None:
                # The zygote's number is its namespace's; the kernel gives ours, with the
                # child's first byte. Awaited first: the zygote's answer is usually in by
                # then (one wake-up, not two). 0: the child is gone already (nothing left
                # to signal or to move), or never came (then ``forked`` says why).
                try:
                    host = await peer_pid(engine_sock)
                except NoCredentials as exc:
                    # Fail closed: a child that cannot be found is not sent its input (it
                    # exits on the closed socket) and the attempt fails.
                    engine_sock.shutdown(socket.SHUT_RDWR)
                    _pid, exit_fut = await forked
                    await asyncio.wait((exit_fut,), timeout=5.0)
                    return Outcome(error=ErrorInfo(
                        type=ErrorType.RESOURCE, code="isolation_unavailable",
                        message=f"the skill's child could not be identified: {exc}")), (
                        exit_fut.result() if exit_fut.done() else None), None
                if slot is not None and host > 0:
                    placed = _place(slot, host)  # while the zygote's answer comes
            pid, exit_fut = await forked
            if zyg.pidns or spare is not None:
                pid = host
            if placed is None and slot is not None and pid > 0 and spare is None:
                placed = _place(slot, pid)
            if placed is not None:
                await placed  # before its input: the skill's code runs inside its limits
            if request["kind"] == "script" and attempt.context.followed:
                tap = OutputTap(attempt.context.progress)
            stdout = Capture(out_r, cap=plan.max_output_bytes if command
                             else s.max_stdout_bytes, overflow=overflow,
                             tap=None if tap is None else partial(tap.feed, 1))
            stderr = Capture(err_r, cap=s.max_stdout_bytes, overflow=overflow,
                             tap=None if tap is None else partial(tap.feed, 2))
            out_r = err_r = -1
            io = AttemptIO(attempt=attempt, pid=pid, exit_fut=exit_fut, sock=engine_sock,
                           stdout=stdout, stderr=stderr, overflow=overflow, slot=slot,
                           kind=request["kind"], sandbox=self.sandbox,
                           max_output_bytes=plan.max_output_bytes,
                           max_artifact_bytes=s.max_artifact_bytes, cpu_limit_s=plan.cpu_s,
                           stdin_fd=in_w if command else None,
                           args_sent="args_frame" in request, first_rest=first_rest,
                           address_space_bytes=request["limits"]["data_bytes"]
                           or request["limits"]["memory_bytes"],
                           open_files=request["limits"]["open_files"])
            in_w = -1
            outcome = await io.run()
            if spare is not None and outcome.error is not None and await _unclaimed(exit_fut):
                raise SpareGone("the spare ended before it took the call")  # none of it ran
            if io.early is not None:
                io.stop()  # it is exiting already; whatever it started too
                return outcome, answered(io.early, exit_fut, io.pid), exit_fut
            return outcome, await _reap(io, exit_fut, outcome), None
        except BaseException:
            if io is not None:
                io.kill()
            raise
        finally:
            for fd in (out_r, err_r, in_w):
                if fd >= 0:
                    os.close(fd)
            if tap is not None:
                tap.close()
            for cap in (stdout, stderr):
                if cap is not None:
                    cap.close()
            engine_sock.close()



def _place(slot: CgroupSlot, pid: int) -> asyncio.Future[None]:
    """Move the child into its slot in a worker thread. A cgroup v1 attach waits for an RCU
    grace period unless one ran lately: 0.2 ms back to back, 10-40 ms after a quiet spell
    or under load, which on the loop stalled every other call."""
    return asyncio.get_running_loop().run_in_executor(None, _add, slot, pid)


def _add(slot: CgroupSlot, pid: int) -> None:
    with contextlib.suppress(OSError):  # it died already: its exit status says
        slot.add(pid)


async def _unclaimed(exit_fut: asyncio.Future[Any]) -> bool:
    """Whether a spare that failed its call ended before it took it (its zygote says so)."""
    if not exit_fut.done():
        await asyncio.wait((exit_fut,), timeout=1.0)
    return exit_fut.done() and bool(exit_fut.result().unclaimed)


async def _reap(io: AttemptIO, exit_fut: asyncio.Future[Any], outcome: Outcome) -> Any:
    """The child's exit status once it is gone (None if it was not seen to exit)."""
    if not io.killed and not exit_fut.done():
        # It answered: give it a moment to exit on its own (cheaper than a kill).
        # asyncio.wait, not wait_for(shield()): no task, and exit_fut is left alone.
        await asyncio.wait((exit_fut,), timeout=1.0)
    io.kill()  # daemons and stragglers: nothing outlives its attempt
    if not exit_fut.done():
        await asyncio.wait((exit_fut,), timeout=5.0)
    child = exit_fut.result() if exit_fut.done() else None
    if child is None and outcome.error is not None:  # killed, but not seen to exit
        outcome.error = dataclasses.replace(outcome.error, details={
            **outcome.error.details, "attempt_may_still_run": True})
    return child
