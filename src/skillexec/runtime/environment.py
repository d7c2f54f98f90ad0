"""ExecutionEnvironment: the private folder, the context and the quotas of one attempt.

Quotas bound what one attempt can make, whatever the runner: artifacts (count and total
bytes, checked as each is saved: past the quota nothing more is kept and the attempt ends
``resource_error``), progress and log messages (cut to a size), and the workspace (files
and bytes, counted as the folder is removed after the attempt; RLIMIT_FSIZE bounds each
file while it runs, in the isolated runners). Removal runs in a worker thread, so a tree of
a million files or ten thousand levels never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from skillexec.artifacts import ArtifactManager
from skillexec.errors import ErrorInfo, ResourceError
from skillexec.runtime.context import ProgressSink, SkillContext
from skillexec.runtime.work_root import make as work_root_made
from skillexec.runtime.workspace import (
    WorkspaceSpares,
    WorkspaceUsage,
    measure_tree,
    quota_error,
    remove_tree,
    skill_slot,
)
from skillexec.scripts import base_id
from skillexec.skills.model import EntryKind, Skill
from skillexec.task import ArtifactRef, ExecutionTask

__all__ = ["AttemptQuotas", "ExecutionEnvironment", "SessionFolders"]


class SessionFolders(Protocol):
    """What the environment needs of the sessions (skillexec.sessions.SessionStore)."""

    @property
    def quota(self) -> tuple[int, int]:
        """(max files, max bytes) of a session's folder."""

    def path(self, session_id: str, *, principal: str | None = None) -> Path:
        """The folder of session ``session_id`` (its calls' workspace), if ``principal``'s
        (None: ``local``, the trusted caller); else refused as an unknown session."""

    async def aclose(self, session_id: str, *, principal: str | None = None) -> bool:
        """Close the session (its folder goes once no call uses it)."""

    def used(self, session_id: str) -> None:
        """Mark a use of the session: its TTL runs from the end of the call."""

_log = logging.getLogger("skillexec.environment")
# At most this many top-level entries, no folder: removed on the loop (a few system
# calls); the common case, an empty or near-empty workspace, pays no thread hop.
_INLINE_ENTRIES = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptQuotas:
    """What one attempt may make. Every field is a setting of EngineConfig."""

    max_workspace_bytes: int = 1 << 30
    max_workspace_files: int = 100_000
    max_artifacts: int = 1000
    max_artifacts_bytes: int = 256 << 20
    max_message_bytes: int = 64 << 10


# Saves are rare and short: one lock for every attempt's tally, rather than one made per call.
_SAVE_LOCK = threading.Lock()


class _ArtifactSaver:
    """An attempt's artifact sink: keeps the count and bytes it saved under the quotas;
    thread-safe (sync skills save from threads)."""

    __slots__ = ("artifacts", "bytes", "count", "principal", "quotas", "saved", "task_id")

    def __init__(self, artifacts: ArtifactManager, quotas: AttemptQuotas, task_id: str,
                 saved: list[ArtifactRef], principal: str | None = None) -> None:
        self.artifacts = artifacts
        self.principal = principal
        self.quotas = quotas
        self.task_id = task_id
        self.saved = saved
        self.count = 0
        self.bytes = 0

    def __call__(self, name: str, data: bytes, mime: str | None) -> ArtifactRef:
        size = len(data)
        with _SAVE_LOCK:  # reserve first: two threads cannot both pass the last slot
            error = _artifact_quota_error(self.quotas, self, size)
            if error is not None:  # SkillContext.save_artifact notes it on the context
                raise error
            self.count += 1
            self.bytes += size
        try:
            ref = self.artifacts.save(name, data, mime, task_id=self.task_id,
                                      principal=self.principal)
        except BaseException:
            with _SAVE_LOCK:
                self.count -= 1
                self.bytes -= size
            raise
        self.saved.append(ref)
        return ref


