"""Access: who may see, cancel and read what, and the audit records of a task's life.

A runner sees its own tasks and artifacts only; anything else is answered exactly as an
unknown id is (not found), so that an id is never confirmed to someone who may not read it.
Operators and admins see every task (``read_any``, ``cancel_any``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from skillexec.errors import ErrorType, SkillExecError, TaskNotFoundError
from skillexec.events import EventBus, TaskEvent
from skillexec.pipeline.skillbook import SkillBook
from skillexec.pipeline.tasks import LiveTasks
from skillexec.security.audit import AuditLog
from skillexec.security.principals import Who, principal_of
from skillexec.storage.store import ArtifactRecord, TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskInfo, TaskStatus

__all__ = ["Access"]


class Access:
    def __init__(self, *, tasks: LiveTasks, journal: TaskStore, audit: AuditLog,
                 book: SkillBook) -> None:
        self._tasks = tasks
        self._journal = journal
        self._audit = audit
        self._book = book

    async def status(self, task_id: str, principal: Who) -> TaskInfo:
        info = await self._tasks.status(task_id)
        if principal is not None and not principal_of(principal).may_read_task(info.principal):
            raise not_found(task_id)
        return info

    async def tasks(self, status: TaskStatus | None, skill_id: str | None, limit: int,
                    principal: Who) -> list[TaskInfo]:
        """The newest tasks; a principal without ``read_any`` sees only its own."""
        who = None if principal is None else principal_of(principal)
        return await self._journal.list_tasks(
            status=status, skill_id=skill_id, limit=limit,
            principal=None if who is None or who.can("read_any") else who.id)

    async def follow(self, bus: EventBus, task_id: str | None,
                     principal: Who) -> AsyncIterator[TaskEvent]:
        """``engine.events``: a task's events from its start to its end (every task's:
        ``read_any`` only)."""
        first = await self.first_event(task_id, principal)
        ended = None
        if task_id is not None and task_id not in self._tasks.live:
            # Another engine runs it (a worker, in distributed mode; another process on
            # the same journal): none of its events comes to this bus, so its end is read
            # from the journal.
            journal = self._journal

            async def ended(tid: str) -> TaskInfo | None:
                return await journal.wait_finished(tid, timeout_s=None)

        async for event in bus.subscribe(task_id, first, journal=self._journal.get,
                                         ended=ended):
            yield event

    async def check(self, task_id: str, principal: Who) -> None:
        """Raise "not found" unless ``principal`` (None: no check) may read this task."""
        if principal is None:
            return
        # A live task answers from memory: no TaskInfo built only to read its owner (the
        # execute route's wait asks this once per call).
        task = self._tasks.live.get(task_id)
        if task is None:
            await self.status(task_id, principal)
        elif not principal_of(principal).may_read_task(task.request.principal):
            raise not_found(task_id)

    async def may_cancel(self, task_id: str, principal: Who) -> None:
        if principal is None:
            return
        who = principal_of(principal)
        info = await self.status(task_id, who)
        if not who.may_cancel_task(info.principal):
            raise not_found(task_id)
        self._audit.record("task.cancel", principal=who, target=task_id)

    async def may_read_artifact(self, record: ArtifactRecord, principal: Who) -> bool:
        """Whether ``principal`` may read the task that made this artifact (audited)."""
        who = principal_of(principal)
        owner = None
        if record.task_id is not None:
            try:
                owner = (await self._tasks.status(record.task_id)).principal
            except TaskNotFoundError:
                owner = None  # its task is gone: only read_any may read it
        ok = who.may_read_task(owner) if record.task_id is not None else who.can("read_any")
        self._audit.record("artifact.read", principal=who, target=record.ref.id,
                           outcome="ok" if ok else "denied",
                           details={"task_id": record.task_id})
        return ok

    def started(self, data_dir: Path, config_sha256: str) -> None:
        """Audit: an engine started, and with which settings (their digest: a changed
        configuration shows as a new digest, without its values)."""
        self._audit.record("engine.started", target=str(data_dir),
                           details={"config_sha256": config_sha256})

    async def first_event(self, task_id: str | None, principal: Who) -> TaskEvent | None:
        """The status event a subscription starts with (every task's: ``read_any`` only)."""
        if task_id is None:
            if principal is not None and not principal_of(principal).can("read_any"):
                raise TaskNotFoundError("no task events for this principal")
            return None
        info = await self.status(task_id, principal)
        return TaskEvent(task_id=task_id, kind="status", status=info.status,
                         attempt=info.attempts)

    def submitted(self, task: ExecutionTask) -> None:
        """Audit (``audit.task_submissions`` on): a task was accepted. Queued before the
        task's own row, so that both go in one group commit."""
        audit = self._audit
        if audit.enabled and audit.task_submissions:
            audit.task("task.submitted", task.request.principal, task.task_id, "ok",
                       self._what(task, None))

    def ended(self, task: ExecutionTask, result: ExecutionResult) -> None:
        """Audit: a task ended (with what it ran: by default the one record of a task that
        ran, its submission folded in); a refusal says why, a permission refused is its
        own action."""
        audit = self._audit
        if not audit.enabled:
            return
        err, status = result.error, result.status
        action = "task.finished"
        if err is not None and status is TaskStatus.REJECTED:
            action = "permission.denied" if err.type is ErrorType.PERMISSION \
                else "task.refused"
        audit.task(action, task.request.principal, task.task_id, status._value_,
                   self._what(task, None if err is None else err.code))

    def _what(self, task: ExecutionTask, code: str | None) -> dict[str, Any]:
        """Which skill, which version, under which isolation, accepted when (µs); and the
        error's code if it failed."""
        req = task.request
        what = {"skill": req.skill_id, "version": req.skill_version,
                "isolation": task.runner or self._isolation(task),
                "submitted_us": int(req.created_at * 1_000_000)}
        if code is not None:
            what["code"] = code
        return what

    def _isolation(self, task: ExecutionTask) -> str | None:
        if task.skill is None:
            return None
        try:
            return self._book.isolation_of(task.skill)
        except SkillExecError:  # refused (the reason is the task's error): none it ran at
            return None


def not_found(task_id: str) -> TaskNotFoundError:
    # The very error an unknown id gets: another principal's task is not even confirmed.
    return TaskNotFoundError(f"no task with id {task_id!r}")
