"""A runner's warm parents: one zygote per skill environment, started once, waited for
within a call's time, warmed again in the background near its attempt cap, evicted idle.

It also owns what zygotes are given: the host-wide uid leased to each skill (its identity)
and the cgroup slots its children run in. ``ProcessRunner`` asks it for a skill's zygote
and a slot; nothing here forks a child or reads one's answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from skillexec.errors import ErrorInfo, ErrorType
from skillexec.runtime.capabilities import Capabilities
from skillexec.runtime.limits import CgroupPool, CgroupSlot
from skillexec.runtime.runners import _spec
from skillexec.runtime.runners._attempt_metrics import ms_since
from skillexec.runtime.runners._zygote_handle import ZygoteHandle
from skillexec.runtime.runners._zygote_setup import new_zygote, sweep_stale
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.scripts import base_id
from skillexec.security.uids import UidLease, lease_uid
from skillexec.skills.model import EntryKind, Skill
from skillexec.units import duration

__all__ = ["ZygotePool", "zygote_key"]


def zygote_key(skill: Skill) -> str:
    """A skill's zygote: its entry's, or for its scripts one script parent per skill."""
    if skill.entry.kind is EntryKind.SCRIPT:
        return f"{base_id(skill)}@{skill.version}#scripts"
    return skill.key


class ZygotePool:
    """The zygotes of one runner, by ``zygote_key``; ``live`` maps a key to its current one."""

    def __init__(self, settings: IsolationSettings, caps: Capabilities, *, sandbox: bool,
                 mechanisms: Callable[[Skill], dict[str, bool]]) -> None:
        self.settings = settings
        self._caps = caps
        self._sandbox = sandbox
        self._mechanisms = mechanisms
        self.live: dict[str, ZygoteHandle] = {}
        # Every zygote started, retired ones too (they live on until their children end):
        # close() must leave none behind.
        self._handles: set[ZygoteHandle] = set()
        self._starting: dict[str, asyncio.Future[ZygoteHandle]] = {}
        self._failed_warmups: dict[str, ZygoteHandle] = {}  # see note_failed_warmup
        # Replacements warmed in the background for zygotes close to their attempt cap, so
        # that recycling one does not stall the attempts that arrive meanwhile.
        self._replacing: dict[str, asyncio.Task[None]] = {}
        self._work_roots: dict[str, str] = {}
        self._swept: set[str] = set()
        self._uids: dict[str, UidLease] = {}
        self.cgroups: CgroupPool | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._closed = False

    def note_failed_warmup(self, skill: Skill, zyg: ZygoteHandle) -> None:
        """A warm-up that failed (the import raised, hung, or the zygote died) is the next
        call's answer as it is, not imported again right away: a hanging import cost that
        call zygote_import_timeout_s a second time. The calls after it try again."""
        self._failed_warmups[zygote_key(skill)] = zyg

    def forget_failed_warmup(self, skill: Skill) -> None:
        self._failed_warmups.pop(zygote_key(skill), None)

    async def get(self, skill: Skill, work_root: str | None) -> ZygoteHandle:
        """The skill's zygote, started (or its start awaited) if it has none that serves."""
        key = zygote_key(skill)
        zyg = self.live.get(key)
        # Its code: the same environment, and the same folder (`run ./other/adder` beside a
        # skills folder holding adder@1.0.0 ran the warm parent of the other's code).
        same_env = zyg is not None and zyg.env_paths == skill.env_paths and zyg.folder == (
            str(skill.path) if skill.path else None)
        if zyg is not None and same_env and not zyg.dead and not zyg.retired and (
                not self._sandbox or work_root is None
                or self._work_roots.get(key) == work_root
                or _inside(work_root, self._work_roots.get(key))):
            return zyg
        if zyg is not None and self._failed_warmups.pop(key, None) is zyg and same_env:
            return zyg  # its error is this call's (see note_failed_warmup)
        rep = self._replacing.get(key)
        if rep is not None:
            # Its replacement is warming up: wait for it rather than start a second one.
            await asyncio.wait({rep})
            return await self.get(skill, work_root)
        if zyg is not None:
            self.drop(skill, zyg)
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
            self.live[key] = zyg
            fut.set_result(zyg)
            self._ensure_janitor()
            return zyg
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()
            raise
        finally:
            del self._starting[key]

    async def in_time(self, attempt: Attempt, root: str, started: float,
                      ) -> ZygoteHandle | Outcome:
        """The skill's warm parent; one still to start (a warm-up under way, a first use)
        waited for only within the attempt's timeout: the call ends then, the import goes
        on, bounded by zygote_import_timeout_s (a 2 s call waited out a 30 s import)."""
        skill = attempt.skill
        ready = self.live.get(zygote_key(skill))
        if ready is not None and not ready.dead and not ready.retired:
            return await self.get(skill, root)
        job = asyncio.ensure_future(self.get(skill, root))
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

    def after_attempt(self, skill: Skill, zyg: ZygoteHandle) -> None:
        """Recycle a zygote past its caps; warm its replacement when it nears them."""
        s = self.settings
        if zyg.attempts >= s.zygote_max_attempts or (
                zyg.attempts % 50 == 0 and zyg.rss_mb() > s.zygote_max_rss_mb):
            self.drop(skill, zyg)
        elif zyg.retired and zyg.active == 0:
            zyg.kill()
        elif (s.zygote_max_attempts >= 100 and not zyg.retired
              and zyg.attempts >= s.zygote_max_attempts - s.zygote_max_attempts // 20):
            self._prewarm(skill, zyg)

    def drop(self, skill: Skill, zyg: ZygoteHandle) -> None:
        if self.live.get(zygote_key(skill)) is zyg:
            del self.live[zygote_key(skill)]
        zyg.retire()

    def uid(self, skill: Skill) -> int:
        """The host-wide uid leased to ``skill`` (its identity while this runner lives)."""
        lease = self._uids.get(zygote_key(skill))
        if lease is None:
            s = self.settings
            lease = lease_uid(s.unprivileged_uid, s.unprivileged_uid_count)
            self._uids[zygote_key(skill)] = lease
        return lease.uid

    def slot(self) -> CgroupSlot | None:
        """A cgroup slot for one child (None: cgroups are off or not available here)."""
        if not self.settings.use_cgroups or not (self._caps.cgroup_pids
                                                 or self._caps.cgroup_memory):
            return None
        if self.cgroups is None:
            self.cgroups = CgroupPool(use_pids=self._caps.cgroup_pids,
                                      use_memory=self._caps.cgroup_memory)
        return self.cgroups.lease()

    def release_slot(self, slot: CgroupSlot) -> None:
        """A slot back to the pool it came from (emptied first by the caller)."""
        if self.cgroups is not None and not self._closed:
            self.cgroups.release(slot)

    async def close(self) -> None:
        self._closed = True
        for rep in list(self._replacing.values()):
            rep.cancel()
        self._replacing.clear()
        if self._janitor is not None:
            self._janitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._janitor
        for zyg in (*self.live.values(), *self._handles):
            zyg.kill()
        self.live.clear()
        self._handles.clear()
        for lease in self._uids.values():
            lease.release()
        self._uids.clear()
        if self.cgroups is not None:
            self.cgroups.close()
            self.cgroups = None

    def _prewarm(self, skill: Skill, old: ZygoteHandle) -> None:
        key = zygote_key(skill)
        if self._closed or key in self._replacing or key in self._starting:
            return
        self._replacing[key] = asyncio.get_running_loop().create_task(
            self._replace(skill, old, self._work_roots.get(key)))

    async def _replace(self, skill: Skill, old: ZygoteHandle, work_root: str | None) -> None:
        key = zygote_key(skill)
        new: ZygoteHandle | None = None
        try:
            new = self._new_handle(skill, work_root)
            self._handles.add(new)
            await new.start(timeout_s=self.settings.zygote_import_timeout_s)
            current = self.live.get(key)
            if (new.error is None and not new.dead and not self._closed
                    and (current is None or current is old)):
                if work_root is not None:
                    self._work_roots[key] = work_root
                self.live[key] = new
                new = None
                self._ensure_janitor()
                if not old.dead:
                    old.retire()
        finally:
            if new is not None:
                new.kill()
            if self._replacing.get(key) is asyncio.current_task():
                del self._replacing[key]

    def _new_handle(self, skill: Skill, work_root: str | None) -> ZygoteHandle:
        """A zygote not started yet: its spec, private folders and cgroup slot made."""
        mech = self._mechanisms(skill)
        uid = self.uid(skill) if mech["uid"] else None
        if work_root is not None and work_root not in self._swept:
            self._swept.add(work_root)
            sweep_stale(work_root)  # what a killed engine's zygotes left there
        slot = self.slot()
        zyg = new_zygote(self.settings, skill, mech=mech, uid=uid, work_root=work_root,
                         env=_spec.zygote_env(self.settings, confined_reads=mech["landlock"]),
                         slot=slot)
        if slot is not None:
            pool = self.cgroups

            def release() -> None:
                slot.kill_all()  # what its import left behind (the namespace took the rest)
                if pool is not None and pool is self.cgroups:
                    pool.release(slot)

            zyg.on_death = release
        return zyg

    def _ensure_janitor(self) -> None:
        if self._janitor is None or self._janitor.done():
            self._janitor = asyncio.get_running_loop().create_task(self._evict_idle())

    async def _evict_idle(self) -> None:
        idle_s = self.settings.zygote_idle_s
        while self.live:
            await asyncio.sleep(min(30.0, max(0.05, idle_s / 4)))
            now = time.monotonic()
            for key, zyg in list(self.live.items()):
                if zyg.active == 0 and now - zyg.last_used > idle_s:
                    del self.live[key]
                    zyg.retire()


def _retrieved(job: asyncio.Future[Any]) -> None:
    if not job.cancelled():
        job.exception()  # a warm-up nobody waits for any more: its failure is its skill's


def _inside(path: str, root: str | None) -> bool:
    return root is not None and (path == root or path.startswith(root.rstrip("/") + "/"))
