"""Provisioning: the environment of a submitted call, made once its task id is answered.

``submit`` (so ``submit_script``, the HTTP routes and MCP tools that answer a task id)
answers as soon as the journal holds the task. A call of a skill whose environment this
engine has not made yet (packages to install: minutes for pandas or torch) is journaled
``queued`` and held outside the queue, as a session's call waiting for its turn is (see
:mod:`skillexec.pipeline.scripts`), while a holder makes the environment and then queues
it: ``status`` says ``queued``, ``events`` tells what is being installed (a progress
event), ``cancel`` ends it at once (``AsyncExecutor.unhold``) and stops the install if no
other call waits for it, and the engine's close waits for it within its grace, else leaves
it queued in the journal for the next engine. An install that fails, or that is not done
within the call's ``timeout`` (the install goes on), ends the task ``rejected`` with the
error its acceptance gave before. The holder takes no worker slot: a slow install holds up
no other skill's calls.

``execute`` and ``run_script`` wait for the end anyway: theirs is made as they are
accepted, as before (cancelling such a caller ends its wait, not an install other calls
may share). So is a call of a distributed engine, whose workers make their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from skillexec.environments.requirements import RequirementSet
from skillexec.errors import ExecutionError, SkillExecError
from skillexec.events import EventBus, TaskEvent
from skillexec.pipeline.intake import Accepted
from skillexec.request import CallOptions
from skillexec.runtime.runners.base import Outcome
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.skills.model import EntryKind, Skill
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["Provisioning"]

log = logging.getLogger("skillexec.engine")

Ready = Callable[..., Awaitable[Skill]]  # ScriptCalls.ready
Enqueue = Callable[[ExecutionTask, CallOptions], Awaitable[Accepted]]
Finish = Callable[..., Awaitable[ExecutionResult]]


class Provisioning:
    def __init__(self, *, ready: Ready,
                 pending: Callable[[Skill], RequirementSet | SkillExecError | None],
                 planned: Callable[[Skill], Skill], recheck: Callable[[Skill], None],
                 enqueue: Enqueue, queue: TaskQueue, executor: AsyncExecutor,
                 events: EventBus, finish: Finish) -> None:
        self.ready = ready
        self.pending = pending  # what a skill's environment still needs (None: ready)
        self._planned = planned  # EnvironmentManager.planned
        # The checks of the skill as it will run (with its environment, it runs as a child
        # process): acceptance made them of the skill as it was.
        self.recheck = recheck
        self.enqueue = enqueue
        self.queue, self.executor, self.events, self.finish = queue, executor, events, finish
        self._holders: set[asyncio.Task[None]] = set()

    def needed(self, skill: Skill) -> bool:
        """Whether ``skill``'s environment is to be installed (requirements that cannot be
        read refuse the call as it is accepted: there is nothing to wait for)."""
        return isinstance(self.pending(skill), RequirementSet)

    def planned(self, skill: Skill) -> Skill:
        """``skill`` as it will run once its environment is made, for its admission now: a
        skill with an environment runs as a child process (IsolationPolicy.wanted), so
        one that asks for ``inline`` is not refused for it (a script's runs as one anyway,
        and its environment is its skill's)."""
        return skill if skill.entry.kind is EntryKind.SCRIPT else self._planned(skill)

    async def accept(self, task: ExecutionTask, opts: CallOptions) -> Accepted:
        """Journal ``task`` held (not queued), answered at once; its holder makes its
        environment and then queues it. Held from before its journal write: a caller
        cancelled during the write cancels it as any held task (``Intake._gave_up``)."""
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[bool] = loop.create_future()
        holder = loop.create_task(self._hold(task, opts.timeout, accepted))
        self._holders.add(holder)
        holder.add_done_callback(self._holders.discard)
        self.executor.held[task.task_id] = holder
        try:
            answer = await self.enqueue(task, CallOptions(  # held, not queued
                opts.config, opts.priority, opts.timeout, opts.version, opts.max_retries,
                opts.principal, opts.cache, opts.limits, opts.deadline, opts.waits, held=True))
        except BaseException:
            accepted.set_result(False)
            raise
        accepted.set_result(answer[1] is None)
        return answer

    async def make(self, task: ExecutionTask, timeout: float | None) -> None:
        """Make ``task``'s environment now if it is not ready (a progress event says so);
        its skill becomes the one with its environment (a SkillExecError: it may not run)."""
        skill = task.skill
        if skill is None or (wanted := self.pending(skill)) is None:
            return
        if isinstance(wanted, RequirementSet):
            n = len(wanted.requirements)
            self.events.publish(TaskEvent(
                task.task_id, "progress", status=task.status, fraction=0.0,
                message=f"installing {n} package{'s' if n != 1 else ''} "
                        f"({', '.join(wanted.requirements)}): making the skill's environment",
                data={"installing": list(wanted.requirements)}))
        # stop: cancelling the task stops the install, unless another call waits for it
        ready = await self.ready(skill, timeout=timeout, stop=True)
        self.recheck(ready)
        task.skill = ready

    async def _hold(self, task: ExecutionTask, timeout: float | None,
                    accepted: asyncio.Future[bool]) -> None:
        """Cancelled: the task was cancelled meanwhile (whoever cancelled it ends it), or
        the engine closed (it stays queued in the journal)."""
        task_id = task.task_id
        if not await accepted:
            self.executor.held.pop(task_id, None)
            return
        try:
            await self.make(task, timeout)
        except Exception as exc:
            if self.executor.held.pop(task_id, None) is None:
                return  # cancelled meanwhile: ended by whoever cancelled it
            if isinstance(exc, SkillExecError):  # as its acceptance refused it before
                await self.finish(task, Outcome(error=exc.info), status=TaskStatus.REJECTED)
                return
            log.exception("task %s: making its environment failed", task_id)
            await self.finish(task, Outcome(error=ExecutionError(  # a bug: the task ends
                f"internal error: {exc!r}", code="engine_error").info))
            return
        if self.executor.held.pop(task_id, None) is None:
            return
        try:
            self.queue.push(task)
        except SkillExecError as exc:  # a full queue
            await self.finish(task, Outcome(error=exc.info), status=TaskStatus.REJECTED)
            return
        self.executor.dispatch()

    async def close(self) -> None:
        """Stop the holders (their tasks stay queued in the journal, for the next engine)."""
        holders = list(self._holders)
        for holder in holders:
            holder.cancel()
        await asyncio.gather(*holders, return_exceptions=True)
