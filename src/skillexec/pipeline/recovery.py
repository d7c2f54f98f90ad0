"""Recovery: what an engine does at start with the tasks a stopped engine left unfinished."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable

from skillexec.errors import CancelledError, ErrorInfo, ErrorType, SkillExecError
from skillexec.pipeline.origin import FolderCheck
from skillexec.runtime.runners.base import Outcome
from skillexec.scheduling.queue import TaskQueue
from skillexec.skills.registry import SkillRegistry
from skillexec.storage.store import StoredTask, TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["Recoverer", "Recovery", "cancelled_info", "task_from_stored"]

log = logging.getLogger("skillexec.engine")

Finish = Callable[..., Awaitable[ExecutionResult]]


@dataclasses.dataclass(frozen=True, slots=True)
class Recovery:
    """What this engine found at start that a stopped engine had left unfinished.

    ``resumed`` were queued again; ``interrupted`` ended ``failed`` (code ``interrupted``);
    ``cancelled`` ended ``cancelled`` (their cancellation had been asked); ``left`` were
    neither run nor ended, because this engine does not recover (``recover = false``, as
    the CLI's one-shot commands): they stay in the journal for an engine that does, and
    ``skillexec tasks cancel`` ends one.
    """

    resumed: tuple[str, ...] = ()
    interrupted: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    left: tuple[str, ...] = ()


def cancelled_info() -> ErrorInfo:
    return CancelledError("the task was cancelled").info


def task_from_stored(st: StoredTask) -> ExecutionTask:
    return ExecutionTask.of(st.task_id, st.request, status=st.status, attempts=st.attempts)


class Recoverer:
    """Resumes, ends or leaves a stopped engine's tasks; keeps those it left (orphans)."""

    def __init__(self, *, journal: TaskStore, skills: SkillRegistry, queue: TaskQueue,
                 live: dict[str, ExecutionTask], finish: Finish,
                 dispatch: Callable[[], None], shared: bool = False,
                 folders: FolderCheck | None = None) -> None:
        self.journal = journal
        self.skills = skills
        self.queue = queue
        self.live = live
        self.finish = finish
        self.dispatch = dispatch  # start what was queued again
        self.orphans: dict[str, StoredTask] = {}  # left unfinished, not recovered
        # Distributed mode: unfinished tasks belong to the workers' claims; the reaper and
        # the reconciler recover them, never an engine at start.
        self.shared = shared
        self.folders = folders  # the id names the folder the task was accepted for?

    async def at_start(self, *, recover: bool) -> Recovery:
        """What an engine that holds the data directory's lock does at start."""
        if self.shared:
            return Recovery()
        if not recover:
            return await self.leave_unfinished()
        found = await self.recover()
        if found.resumed:
            self.dispatch()
        return found

    async def recover(self) -> Recovery:
        """Resume or close every task a previous engine left unfinished (see README)."""
        stored = await self.journal.unfinished()
        resumed: list[str] = []
        interrupted: list[str] = []
        cancelled: list[str] = []
        for st in stored:
            task = task_from_stored(st)
            self.live[task.task_id] = task
            if st.cancel_requested:
                await self.finish(task, Outcome(error=cancelled_info()),
                                  status=TaskStatus.CANCELLED)
                cancelled.append(st.task_id)
            elif (gone := self._skill_gone(st)) is not None:
                await self.finish(task, Outcome(error=gone))
                interrupted.append(st.task_id)
            elif st.status in (TaskStatus.PENDING, TaskStatus.QUEUED) or st.request.idempotent:
                task.status = TaskStatus.QUEUED
                task.queued_mono = time.monotonic()
                self.queue.push(task)
                resumed.append(st.task_id)
            else:
                interrupted.append(st.task_id)
                await self.finish(task, Outcome(error=ErrorInfo(
                    type=ErrorType.EXECUTION, code="interrupted", retryable=False,
                    message=f"the engine stopped while task {st.task_id} was running; "
                            f"skill {st.request.skill_id!r} is not idempotent, so it was not "
                            "re-run")))
        if stored:
            # Never silent: a user must be able to tell why tasks they did not submit now run.
            log.warning("recovered %d tasks a stopped engine left unfinished: resumed %s; "
                        "ended interrupted %s; ended cancelled %s (engine.recovery has "
                        "every id)", len(stored), _some(resumed), _some(interrupted),
                        _some(cancelled))
        return Recovery(resumed=tuple(resumed), interrupted=tuple(interrupted),
                        cancelled=tuple(cancelled))

    def _skill_gone(self, st: StoredTask) -> ErrorInfo | None:
        try:
            skill = self.skills.get(st.request.skill_id, st.request.skill_version)
        except SkillExecError as exc:
            return ErrorInfo(
                type=ErrorType.EXECUTION, code="interrupted", retryable=False,
                message=f"the engine stopped before task {st.task_id} finished, and its "
                        f"skill is no longer available: {exc}")
        refused = self.folders.refusal(st.task_id, st.request, skill) if self.folders else None
        if refused is not None:  # the id names another folder now: its code is not the task's
            return ErrorInfo(
                type=ErrorType.EXECUTION, code="interrupted", retryable=False,
                message=f"the engine stopped before task {st.task_id} finished, and it was "
                        f"not resumed: {refused.message}", details=refused.details)
        return None

    async def leave_unfinished(self) -> Recovery:
        """``recover = false``: run none of a stopped engine's leftovers, end none — except
        those whose cancellation was asked, which nobody else would ever end."""
        cancelled: list[str] = []
        for st in await self.journal.unfinished():
            if st.cancel_requested:
                await self.end_orphan(st)
                cancelled.append(st.task_id)
            else:
                self.orphans[st.task_id] = st
        return Recovery(cancelled=tuple(cancelled), left=tuple(self.orphans))

    async def end_orphan(self, st: StoredTask) -> None:
        self.orphans.pop(st.task_id, None)
        task = task_from_stored(st)
        self.live[task.task_id] = task
        await self.finish(task, Outcome(error=cancelled_info()), status=TaskStatus.CANCELLED)


def _some(ids: list[str], shown: int = 10) -> str:
    if not ids:
        return "none"
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return f"{len(ids)} ({', '.join(ids[:shown])}{more})"