class ExecutionEnvironment:
    def __init__(self, *, work_root: Path, artifacts: ArtifactManager, keep_workdirs: bool,
                 logger: logging.Logger, quotas: AttemptQuotas | None = None,
                 secrets: Mapping[str, Mapping[str, str]] | None = None,
                 sessions: SessionFolders | None = None, own_root: bool = False) -> None:
        self.work_root = work_root
        # The default root is the data dir's own folder (removed at close when left empty);
        # one the operator named may be shared (/tmp): only this engine's slots go.
        self._own_root = own_root
        if own_root:
            work_root_made(work_root)
        # The skills' folders this engine's attempts used (in a root the operator named).
        self._slots: set[str] = set()
        self.secrets = secrets or {}  # skill id -> the secrets handed to it
        self.sessions = sessions
        self._work_root_str = str(work_root)
        self.keep_workdirs = keep_workdirs
        self.quotas = quotas or AttemptQuotas()
        self._artifacts = artifacts
        self._logger = logger
        self._cleanups: set[threading.Thread] = set()
        # Empty workspaces kept for the next isolated attempt of the same skill, and those
        # of attempts whose processes are still ending (kept or removed once they are).
        self.spares = WorkspaceSpares()
        self._recycling: dict[str, asyncio.Future[bool]] = {}
        # id() of each context of a call in a session (calls may overlap here) -> its folder
        self._in_session: dict[int, str] = {}
        self._workspace_quota = (self.quotas.max_workspace_files, self.quotas.max_workspace_bytes)

    def context(self, task: ExecutionTask, *, deadline: float, saved: list[ArtifactRef],
                progress: ProgressSink | None, trace: dict[str, str] | None = None,
                reuse: bool = False) -> SkillContext:
        """``reuse``: the attempt runs isolated (its runner says when its processes are
        gone): it may take a spare workspace, and leave its own as one."""
        task_id, quotas = task.task_id, self.quotas
        save = _ArtifactSaver(self._artifacts, quotas, task_id, saved, task.principal)
        skill, workspace_quota, session = task.skill, self._workspace_quota, False
        if skill is not None and skill.entry.kind is EntryKind.SCRIPT:
            workdir, workspace_quota, session = self._script_workdir(task, skill)
        else:
            workdir = f"{self._work_root_str}/{skill_slot(task.skill_id)}/{task_id}-{task.attempts}"
        if not self._own_root and not session:
            # (the data dir's own root is swept whole at close: nothing to note per call)
            self._slots.add(workdir.rpartition("/")[0])
        spare = None
        if reuse and not self.keep_workdirs and not session:
            spare = functools.partial(self.spares.take, workdir.rpartition("/")[0])
        ctx = SkillContext(
            task_id=task_id,
            skill_id=task.skill_id,
            attempt=task.attempts,
            workdir=workdir,
            config=task.config,
            deadline=deadline,
            progress_sink=progress,
            artifact_sink=save,
            trace=trace,
            max_message_bytes=quotas.max_message_bytes,
            workspace_quota=workspace_quota,
            secrets=self._secrets_of(task),
            spare=spare,
        )
        if session:
            self._in_session[id(ctx)] = workdir
        return ctx

    def _secrets_of(self, task: ExecutionTask) -> Mapping[str, str] | None:
        """What ``[security] skill_secrets`` hands the call: under its id, or for a script,
        under the id of the skill it belongs to (spark-video's scripts read their settings
        from the environment, and no key but ``skill:scripts/x.py`` reached them)."""
        if not self.secrets:
            return None
        # A script's by its skill's id only: its own task id (plug:a for plain skill plug's
        # script a) may be a plugin skill's, whose secrets are not its.
        return self.secrets.get(base_id(task.skill) if task.skill is not None
                                else task.skill_id)

    def _script_workdir(self, task: ExecutionTask,
                        skill: Skill) -> tuple[str, tuple[int, int], bool]:
        """A script's workspace: its session's folder (kept, under the session's quotas),
        else a fresh folder in the slot of the skill it belongs to (where its warm parent
        may write)."""
        session = task.params.get("session")
        if session and self.sessions is not None:
            # The owner's check again: a script skill called directly (not through
            # run_script) must not reach another principal's session either.
            return str(self.sessions.path(session, principal=task.principal)), \
                self.sessions.quota, True
        return (f"{self._work_root_str}/{skill_slot(base_id(skill))}/"
                f"{task.task_id}-{task.attempts}", self._workspace_quota, False)

    async def finish(self, ctx: SkillContext) -> ErrorInfo | None:
        """After an attempt: remove (or measure, when kept) its workspace; the quota it
        broke, if any (artifacts first: that one is known without touching the disk)."""
        path = str(ctx.workdir_path)
        if self._in_session.pop(id(ctx), None) is not None:
            ctx.forget_workdir()  # the session keeps it: measured against its quotas
            assert self.sessions is not None
            files, size = self.sessions.quota
            self.sessions.used(os.path.basename(path))  # a direct call's too: no turn marks it
            usage = await asyncio.to_thread(measure_tree, path, max_files=files, max_bytes=size)
            over = quota_error(usage, max_files=files, max_bytes=size) or (
                ctx.quota_error if ctx.quota_error is not None
                and ctx.quota_error.code == "workspace_quota_exceeded" else None)
            if over is None:
                return ctx.quota_error
            # Closed: left open, its next call ran and grew it further (the quota bound
            # nothing). What each call made there is that call's artifacts already.
            await self.sessions.aclose(os.path.basename(path))
            return _session_quota(over)
        if not ctx.workdir_made:
            return ctx.quota_error
        if (settled := ctx.settled) is not None and not self.keep_workdirs:
            # Empty: kept as a spare (no rmdir now, no mkdir for the next attempt), nothing
            # over a quota. Its processes still ending: kept (or removed) once they are gone.
            if settled.done():
                if settled.result() and self.spares.put(path):
                    ctx.forget_workdir()
                    return ctx.quota_error
            elif ctx.workdir_empty:
                ctx.forget_workdir()
                self._recycling[path] = settled
                settled.add_done_callback(functools.partial(self._recycle, path))
                return ctx.quota_error
        return ctx.quota_error or self._workspace_error(await self._release(ctx))

    async def recycled(self) -> None:
        """Once the workspaces of the attempts that answered so far are kept or removed."""
        while self._recycling:
            await asyncio.wait(list(self._recycling.values()))
            await asyncio.sleep(0)  # their callbacks run after the futures' waiters

    def _recycle(self, path: str, settled: asyncio.Future[bool]) -> None:
        """An empty workspace whose attempt's processes are gone (``settled`` True) or may
        not be: kept as a spare, else removed."""
        kept = self._recycling.pop(path, None) is not None and settled.result()
        if not (kept and self.spares.put(path)) and _remove_small(path) is None:
            self._remove_later(path)

    def discard(self, ctx: SkillContext) -> None:
        """Remove the workspace without waiting (an attempt that ended by an exception or
        a cancellation): in a worker thread, so the loop is never held by it."""
        if self._in_session.pop(id(ctx), None) is not None:  # it outlives its calls
            ctx.forget_workdir()
            return
        if not ctx.workdir_made or self.keep_workdirs:
            return
        path = str(ctx.workdir)
        ctx.forget_workdir()
        self._remove_later(path)

    def _remove_later(self, path: str) -> None:
        # Not a daemon: exiting waits for the folder to go rather than leave it behind.
        t = threading.Thread(target=self._cleanup, args=(path,), name="skillexec-cleanup",
                             daemon=False)
        self._cleanups.add(t)
        t.start()

    def _cleanup(self, path: str) -> None:
        try:
            _remove_or_log(path)
        finally:
            self._cleanups.discard(threading.current_thread())

    async def close(self, *, grace_s: float = 30.0) -> None:
        """When the runners are gone: wait (off the loop, up to ``grace_s``) for workspaces
        still being removed, then remove the skills' folders left empty under the work
        root (each skill's attempts live in a folder of its own: see ``skill_slot``)."""
        deadline = time.monotonic() + grace_s
        if self._recycling:  # their attempts' runners are closed: settled, all of them
            await asyncio.wait(list(self._recycling.values()), timeout=grace_s)
            await asyncio.sleep(0)
        left, self._recycling = list(self._recycling), {}
        for t in list(self._cleanups):
            await asyncio.to_thread(t.join, max(0.0, deadline - time.monotonic()))
        spares = left + self.spares.drain()
        await asyncio.to_thread(_remove_spares_and_slots, spares, sorted(self._slots),
                                self._work_root_str if self._own_root else None)

    async def _release(self, ctx: SkillContext) -> WorkspaceUsage:
        path = str(ctx.workdir)
        ctx.forget_workdir()
        q = self.quotas
        if self.keep_workdirs:
            try:
                return await asyncio.to_thread(measure_tree, path,
                                               max_files=q.max_workspace_files,
                                               max_bytes=q.max_workspace_bytes)
            except OSError as exc:  # kept for debugging: a folder it cannot read is no error
                _log.warning("workspace %s could not be measured: %s", path, exc)
                return WorkspaceUsage(files=0, bytes=0, complete=False)
        small = _remove_small(path)
        if small is not None:
            return small
        return await asyncio.to_thread(_remove_or_log, path)

    def _workspace_error(self, usage: WorkspaceUsage) -> ErrorInfo | None:
        q = self.quotas
        return quota_error(usage, max_files=q.max_workspace_files,
                           max_bytes=q.max_workspace_bytes)

    def describe(self) -> dict[str, Any]:
        return {"work_root": str(self.work_root), "keep_workdirs": self.keep_workdirs}


