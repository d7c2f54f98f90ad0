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
from pathlib import Path
from typing import Any

from skillexec.errors import ErrorInfo, ErrorType, SkillExecError
from skillexec.runtime.capabilities import detect_capabilities
from skillexec.runtime.limits import CgroupPool, CgroupSlot
from skillexec.runtime.runners import _spec
from skillexec.runtime.runners._attempt import AttemptIO, Capture
from skillexec.runtime.runners._attempt_metrics import ms_since, with_metrics
from skillexec.runtime.runners._channels import NoCredentials, peer_pid
from skillexec.runtime.runners._child_request import (
    AttemptPlan,
    child_request,
    plan_attempt,
    script_exe,
)
from skillexec.runtime.runners._mechanisms import mechanisms, refusal
from skillexec.runtime.runners._script_end import answered, settle_later
from skillexec.runtime.runners._script_files import (
    Snapshot,
    collect,
    snapshot,
    write_inputs,
)
from skillexec.runtime.runners._zygote_handle import ZygoteDied, ZygoteHandle
from skillexec.runtime.runners._zygote_setup import new_zygote, sweep_stale
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.runtime.workspace import skill_slot
from skillexec.scripts import base_id, interpreter
from skillexec.security.uids import UidLease, lease_uid
from skillexec.skills.model import EntryKind, Skill
from skillexec.units import duration

__all__ = ["ProcessRunner", "skill_slot"]

_MB = 1024 * 1024


def _zkey(skill: Skill) -> str:
    """A skill's zygote: its entry's, or for its scripts one script parent per skill."""
    if skill.entry.kind is EntryKind.SCRIPT:
        return f"{base_id(skill)}@{skill.version}#scripts"
    return skill.key


