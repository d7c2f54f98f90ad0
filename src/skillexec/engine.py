"""SkillExecutionEngine: the pipeline, and nothing else.

submit: resolve the skill → admission (parameters validated, may it run here) → the result
cache → journal (durable) → queue. A worker slot runs the task through the attempt loop, and
:meth:`_finish` stores the result and wakes whoever waits. The other stages are in
:mod:`skillexec.pipeline`; cross-cutting concerns are middleware, given Services."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from skillexec.config import EngineConfig
from skillexec.errors import ParameterError, ResourceError, SkillExecError
from skillexec.events import TaskEvent
from skillexec.middleware import Middleware
from skillexec.optimization.optimizer import ExecutionOptimizer
from skillexec.pipeline.admission import deadline_s, wait_timeout_s
from skillexec.pipeline.assembly import Given, assemble, configured
from skillexec.pipeline.intake import Intake
from skillexec.pipeline.lifecycle import usable
from skillexec.pipeline.provisioning import Provisioning
from skillexec.pipeline.recovery import Recovery
from skillexec.pipeline.results import output_limit, result_of
from skillexec.reliability.retry import RetryStrategy
from skillexec.request import CallOptions
from skillexec.resources.limits import CallLimits
from skillexec.resources.manager import ResourceManager
from skillexec.runtime.runners.base import Outcome, Runner
from skillexec.security.principals import Who
from skillexec.skills.loader import LoadReport
from skillexec.skills.model import Skill
from skillexec.storage.store import TaskStore
from skillexec.task import (
    ArtifactRef,
    ExecutionResult,
    ExecutionTask,
    TaskInfo,
    TaskStatus,
    new_task_id,
)

__all__ = ["Recovery", "SkillExecutionEngine"]

log = logging.getLogger("skillexec.engine")
SkillRef = str | Callable[..., Any] | Skill


class SkillExecutionEngine:
    """Runs skills. Use as ``async with SkillExecutionEngine(skills_dir="skills") as engine``."""

    def __init__(
        self, *, skills_dir: str | Path | None = None, data_dir: str | Path | None = None,
        max_concurrency: int | None = None, default_timeout_s: float | None = None,
        config: EngineConfig | None = None, middleware: Sequence[Middleware] = (),
        runners: Mapping[str, Runner] | None = None, store: TaskStore | None = None,
        retry_strategy: RetryStrategy | None = None, resources: ResourceManager | None = None,
        optimizer: ExecutionOptimizer | None = None,
    ) -> None:
        self.config = config = configured(config, skills_dir=skills_dir, data_dir=data_dir,
                                          max_concurrency=max_concurrency,
                                          default_timeout_s=default_timeout_s)
        self._default_deadline_s = config.default_deadline_s  # read per call: kept at hand
        self._started = self._closing = self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._background: set[asyncio.Task[Any]] = set()
        p = self._pipeline = assemble(
            config, Given(middleware, runners, store, retry_strategy, resources, optimizer),
            finish=self._finish, spawn=self._spawn, started=lambda: self._started,
            closing=lambda: self._closing)
        self._store, self._live, self._queue = p.journal, p.tasks.live, p.queue
        self.skills, self.validator, self.artifacts = p.skills, p.validator, p.artifacts
        self.errors = self.error_handler = p.error_handler  # DESIGN §4.1 names it engine.errors
        self.resources, self.optimizer = p.resources, p.optimizer
        self.middleware, self.events_bus, self.executor = p.hooks, p.events, p.executor
        self.services, self.monitor, self.smart = p.services, p.monitor, p.smart
        self._tasks, self._cache, self._run = p.tasks, p.cache, p.attempts.run
        self._task_for, self.recovery, self._access = p.admission.task_for, Recovery(), p.access
        self.environments, self.audit, self.keys = p.environments, p.audit, p.keys
        self._output_filter, self.purger, self._scripts = p.attempts.output_filter, p.purger, \
            p.scripts
        self._caller_cancelled = p.cancellation.caller_cancelled  # execute() cancelled
        self.purge, self.sessions = p.purger.purge, p.scripts.sessions  # §4.5, §3.5
        # As Services has them: a skill's runner; whether runner ``name`` runs a skill here.
        self.isolation_of, self.runner_allows = p.book.isolation_of, p.book.runner_allows
        self._remote, self.claimed, self.folders = p.remote, p.claimed, p.folders  # see Pipeline
        self._intake = Intake(journal=p.journal, live=self._live, queue=p.queue,
                              executor=p.executor, access=p.access, events=p.events,
                              remote=p.remote, admission=p.admission, finish=self._finish,
                              cancel=p.cancellation.cancel)
        if p.remote is None:  # a follower whose leader was cancelled runs here
            p.cache.rerun = p.executor.requeue
        p.cancellation.unfollow = p.cache.unfollow  # a follower cancelled ends at once
        # A submitted call's environment, made once its id is answered (pipeline.provisioning).
        self._provisioning = Provisioning(
            ready=p.scripts.ready, pending=p.scripts.pending, recheck=p.admission.recheck,
            planned=p.environments.planned, enqueue=self._intake.enqueue, queue=p.queue,
            executor=p.executor, events=p.events, finish=self._finish)
        p.scripts.bind(execute=self.execute, submit=self.submit, accept=self._accept,
                       reject=lambda t, e, o: self._intake.reject(new_task_id(), t, None, e, o),
                       provisioning=self._provisioning)
        # A skill's bundled script as a task (DESIGN §3.5, skillexec.pipeline.scripts):
        # run_script answers its result; submit_script its task id, as submit does.
        self.run_script, self.submit_script = p.scripts.run, p.scripts.submit

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> SkillExecutionEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self, *, warm_in_background: bool = False) -> None:
        """Open the journal, load and warm up the skills; ``warm_in_background``: without
        waiting for the warm-up (a call waits for its own skill's, within its timeout)."""
        usable(self._closed, self._loop)  # closed: refused, not reopened (pipeline.lifecycle)
        if self._started:
            return
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self._store.open()
        self._started, self._loop = True, asyncio.get_running_loop()  # the loop it serves
        if self.config.skills_dir is not None:
            self._pipeline.book.load(self.config.skills_dir, warm=False)  # warmed up just below
        warm = self._pipeline.book.prepare_all()
        if warm_in_background:
            self._spawn(warm)
        else:
            await warm
        await self.middleware.start(self.services)
        self._access.started(self.config.data_dir, self.config.digest())
        if self._pipeline.lock.take(warn=self.config.recover):
            self.recovery = await self._pipeline.recoverer.at_start(recover=self.config.recover)
        for job in self._pipeline.background():  # cancel requests, retention, sessions
            self._spawn(job)

    async def close(self, *, grace_s: float = 30.0) -> None:
        """Finish what is queued and running (up to ``grace_s``), then release everything.
        Nothing starts after the grace: tasks still unfinished stay in the journal for the
        next engine to resume, and their callers (``execute``, ``wait``) get
        ``engine_closed``."""
        if not self._started or self._closing:
            return
        self._closing = True
        await self.executor.drain(grace_s=grace_s)
        await self._pipeline.cancellation.cut(self._background)
        await self._pipeline.close()
        self._pipeline.lock.release()
        self._started, self._closed = False, True

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    # -- skills ----------------------------------------------------------------------------

    def load_skills(self, path: str | Path) -> LoadReport:
        """Add every skill folder under ``path``; the report lists those not loaded."""
        return self._pipeline.book.load(path)

    def prepare_only(self, *skills: str) -> SkillExecutionEngine:
        """Warm only these skills (ids, folder names/paths) at start, warn only about their
        folders; others are prepared on first use (``skillexec run``). Before start()."""
        self._pipeline.book.prepare_only = frozenset(skills) | {Path(s).name for s in skills}
        return self

    def register(self, fn_or_path: Callable[..., Any] | str | Path | Skill) -> Skill:
        """Add a decorated function, a skill folder, or a Skill; returns what was added."""
        return self._pipeline.book.register(fn_or_path)

    @property
    def journal(self) -> TaskStore:  # reports, events and artifacts read it
        return self._store

    # -- the public calls --------------------------------------------------------------------

    async def submit(
        self, skill_id: SkillRef, params: Mapping[str, Any] | None = None, *,
        config: Mapping[str, Any] | None = None, priority: int | None = None,
        timeout: float | None = None, version: str | None = None,
        max_retries: int | None = None, principal: Who = None, cache: bool = True,
        limits: CallLimits | Mapping[str, float | int | None] | None = None,
        deadline: float | None = None,
    ) -> str:
        """Accept a task and return its id once the journal holds it.

        ``skill_id`` is a skill's id, or a ``@skill``-decorated function or a Skill (added
        to the registry on first use, as :meth:`register` does).

        A request that cannot run (unknown skill, invalid parameters, full queue, ...) is
        still given an id: its task ends at once in ``rejected`` with the reason.
        ``cache=False`` bypasses the result cache and single-flight; ``limits``
        (memory_mb, cpu_seconds, wall_s, max_output_bytes) can only tighten the skill's.
        ``timeout`` (seconds) bounds each attempt, every attempt alike; ``deadline``
        (seconds from now) bounds the whole call, all attempts and the waits between them
        (default: the ``default_deadline_s`` setting, unset: no overall limit)."""
        if not isinstance(skill_id, str):
            skill_id, version = self._pipeline.book.ref(skill_id, version)
        task, _ = await self._accept(skill_id, params, CallOptions(
            config, priority, timeout, version, max_retries, principal, cache, limits,
            deadline))
        # Only a slot taken at acceptance is started here: a queued task may already have
        # been started by dispatch() while its journal record was being written.
        if task.claimed:
            self.executor.start(task)
        return task.task_id

    async def execute(
        self, skill_id: SkillRef, params: Mapping[str, Any] | None = None, *,
        config: Mapping[str, Any] | None = None, priority: int | None = None,
        timeout: float | None = None, version: str | None = None,
        max_retries: int | None = None, principal: Who = None, cache: bool = True,
        limits: CallLimits | Mapping[str, float | int | None] | None = None,
        deadline: float | None = None,
    ) -> ExecutionResult:
        """Submit and wait: the result of one call (``skill_id`` as for :meth:`submit`). With a
        free slot it runs in the caller's coroutine (no task to spawn, no future to wake);
        cancelling the caller cancels it, queued or running. A cache hit takes no slot."""
        if not isinstance(skill_id, str):
            skill_id, version = self._pipeline.book.ref(skill_id, version)
        task, result = await self._accept(skill_id, params, CallOptions(
            config, priority, timeout, version, max_retries, principal, cache, limits,
            deadline, waits=True))
        if result is not None:
            return result
        try:
            if task.claimed:
                ran = await self._run(self.executor.adopted(task))
                if ran is not None:  # None: a worker's claim handed back, never a call's
                    return ran
            return await self.wait(task.task_id)
        except asyncio.CancelledError as exc:  # the caller's, or close() cut it short
            raise self._caller_cancelled(task, exc, self._closing, self._spawn) from None

    async def wait(self, task_id: str, timeout: float | None = None, *,
                   principal: Who = None) -> ExecutionResult:
        """The result of a task, once it ends (``timeout``: seconds, then a WaitTimeoutError,
        a TimeoutError too; an unknown id: a TaskNotFoundError)."""
        usable(self._closed, self._loop)
        timeout = wait_timeout_s(timeout)
        await self._access.check(task_id, principal)
        return await self._tasks.wait(task_id, timeout)

    async def status(self, task_id: str, *, principal: Who = None) -> TaskInfo:
        usable(self._closed, self._loop)
        return await self._access.status(task_id, principal)

    async def history(self, task_id: str, *, principal: Who = None) -> list[dict[str, Any]]:
        """Each attempt of a finished task: its timing, error and the decision taken."""
        usable(self._closed, self._loop)
        await self._access.check(task_id, principal)
        history = await self._store.history(task_id)
        if not history and task_id not in self._live:  # none yet, or no such task
            await self._access.status(task_id, None)  # (a TaskNotFoundError)
        return history

    async def tasks(self, *, status: TaskStatus | None = None, skill_id: str | None = None,
                    limit: int = 50, principal: Who = None) -> list[TaskInfo]:
        usable(self._closed, self._loop)
        return await self._access.tasks(status, skill_id, limit, principal)

    async def cancel(self, task_id: str, *, principal: Who = None,
                     wait_s: float = 5.0) -> bool:
        """Cancel a queued or running task: True once it has ended cancelled (or after
        ``wait_s``, while it still unwinds; 0: at once). False if it had already ended (so
        a second cancel); a TaskNotFoundError for an unknown id."""
        usable(self._closed, self._loop)
        wait_s = wait_timeout_s(wait_s, name="wait_s") or 0.0
        await self._access.may_cancel(task_id, principal)
        return await self._pipeline.cancellation.cancel(task_id, wait_s=wait_s)

    async def cancel_all(self, *, grace_s: float = 0.0) -> list[str]:
        """Stop: cancel every queued task, give running ones ``grace_s``, then cancel them;
        return once each end is journaled (what an interrupted CLI command does)."""
        usable(self._closed, self._loop)
        return await self._pipeline.cancellation.cancel_all(grace_s=grace_s)

    async def events(self, task_id: str | None = None, *,
                     principal: Who = None) -> AsyncIterator[TaskEvent]:
        """Follow one task's events from its start to its end (or every task's)."""
        usable(self._closed, self._loop)
        async for event in self._access.follow(self.events_bus, task_id, principal):
            yield event

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def running_count(self) -> int:
        return self.executor.slots

    # -- accept and finish -------------------------------------------------------------------

    async def _accept(self, skill_id: str, params: Mapping[str, Any] | None,
                      opts: CallOptions) -> tuple[ExecutionTask, ExecutionResult | None]:
        if not self._started:
            await self.start()  # refused once closed
        elif asyncio.get_running_loop() is not self._loop:  # (else "Event loop is closed")
            usable(self._closed, self._loop)
        if self.resources.sampling is False and (sampler := self.resources.sampler()):
            self._spawn(sampler)
        task_id = new_task_id()
        skill: Skill | None = None
        later = False  # its environment made once its id is answered (pipeline.provisioning)
        try:
            if self._closing:
                raise ResourceError("the engine is shutting down", code="engine_closing",
                                    retryable=True)
            self._pipeline.book.refresh()  # another process's `skills install ID PKG`
            skill = self.skills.get(skill_id, opts.version)
            if self.environments.pending and skill.runnable:
                # Made now (off the loop) for a caller who waits for the end anyway, and on
                # a distributed engine (its workers make their own); after, for submit's.
                later = not (opts.waits or self._remote is not None) and \
                    self._provisioning.needed(skill)
                skill = self._provisioning.planned(skill) if later else \
                    await self._scripts.ready(skill, timeout=opts.timeout)
            deadline = None if opts.deadline is None and self._default_deadline_s is None \
                else deadline_s(opts.deadline, self._default_deadline_s)
            task = self._task_for(task_id, skill, params, opts.config, opts.priority,
                                  opts.timeout, opts.max_retries, opts.principal, deadline)
            for mw in self.middleware.on_submit:
                try:
                    if (pending := mw.on_submit(task, skill)) is not None:
                        await pending
                except SkillExecError:
                    raise  # a refusal
                except Exception:
                    self.middleware.failed(mw, "on_submit")
            # Checked before the cache: bad limits fail alike whether or not a result is kept.
            limits = opts.own_limits()
            ex, key = skill.execution, None
            if (ex.cacheable or ex.idempotent) and self.optimizer.enabled:
                key = self.optimizer.key(task)
                if opts.cache and (hit := await self._cache.shortcut(task, skill, key)):
                    return hit
            self.resources.admit(task, skill, limits, timeout_given=opts.timeout is not None)
            if key is not None:
                self.optimizer.lead(key, task, skill, bypass=not opts.cache)
        except (SkillExecError, ValueError) as exc:  # ValueError: limits= that are not limits
            err = exc if isinstance(exc, SkillExecError) else ParameterError(
                str(exc), code="invalid_limits")
            return await self._intake.reject(task_id, skill_id, skill.version if skill else
                                             opts.version, err, opts)
        if later and not opts.held:  # (held: its session's turn makes it, pipeline.scripts)
            return await self._provisioning.accept(task, opts)
        return await self._intake.enqueue(task, opts)

    async def _finish(self, task: ExecutionTask, outcome: Outcome, *,
                      status: TaskStatus | None = None,
                      history: list[dict[str, Any]] | None = None,
                      artifacts: list[ArtifactRef] | None = None,
                      cached: bool = False) -> ExecutionResult:
        """The end of every task: journaled (awaited, a failure logged), then its waiter,
        its subscribers, resources, the cache's followers, the error handler, middleware."""
        if self.resources.output_limits:
            outcome = output_limit(self.resources.output_limits, task, outcome)
        outcome = self._output_filter.final_error(task, outcome)  # a refusal may quote secrets
        result = result_of(task, outcome, status, artifacts, cached)
        metrics, status = result.metrics, result.status
        task.status, task.result = status, result
        self._access.ended(task, result)
        cut = False
        try:
            await self._store.finished(task, result, history or [],
                                       output_json=outcome.output_json)
        except asyncio.CancelledError:  # the write goes on; the task must still end here
            cut = True  # (its waiters, its flight's followers): re-raised once it has
        except SkillExecError:
            log.exception("task %s: the journal could not record its end", task.task_id)
        self._tasks.ended(task, result)
        self.resources.finished(task.request.skill_id, task.request.principal, metrics,
                                ok=status is TaskStatus.SUCCEEDED, cached=cached,
                                refused=status is TaskStatus.REJECTED,
                                cancelled=status is TaskStatus.CANCELLED)
        flight = self.optimizer.landed(task.task_id)
        if flight is not None:
            await self._cache.land(flight, task, result, outcome)
        self.error_handler.on_finish(task, result)
        for mw in self.middleware.on_finish:
            try:
                if (pending := mw.on_finish(task, result)) is not None:
                    await pending
            except Exception:
                self.middleware.failed(mw, "on_finish")
        if cut:
            raise asyncio.CancelledError
        return result
