"""Remote: the pipeline's stages for distributed mode (a broker is configured).

``enqueue`` replaces the local queue on the submitting node: the task is journaled (durable)
and then only its id is published; any worker claims and runs it. ``ClaimedRuns`` is the
worker's side: a task a worker claimed from the journal runs through this engine's own queue
(priority order), slots and attempt loop, exactly as a local one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from skillexec.distributed.node_types import Unstarted
from skillexec.errors import ErrorInfo, SkillNotFoundError
from skillexec.events import EventBus
from skillexec.pipeline.recovery import task_from_stored
from skillexec.pipeline.tasks import HandedBack, LiveTasks
from skillexec.runtime.runners.base import Outcome
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.skills.registry import SkillRegistry
from skillexec.storage.store import StoredTask, TaskStore
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["ClaimedRuns", "Publisher", "RemoteEnqueue"]

log = logging.getLogger("skillexec.distributed")


class Publisher(Protocol):
    def publish(self, task_id: str, *, priority: int, queue: str | None = None) -> None: ...


_MAX_PUBLISHED = 100_000  # ids remembered for an interruption (LiveTasks.published)


class RemoteEnqueue:
    def __init__(self, *, journal: TaskStore, events: EventBus, publisher: Publisher,
                 published: dict[str, float | None] | None = None) -> None:
        self.journal = journal
        self.events = events
        self.publisher = publisher
        self.published = {} if published is None else published

    async def enqueue(self, task: ExecutionTask, *,
                      waits: bool = False) -> tuple[ExecutionTask, None]:
        """``waits``: the caller waits for the task's end and is told nothing before it,
        so the row need only be committed, not flushed, before anyone relies on it: the
        end's durable commit flushes it (and a non-idempotent task's durable start does,
        before it runs). A crash of the database in between loses a task nobody was told
        of. Such a task is also published as soon as its commit is on the wire, not after
        its reply (a journal with ``when_sent``): the commit lands at the server while the
        message travels, and a worker whose claim finds no row yet tries again for a
        while (``WorkerNode``). A commit that fails after its bell rang is its caller's error,
        and one whose submitter died on the way was told to nobody: a worker that heard of
        either drops the message once its retries find no row."""
        task.status = TaskStatus.QUEUED
        task.queued_mono = time.monotonic()
        written = self.journal.queued(task, flushed=not waits)
        when_sent = getattr(self.journal, "when_sent", None) if waits else None
        if when_sent is not None and when_sent(written, lambda: self._publish(task)):
            await written
        else:  # in the journal before anyone hears of it; durable before its submitter
            await written
            self._publish(task)
        published = self.published
        r = task.request  # a waiter here gives up at its deadline (JournalWatcher)
        published[task.task_id] = None if r.deadline_s is None else r.created_at + r.deadline_s
        if len(published) > _MAX_PUBLISHED:  # never waited for (submit only): long ended
            del published[next(iter(published))]
        self.events.status(task)
        return task, None

    def _publish(self, task: ExecutionTask) -> None:
        try:
            self.publisher.publish(task.task_id, priority=task.request.priority)
        except Exception as exc:  # the journal has it: the reconciler publishes it again
            log.warning("task %s journaled but not published (%s); a worker's reconciler "
                        "will publish it", task.task_id, exc)


class ClaimedRuns:
    def __init__(self, *, tasks: LiveTasks, queue: TaskQueue, executor: AsyncExecutor,
                 finish: Callable[..., Awaitable[ExecutionResult]],
                 skills: SkillRegistry) -> None:
        self.tasks = tasks
        self.queue = queue
        self.executor = executor
        self.finish = finish
        self.skills = skills
        self._claims: set[str] = set()  # ids run here for a claim (may be handed back)
        self._given_back: set[str] = set()  # of those, taken out of the queue (give_back)

    async def run(self, st: StoredTask) -> ExecutionResult | Unstarted:
        """Run a task this node claimed; its result once it ends, or why it did not start
        here (the node's to hand back: the skill is not on this node, or the journal could
        not record the start of a task that is not idempotent)."""
        try:
            self.skills.get(st.request.skill_id, st.request.skill_version)
        except SkillNotFoundError:
            return Unstarted.NO_SKILL
        task = task_from_stored(st)
        task.status = TaskStatus.QUEUED
        task.queued_mono = time.monotonic()
        task_id = task.task_id
        self.tasks.live[task_id] = task
        self._claims.add(task_id)
        try:
            self.queue.push(task)
            self.executor.dispatch()
            return await self.tasks.wait(task_id, here=True)
        except HandedBack:
            if task_id in self._given_back:
                return Unstarted.GIVEN_BACK
            return Unstarted.START_NOT_WRITTEN
        finally:
            self._claims.discard(task_id)
            self._given_back.discard(task_id)

    def hand_back(self, task: ExecutionTask) -> bool:
        """The attempt loop's question for a task that did not start: True (and its waiters
        told) if it is a claim of this node's, to be handed back rather than ended."""
        if task.task_id not in self._claims:
            return False
        self.tasks.handed_back(task.task_id)
        return True

    def give_back(self, task_id: str) -> bool:
        """Take a claimed task that still waits in this engine's queue out of it, unstarted
        (its worker is stopping, or no longer holds its lease): ``run`` returns
        ``Unstarted.GIVEN_BACK``. False if it is not waiting here (started, or no claim)."""
        if task_id not in self._claims or not self.queue.discard(task_id):
            return False
        self._given_back.add(task_id)
        self.tasks.handed_back(task_id)
        return True

    async def end(self, st: StoredTask, error: ErrorInfo, *,
                  status: TaskStatus | None = None) -> ExecutionResult:
        """End a claimed task without running it (cancelled before it started, or a dead
        worker's non-idempotent task)."""
        task = task_from_stored(st)
        self.tasks.live[task.task_id] = task
        # Its one entry says why (without it, a reader took the row for a clean attempt).
        r = st.request
        entry = {"attempt": task.attempts, "skill": f"{r.skill_id}@{r.skill_version}",
                 "metrics": {}, "error": error.to_dict(), "decision": "ended, not run here"}
        return await self.finish(task, Outcome(error=error), status=status, history=[entry])

    def held(self) -> list[str]:
        """Ids of the tasks this node holds now (queued or running)."""
        return list(self.tasks.live)