def _artifact_quota_error(quotas: AttemptQuotas, tally: _ArtifactSaver,
                          size: int) -> ResourceError | None:
    if tally.count >= quotas.max_artifacts:
        return ResourceError(
            f"the skill saved more than {quotas.max_artifacts} artifacts in one attempt "
            "(the max_artifacts quota); nothing past it was kept",
            code="artifact_quota_exceeded",
            details={"quota": "max_artifacts", "limit": quotas.max_artifacts})
    if tally.bytes + size > quotas.max_artifacts_bytes:
        return ResourceError(
            f"the skill's artifacts came to more than {quotas.max_artifacts_bytes} bytes in "
            "one attempt (the max_artifacts_bytes quota); nothing past it was kept",
            code="artifact_quota_exceeded",
            details={"quota": "max_artifacts_bytes", "limit": quotas.max_artifacts_bytes})
    return None


def _session_quota(error: ErrorInfo) -> ErrorInfo:
    """A session's folder over its quota (the running check's error, or the count after the
    call), as the session's error."""
    quota = "sessions.max_files" if "files" in error.details.get("quota", "") \
        else "sessions.max_bytes"
    what = "files" if quota == "sessions.max_files" else "bytes"
    # (The count stops past the limit: what it says it used is only a lower bound.)
    return ResourceError(f"the session's folder went over its quota (more than "
                         f"{error.details.get('limit')} {what}, {quota}): the session was "
                         "closed and its folder removed (what each call made there was kept "
                         "as its artifacts)", code="session_quota_exceeded",
                         details={"quota": quota, "limit": error.details.get("limit"),
                                  "closed": True}).info