class ProcessRunner:
    name = "process"

    def __init__(self, *, settings: IsolationSettings | None = None, sandbox: bool = False,
                 ) -> None:
        self.settings = settings or IsolationSettings()
        self.sandbox = sandbox
        self.name = "sandbox" if sandbox else "process"
        self._caps = detect_capabilities()
        self._zygotes: dict[str, ZygoteHandle] = {}
        # Every zygote started, retired ones too (they live on until their children end):
        # close() must leave none behind.
        self._handles: set[ZygoteHandle] = set()
        self._starting: dict[str, asyncio.Future[ZygoteHandle]] = {}
        self._failed_warmups: dict[str, ZygoteHandle] = {}  # see prepare
        # Replacements warmed in the background for zygotes close to their attempt cap, so
        # that recycling one does not stall the attempts that arrive meanwhile.
        self._replacing: dict[str, asyncio.Task[None]] = {}
        self._work_roots: dict[str, str] = {}
        self._swept: set[str] = set()
        self._uids: dict[str, UidLease] = {}
        self._pool: CgroupPool | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._settling: set[asyncio.Task[None]] = set()  # see settle_later
        self._closed = False

    # -- Runner protocol ------------------------------------------------------------------
    async def prepare(self, skill: Skill) -> None:
        if self.refusal(skill) is None:
            wr = self.settings.work_root
            zyg = await self._zygote(
                skill, f"{wr}/{skill_slot(skill.id)}" if wr is not None else None)
            if zyg.error is not None:
                # A warm-up that failed (the import raised, hung, or the zygote died) is the
                # next call's answer as it is, not imported again right away: a hanging
                # import cost that call zygote_import_timeout_s a second time (`skillexec
                # run` of such a skill took twice as long). The calls after it try again.
                self._failed_warmups[_zkey(skill)] = zyg

    async def run(self, attempt: Attempt) -> Outcome:
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
            zyg = await self._zygote_in_time(attempt, root, started)
            if isinstance(zyg, Outcome):
                return zyg  # still importing when the attempt's time was up
            if zyg.error is not None:
                # Answered now (this call waited on the failed warm-up itself): the next
                # call tries the import again.
                self._failed_warmups.pop(_zkey(skill), None)
                return Outcome(error=zyg.error, metrics={"wall_ms": ms_since(started)})
            try:
                outcome = await self._run_on(zyg, attempt, workdir, started)
                if before is not None and (outcome.error is None
                                           or outcome.error.code == "script_exit"):
                    await self._script_outputs(attempt, workdir, before, outcome)
                return outcome
            except ZygoteDied:
                self._drop(skill, zyg)
                if tries:
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        for settling in list(self._settling):
            settling.cancel()  # their slots are killed with the pool, below
        for rep in list(self._replacing.values()):
            rep.cancel()
        self._replacing.clear()
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        for zyg in (*self._zygotes.values(), *self._handles):
            zyg.kill()
        self._zygotes.clear()
        self._handles.clear()
        for lease in self._uids.values():
            lease.release()
        self._uids.clear()
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # -- bundled scripts: files in, files out (see _script_files) ---------------------------
    async def _script_inputs(self, attempt: Attempt, workdir: Path) -> tuple[str, Snapshot]:
        """Before a script runs: its interpreter found, the call's files written into its
        workspace (a session's handed to this skill's uid), what is there noted. Returns
        the work root of the skill's script parent (that of the skill the script is of:
        one warm parent for all its scripts) and the snapshot."""
        skill = attempt.skill
        interp = interpreter(skill.entry.file or "")
        if interp != "python":
            script_exe(self.settings, interp)
        wr = self.settings.work_root
        root = f"{wr}/{skill_slot(base_id(skill))}" if wr is not None else str(workdir.parent)
        files = attempt.input_data.get("files") or {}
        session = attempt.input_data.get("session")
        if not files and not session:
            return root, {}  # a fresh workspace, empty: no thread hop for nothing
        uid = self._uid(skill) if self._mechanisms(skill)["uid"] else None
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
        if not before and _empty(str(workdir)):
            return  # the common case: it made nothing
        try:
            await asyncio.to_thread(collect, str(workdir), before, max_files=max_files,
                                    max_bytes=self.settings.max_artifact_bytes,
                                    save=ctx.save_artifact)
        except SkillExecError as exc:
            outcome.output, outcome.error = None, ctx.quota_error or exc.info

    # -- policy and capabilities ----------------------------------------------------------
    def refusal(self, skill: Skill) -> ErrorInfo | None:
        return refusal(self.name, self.settings, self._caps, skill)

    def _mechanisms(self, skill: Skill) -> dict[str, bool]:
        return mechanisms(self.settings, self._caps, skill, sandbox=self.sandbox)

    # -- zygotes ------------------------------------------------------------------------
    async def _zygote(self, skill: Skill, work_root: str | None) -> ZygoteHandle:
        key = _zkey(skill)
        zyg = self._zygotes.get(key)
        same_env = zyg is not None and zyg.env_paths == skill.env_paths
        if zyg is not None and same_env and not zyg.dead and not zyg.retired and (
                not self.sandbox or work_root is None or self._work_roots.get(key) == work_root
                or _inside(work_root, self._work_roots.get(key))):
            return zyg
        if zyg is not None and self._failed_warmups.pop(key, None) is zyg and same_env:
            return zyg  # its error is this call's (see prepare)
        rep = self._replacing.get(key)
        if rep is not None:
            # Its replacement is warming up: wait for it rather than start a second one.
            await asyncio.wait({rep})
            return await self._zygote(skill, work_root)
        if zyg is not None:
            self._drop(skill, zyg)
        pending = self._starting.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        fut: asyncio.Future[ZygoteHandle] = asyncio.get_running_loop().create_future()
        self._starting[key] = fut
        try:
            zyg = self._new_handle(skill, work_root)
            self._handles = {h for h in self._handles if not h.dead}
            self._handles.add(zyg)
            await zyg.start(timeout_s=self.settings.zygote_import_timeout_s)
            if work_root is not None:
                self._work_roots[key] = work_root
            self._zygotes[key] = zyg
            fut.set_result(zyg)
            self._ensure_janitor()
            return zyg
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            del self._starting[key]

    async def _zygote_in_time(self, attempt: Attempt, root: str, started: float,
                              ) -> ZygoteHandle | Outcome:
        """The skill's warm parent; one still to start (a warm-up under way, a first use)
        waited for only within the attempt's timeout: the call ends then, the import goes
        on, bounded by zygote_import_timeout_s (a 2 s call waited out a 30 s import)."""
        skill = attempt.skill
        ready = self._zygotes.get(_zkey(skill))
        if ready is not None and not ready.dead and not ready.retired:
            return await self._zygote(skill, root)
        job = asyncio.ensure_future(self._zygote(skill, root))
        limit_s = attempt.limits.timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(job), max(
                0.0, limit_s - (time.perf_counter() - started)))
        except TimeoutError:
            job.add_done_callback(_retrieved)
            return Outcome(error=ErrorInfo(
                ErrorType.TIMEOUT, "execution_timeout",
                f"skill {skill.id!r} did not finish within {duration(limit_s)}: it was still "
                f"importing (its warm-up goes on, for at most "
                f"{duration(self.settings.zygote_import_timeout_s)}: "
                f"zygote_import_timeout_s)", retryable=True, details={"importing": True}),
                metrics={"wall_ms": ms_since(started)})

    def _prewarm(self, skill: Skill, old: ZygoteHandle) -> None:
        key = _zkey(skill)
        if self._closed or key in self._replacing or key in self._starting:
            return
        self._replacing[key] = asyncio.get_running_loop().create_task(
            self._replace(skill, old, self._work_roots.get(key)))

    async def _replace(self, skill: Skill, old: ZygoteHandle, work_root: str | None) -> None:
        key = _zkey(skill)
        new: ZygoteHandle | None = None
        try:
            new = self._new_handle(skill, work_root)
            self._handles.add(new)
            await new.start(timeout_s=self.settings.zygote_import_timeout_s)
            current = self._zygotes.get(key)
            if (new.error is None and not new.dead and not self._closed
                    and (current is None or current is old)):
                if work_root is not None:
                    self._work_roots[key] = work_root
                self._zygotes[key] = new
                new = None
                self._ensure_janitor()
                if not old.dead:
                    old.retire()
        finally:
            if new is not None:
                new.kill()
            if self._replacing.get(key) is asyncio.current_task():
                del self._replacing[key]

    def _drop(self, skill: Skill, zyg: ZygoteHandle) -> None:
        if self._zygotes.get(_zkey(skill)) is zyg:
            del self._zygotes[_zkey(skill)]
        zyg.retire()

    def _uid(self, skill: Skill) -> int:
        lease = self._uids.get(_zkey(skill))
        if lease is None:
            s = self.settings
            lease = lease_uid(s.unprivileged_uid, s.unprivileged_uid_count)
            self._uids[_zkey(skill)] = lease
        return lease.uid

    def _new_handle(self, skill: Skill, work_root: str | None) -> ZygoteHandle:
        """A zygote not started yet: its spec, private folders and cgroup slot made."""
        mech = self._mechanisms(skill)
        uid = self._uid(skill) if mech["uid"] else None
        if work_root is not None and work_root not in self._swept:
            self._swept.add(work_root)
            sweep_stale(work_root)  # what a killed engine's zygotes left there
        slot = self._slot()
        zyg = new_zygote(self.settings, skill, mech=mech, uid=uid, work_root=work_root,
                         env=self._zygote_env(), slot=slot)
        if slot is not None:
            pool = self._pool

            def release() -> None:
                slot.kill_all()  # what its import left behind (the namespace took the rest)
                if pool is not None and pool is self._pool:
                    pool.release(slot)

            zyg.on_death = release
        return zyg

    def _zygote_env(self) -> dict[str, str]:
        return _spec.zygote_env(self.settings)

    def _ensure_janitor(self) -> None:
        if self._janitor is None or self._janitor.done():
            self._janitor = asyncio.get_running_loop().create_task(self._evict_idle())

    async def _evict_idle(self) -> None:
        idle_s = self.settings.zygote_idle_s
        while self._zygotes:
            await asyncio.sleep(min(30.0, max(0.05, idle_s / 4)))
            now = time.monotonic()
            for key, zyg in list(self._zygotes.items()):
                if zyg.active == 0 and now - zyg.last_used > idle_s:
                    del self._zygotes[key]
                    zyg.retire()

    # -- one attempt ----------------------------------------------------------------------
    def _slot(self) -> CgroupSlot | None:
        if not self.settings.use_cgroups or not (self._caps.cgroup_pids
                                                 or self._caps.cgroup_memory):
            return None
        if self._pool is None:
            self._pool = CgroupPool(use_pids=self._caps.cgroup_pids,
                                    use_memory=self._caps.cgroup_memory)
        return self._pool.lease()

    async def _run_on(self, zyg: ZygoteHandle, attempt: Attempt, workdir: Path,
                      started: float) -> Outcome:
        s = self.settings
        skill = attempt.skill
        plan = plan_attempt(s, attempt)
        uid = zyg.uid
        if uid is not None:
            os.chown(workdir, uid, uid)
        slot = self._slot()
        if slot is not None:
            slot.arm(memory_bytes=plan.memory_mb * _MB, max_pids=s.max_processes)
        request = child_request(s, attempt, plan, workdir=workdir,
                                own_pids=uid is not None or zyg.userns, hello=zyg.pidns)
        zyg.active += 1
        zyg.attempts += 1
        zyg.last_used = time.monotonic()
        # The zygote's network namespace is the attempt's alone, if no other attempt runs
        # in it: its counters are read here, from outside, rather than by the child (every
        # page a child touches costs it a copy-on-write fault).
        net_before = zyg.net_counters() if zyg.spec_netns and zyg.active == 1 else None
        exiting: asyncio.Future[Any] | None = None
        try:
            outcome, child, exiting = await self._fork_and_serve(zyg, attempt, request, plan,
                                                                 slot)
            net = None
            if net_before is not None and zyg.active == 1:
                after = zyg.net_counters()
                if after is not None:
                    net = [after[0] - net_before[0], after[1] - net_before[1]]
            return with_metrics(outcome, started, child, net, slot=slot)
        finally:
            zyg.active -= 1
            zyg.last_used = time.monotonic()
            if slot is not None and self._pool is not None:
                if exiting is not None and not exiting.done():
                    settle_later(exiting, slot, self._pool, self._settling)
                else:
                    slot.kill_all()
                    self._pool.release(slot)
            self._after_attempt(skill, zyg)

    async def _fork_and_serve(self, zyg: ZygoteHandle, attempt: Attempt,
                              request: dict[str, Any], plan: AttemptPlan,
                              slot: CgroupSlot | None,
                              ) -> tuple[Outcome, Any, asyncio.Future[Any] | None]:
        """Fork the child, serve it until it answers or fails; its exit status with it, and
        the future of its exit when it answered before it (its slot is settled later)."""
        s = self.settings
        command = plan.command
        engine_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        if zyg.pidns:
            # Before the fork: the child's hello then carries its pid (see peer_pid).
            engine_sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            engine_sock.setblocking(False)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        in_r, in_w = os.pipe2(os.O_CLOEXEC) if command else (-1, -1)
        child_fds = [child_sock.fileno(), out_w, err_w] + ([in_r] if command else [])
        overflow: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        io: AttemptIO | None = None
        stdout = stderr = None
        try:
            try:
                forked = await zyg.fork(request, child_fds)
            finally:
                child_sock.close()
                for fd in (out_w, err_w, in_r):
                    if fd >= 0:
                        os.close(fd)
            host = 0
            if zyg.pidns:
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
            pid, exit_fut = await forked
            if zyg.pidns:
                pid = host
            if slot is not None and pid > 0:
                with contextlib.suppress(OSError):  # it died already: its exit status says
                    slot.add(pid)
            stdout = Capture(out_r, cap=plan.max_output_bytes if command
                             else s.max_stdout_bytes, overflow=overflow)
            stderr = Capture(err_r, cap=s.max_stdout_bytes, overflow=overflow)
            out_r = err_r = -1
            io = AttemptIO(attempt=attempt, pid=pid, exit_fut=exit_fut, sock=engine_sock,
                           stdout=stdout, stderr=stderr, overflow=overflow, slot=slot,
                           kind=request["kind"], sandbox=self.sandbox,
                           max_output_bytes=plan.max_output_bytes,
                           max_artifact_bytes=s.max_artifact_bytes, cpu_limit_s=plan.cpu_s,
                           stdin_fd=in_w if command else None,
                           args_sent="args_frame" in request)
            in_w = -1
            outcome = await io.run()
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
            for cap in (stdout, stderr):
                if cap is not None:
                    cap.close()
            engine_sock.close()

    def _after_attempt(self, skill: Skill, zyg: ZygoteHandle) -> None:
        """Recycle a zygote past its caps; warm its replacement when it nears them."""
        s = self.settings
        if zyg.attempts >= s.zygote_max_attempts or (
                zyg.attempts % 50 == 0 and zyg.rss_mb() > s.zygote_max_rss_mb):
            self._drop(skill, zyg)
        elif zyg.retired and zyg.active == 0:
            zyg.kill()
        elif (s.zygote_max_attempts >= 100 and not zyg.retired
              and zyg.attempts >= s.zygote_max_attempts - s.zygote_max_attempts // 20):
            self._prewarm(skill, zyg)


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




def _empty(folder: str) -> bool:
    try:
        with os.scandir(folder) as it:
            return next(it, None) is None
    except OSError:
        return False


def _retrieved(job: asyncio.Future[Any]) -> None:
    if not job.cancelled():
        job.exception()  # a warm-up nobody waits for any more: its failure is its skill's


def _inside(path: str, root: str | None) -> bool:
    return root is not None and (path == root or path.startswith(root.rstrip("/") + "/"))