def _remove_small(path: str) -> WorkspaceUsage | None:
    """Remove a workspace of a few plain files on the spot; None if it needs the thread."""
    try:
        with os.scandir(path) as it:
            entries: list[os.DirEntry[str]] = []
            for entry in it:
                if len(entries) >= _INLINE_ENTRIES or entry.is_dir(follow_symlinks=False):
                    return None
                entries.append(entry)
        used = 0
        for entry in entries:
            used += entry.stat(follow_symlinks=False).st_blocks * 512
            os.unlink(entry.path)
        os.rmdir(path)
    except FileNotFoundError:
        return WorkspaceUsage(files=0, bytes=0, complete=True)
    except OSError:
        return None
    return WorkspaceUsage(files=len(entries), bytes=used, complete=True)


def _remove_or_log(path: str) -> WorkspaceUsage:
    try:
        return remove_tree(path)
    except OSError as exc:  # never fail an attempt over its leftovers: say so, go on
        _log.warning("workspace %s could not be removed completely: %s", path, exc)
        return WorkspaceUsage(files=0, bytes=0, complete=False)


def _remove_spares_and_slots(spares: list[str], slots: list[str],
                             own_root: str | None) -> None:
    """The spare workspaces, then the skills' folders left empty: in the data dir's own
    folder under /var/tmp (``own_root``) every one, then that folder if empty; in a folder
    the operator named (which may be shared: /tmp) only those this engine's calls used."""
    for path in spares:
        _remove_or_log(path)
    if own_root is not None:
        with contextlib.suppress(OSError), os.scandir(own_root) as it:
            slots = [e.path for e in it if e.is_dir(follow_symlinks=False)]
    for path in slots:
        with contextlib.suppress(OSError):  # not empty (kept workdirs, another engine's)
            os.rmdir(path)
    if own_root is not None:
        with contextlib.suppress(OSError):
            os.rmdir(own_root)
