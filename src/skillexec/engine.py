"""SkillExecutionEngine: the pipeline, and nothing else.

submit: resolve the skill → admission (parameters validated, may it run here) → the result
cache → journal (durable) → queue. A worker slot then runs the task through the attempt
loop, and :meth:`_finish` stores the result and wakes whoever waits. The other stages are
in :mod:`skillexec.pipeline`; cross-cutting concerns plug in as middleware
(:mod:`skillexec.middleware`), given the engine's :class:`~skillexec.services.Services`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from skillexec.artifacts import ArtifactManager
from skillexec.config import EngineConfig, load_config
from skillexec.errors import (
    ErrorType,
    ParameterError,
    ResourceError,
    SkillExecError,
    SkillNotFoundError,
)
from skillexec.middleware import HookIndex, Middleware
from skillexec.monitoring.events import EventBus, TaskEvent
from skillexec.monitoring.monitor import ExecutionMonitor, MonitorSettings
from skillexec.optimization.optimizer import ExecutionOptimizer
from skillexec.pipeline.admission import Admission, deadline_s
from skillexec.pipeline.attempts import AttemptLoop
from skillexec.pipeline.cache import ResultCache
from skillexec.pipeline.lock import DataDirLock
from skillexec.pipeline.recovery import Recoverer, Recovery, cancelled_info
from skillexec.pipeline.skillbook import SkillBook
from skillexec.pipeline.watcher import JournalWatcher
from skillexec.reliability.classify import ErrorClassifier
from skillexec.reliability.handler import ErrorHandler
from skillexec.reliability.retry import ExponentialBackoffRetryStrategy, RetryStrategy
from skillexec.request import CallOptions
from skillexec.resources.limits import CallLimits
from skillexec.resources.manager import ResourceManager
from skillexec.resources.pressure import PressureGauge
from skillexec.resources.prometheus import UsageCollector
from skillexec.runtime.environment import ExecutionEnvironment
from skillexec.runtime.runners.base import Outcome, Runner
from skillexec.runtime.runners.inline import InlineRunner
from skillexec.runtime.runners.process import ProcessRunner
from skillexec.runtime.runners.sandbox import SandboxRunner
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.services import Services
from skillexec.skills.loader import LoadReport
from skillexec.skills.model import Isolation, Skill
from skillexec.skills.registry import SkillRegistry
from skillexec.smart.executor import SmartExecutor
from skillexec.storage.memory import MemoryStore
from skillexec.storage.sqlite import SQLiteStore
from skillexec.storage.store import TaskStore
from skillexec.task import (
    ArtifactRef,
    ExecutionResult,
    ExecutionTask,
    TaskInfo,
    TaskStatus,
    new_task_id,
)
from skillexec.validation import ParameterValidator

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
        overrides = {"skills_dir": skills_dir, "data_dir": data_dir,
                     "max_concurrency": max_concurrency, "default_timeout_s": default_timeout_s}
        if config is None:
            config = load_config(**overrides)
        elif any(v is not None for v in overrides.values()):
            config = config.model_copy(update={k: v for k, v in overrides.items()
                                               if v is not None})
        self.config = c = config
        self._default_deadline_s = c.default_deadline_s  # read per call: kept at hand
        self._store: TaskStore = store or (
            SQLiteStore(c.journal_path, synchronous=c.journal_synchronous,
                        max_batch=c.journal_max_batch) if c.journal else MemoryStore())
        self.skills = SkillRegistry()
        self.validator = ParameterValidator(coerce=c.coerce_parameters,
                                            max_param_bytes=c.max_param_bytes,
                                            max_output_bytes=c.max_output_bytes)
        self.classifier = ErrorClassifier()
        self.retry = retry_strategy or ExponentialBackoffRetryStrategy(
            base_delay_s=c.retry_base_delay_s, max_delay_s=c.retry_max_delay_s)
        self.error_handler = ErrorHandler(classifier=self.classifier, retry=self.retry,
                                          config=c, store=self._store)
        self.artifacts = ArtifactManager(c.artifacts_dir, self._store,
                                         max_bytes=c.max_artifact_bytes)
        self.environment = ExecutionEnvironment(
            work_root=c.work_root, artifacts=self.artifacts, keep_workdirs=c.keep_workdirs,
            logger=logging.getLogger("skillexec.skill"), quotas=c.attempt_quotas())
        self.isolation_policy = c.isolation_policy()
        self._runners = self._default_runners(runners)
        self.middleware = HookIndex(middleware)
        self.events_bus = EventBus()
        self.resources = resources or ResourceManager(
            limits=c.settings_of("resources"),
            pressure=PressureGauge(settings=c.settings_of("pressure")))
        if optimizer is not None:
            optimizer.bind_store(self._store)  # it was made before the engine chose a store
        self.optimizer = optimizer or ExecutionOptimizer(settings=c.settings_of("cache"),
                                                         store=self._store)
        self._live: dict[str, ExecutionTask] = {}
        self._waiters: dict[str, asyncio.Future[ExecutionResult]] = {}
        self._cancelling: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._started = self._closing = False
        self._wire_pipeline()
        self.monitor = ExecutionMonitor(self.services, MonitorSettings.from_config(c))
        self.monitor.registry.register(UsageCollector(
            self.resources, skills=lambda: self.monitor.metrics.skills))
        if self.monitor.settings.enabled:
            self.middleware.add(self.monitor)
        self.smart = SmartExecutor(self.services, c.settings_of("smart"),
                                   skill_stats=self._skill_stats)
        if self.smart.enabled:
            self.middleware.add(self.smart)
        self.optimizer.analyse_with(skills=self.skills, resources=self.resources, config=c)

    def _default_runners(self, given: Mapping[str, Runner] | None) -> dict[str, Runner]:
        runners = dict(given or {})
        settings = self.config.isolation_settings()
        runners.setdefault(Isolation.INLINE.value, InlineRunner(
            thread_pool_size=self.config.thread_pool_size, classifier=self.classifier))
        runners.setdefault(Isolation.PROCESS.value, ProcessRunner(settings=settings))
        runners.setdefault(Isolation.SANDBOX.value, SandboxRunner(settings=settings))
        return runners

    def _wire_pipeline(self) -> None:
        c, limits = self.config, self.resources.limits
        self._queue = TaskQueue(capacity=c.max_queue_size, aging_s=c.queue_aging_s,
                                capacity_by_priority=limits.queue_capacity_by_priority)
        self.book = SkillBook(skills=self.skills, runners=self._runners,
                              policy=self.isolation_policy,
                              strict_manifests=c.strict_manifests, spawn=self._spawn,
                              started=lambda: self._started)
        self.admission = Admission(config=c, runners=self._runners,
                                   policy=self.isolation_policy, skills=self.skills,
                                   validator=self.validator, error_handler=self.error_handler)
        self.attempts = AttemptLoop(
            runners=self._runners, policy=self.isolation_policy, environment=self.environment,
            validator=self.validator, skills=self.skills, error_handler=self.error_handler,
            events=self.events_bus, journal=self._store, hooks=self.middleware,
            optimizer=self.optimizer, max_output_bytes=c.max_output_bytes,
            cancelling=self._cancelling, closing=lambda: self._closing, finish=self._finish)
        self.executor = AsyncExecutor(
            self._queue, max_concurrency=limits.max_concurrency or c.max_concurrency,
            run=self.attempts.run, gate=self.resources)
        self.attempts.executor = self.executor
        self.resources.bind(journal=self._store.append_event, reopen=self.executor.reopen)
        self.cache = ResultCache(optimizer=self.optimizer, skills=self.skills,
                                 journal=self._store, events=self.events_bus, live=self._live,
                                 cancelling=self._cancelling, finish=self._finish)
        self._lock = DataDirLock(c.data_dir)
        self.recovery = Recovery()
        self._recoverer = Recoverer(journal=self._store, skills=self.skills, queue=self._queue,
                                    live=self._live, finish=self._finish)
        self._watcher = JournalWatcher(journal=self._store, live=self._live,
                                       recoverer=self._recoverer, cancel=self.cancel)
        self.services = Services(
            data_dir=c.data_dir, journal=self._store, events=self.events_bus,
            skills=self.skills, validator=self.validator, resources=self.resources,
            artifacts=self.artifacts, hooks=self.middleware, isolation_of=self.isolation_of,
            runner_allows=self.book.runner_allows, live_task=self._live.get,
            live_tasks=self._live.values, queue_depth=self._queue.depth_by_priority,
            running=lambda: self.executor.slots, breakers=self.error_handler.breakers,
            threads_stuck=lambda: int(getattr(self._runners.get("inline"), "threads_stuck",
                                              0)),
            spawn=self._spawn, journal_event=self.journal_event)

    def _skill_stats(self, skill_id: str) -> Any:
        return self.monitor.snapshot().skills.get(skill_id)

    # -- lifecycle -------------------------------------------------------------------------

    async def __aenter__(self) -> SkillExecutionEngine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self._started:
            return
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self._store.open()
        self._started = True
        if self.config.skills_dir is not None:
            self.book.load(self.config.skills_dir, warm=False)  # warmed up just below
        for skill in self.skills.list():
            if self.book.wanted(skill):
                await self.book.prepare(skill)
        for mw in self.middleware:
            if (pending := mw.on_start(self.services)) is not None:
                await pending
        if self._lock.take():
            if self.config.recover:
                self.recovery = await self._recoverer.recover()
                if self.recovery.resumed:
                    self.executor.dispatch()
            else:
                self.recovery = await self._recoverer.leave_unfinished()
        self._spawn(self._watcher.poll_cancel_requests())

    async def close(self, *, grace_s: float = 30.0) -> None:
        """Finish what is queued and running (up to ``grace_s``), then release everything.

        Tasks still unfinished after the grace period stay in the journal and are resumed
        by the next engine that opens this data directory.
        """
        if not self._started or self._closing:
            return
        self._closing = True
        deadline = time.monotonic() + grace_s
        while self.executor.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for t in (*self.executor.running.values(), *self._background):
            t.cancel()
        await asyncio.gather(*self.executor.running.values(), *self._background,
                             return_exceptions=True)
        for runner in self._runners.values():
            await runner.close()
        for mw in self.middleware:
            try:
                if (pending := mw.on_close()) is not None:
                    await pending
            except Exception:
                self.middleware.failed(mw, "on_close")
        await self.smart.close()
        await self._store.close()
        self._lock.release()
        self._started = False

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)

    # -- skills ----------------------------------------------------------------------------

    def load_skills(self, path: str | Path) -> LoadReport:
        """Add every skill folder under ``path``; the report lists those not loaded."""
        return self.book.load(path)

    def prepare_only(self, *skills: str) -> SkillExecutionEngine:
        """Warm only these skills (ids, or folder names/paths) at start; warn only about their
        folders if they cannot be loaded. Others are still loaded, and prepared on first
        use. For a process that makes one call (``skillexec run``): a heavy neighbour's
        warm-up, or a broken unrelated folder, is not its business. Before :meth:`start`."""
        self.book.prepare_only = frozenset(skills) | {Path(s).name for s in skills}
        return self

    def register(self, fn_or_path: Callable[..., Any] | str | Path | Skill) -> Skill:
        """Add a decorated function, a skill folder, or a Skill; returns what was added."""
        return self.book.register(fn_or_path)

    def isolation_of(self, skill: Skill) -> str:
        """The runner a call of this skill uses unless an advisor chooses another."""
        return self.book.isolation_of(skill)

    def runner_allows(self, name: str, skill: Skill) -> bool:
        """Whether this engine's runner ``name`` exists and will run this skill here."""
        return self.book.runner_allows(name, skill)

    def journal_event(self, kind: str, data: dict[str, Any]) -> None:
        """Record an engine event (``adaptive``, ``breaker``, ...) in the journal."""
        self._store.append_event(kind, data)

    @property
    def journal(self) -> TaskStore:
        """The task journal this engine writes (reports, events, artifacts read it)."""
        return self._store

    # -- the public calls --------------------------------------------------------------------

    async def submit(
        self, skill_id: SkillRef, params: Mapping[str, Any] | None = None, *,
        config: Mapping[str, Any] | None = None, priority: int | None = None,
        timeout: float | None = None, version: str | None = None,
        max_retries: int | None = None, principal: str | None = None, cache: bool = True,
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
        (default: the ``default_deadline_s`` setting, unset: no overall limit).
        """
        if not isinstance(skill_id, str):
            skill_id, version = self.book.ref(skill_id, version)
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
        max_retries: int | None = None, principal: str | None = None, cache: bool = True,
        limits: CallLimits | Mapping[str, float | int | None] | None = None,
        deadline: float | None = None,
    ) -> ExecutionResult:
        """Submit and wait: the result of one call (``skill_id`` as for :meth:`submit`).

        When a slot is free the task runs in the caller's own coroutine (no task to spawn,
        no future to wake); cancelling the caller cancels the task. A cache hit never takes
        a slot.
        """
        if not isinstance(skill_id, str):
            skill_id, version = self.book.ref(skill_id, version)
        task, result = await self._accept(skill_id, params, CallOptions(
            config, priority, timeout, version, max_retries, principal, cache, limits,
            deadline))
        if result is not None:
            return result
        if task.claimed:
            self.executor.adopt(task)
            return await self.attempts.run(task)
        return await self.wait(task.task_id)

    async def wait(self, task_id: str, timeout: float | None = None) -> ExecutionResult:
        fut = self._waiters.get(task_id)
        if fut is None:
            if task_id in self._live:
                fut = self._waiters[task_id] = asyncio.get_running_loop().create_future()
            else:
                info = await self._store.get(task_id)
                if info is None:
                    raise SkillNotFoundError(f"no task with id {task_id!r}",
                                             code="task_not_found")
                if info.result is not None:
                    return info.result
                return await self._watcher.wait_elsewhere(task_id, timeout)
        if timeout is None:
            return await asyncio.shield(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise ResourceError(f"task {task_id} did not finish within {timeout} s",
                                code="wait_timeout", retryable=True) from None

    async def status(self, task_id: str) -> TaskInfo:
        task = self._live.get(task_id)
        if task is not None:
            return TaskInfo(task_id=task_id, skill_id=task.skill_id,
                            skill_version=task.skill_version, status=task.status,
                            priority=task.priority, attempts=task.attempts,
                            created_at=task.created_at, started_at=task.started_at)
        info = await self._store.get(task_id)
        if info is None:
            raise SkillNotFoundError(f"no task with id {task_id!r}", code="task_not_found")
        return info

    async def history(self, task_id: str) -> list[dict[str, Any]]:
        """Each attempt of a finished task: its timing, error and the decision taken."""
        return await self._store.history(task_id)

    async def tasks(self, *, status: TaskStatus | None = None, skill_id: str | None = None,
                    limit: int = 50) -> list[TaskInfo]:
        return await self._store.list_tasks(status=status, skill_id=skill_id, limit=limit)

    async def cancel(self, task_id: str) -> bool:
        """Cancel a queued or running task. False if it had already finished."""
        task = self._live.get(task_id)
        if task is None:
            orphan = self._recoverer.orphans.get(task_id)
            if orphan is not None:  # left by a stopped engine; nobody else will end it
                await self._recoverer.end_orphan(orphan)
                return True
            return await self._store.request_cancel(task_id)
        if task.status.terminal or task_id in self._cancelling:
            return not task.status.terminal
        if self._queue.discard(task_id):
            await self._finish(task, Outcome(error=cancelled_info()),
                               status=TaskStatus.CANCELLED)
            return True
        self._cancelling.add(task_id)
        ctx = self.attempts.contexts.get(task_id)
        if ctx is not None:
            ctx.cancel()
        runner_task = self.executor.running.get(task_id)
        if runner_task is not None:
            runner_task.cancel()
        return True

    async def cancel_all(self, *, grace_s: float = 0.0) -> list[str]:
        """Stop: cancel every queued task now, give running ones ``grace_s`` to finish, then
        cancel them; return once every one of them has its end in the journal.

        What an interrupted CLI command does (Ctrl-C, SIGTERM), so that nothing it accepted
        is left ``running`` for another command to find. A second interruption (the caller
        cancelled again) ends the grace at once; the ends are still written.
        """
        ids = list(self._live)
        for task_id in ids:
            task = self._live.get(task_id)
            if task is not None and task.status in (TaskStatus.PENDING, TaskStatus.QUEUED):
                await self.cancel(task_id)
        waits = [asyncio.ensure_future(self.wait(t)) for t in ids if t in self._live]
        if waits and grace_s > 0:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait(waits, timeout=grace_s)
        for task_id in list(self._live):
            await self.cancel(task_id)
        if waits:
            ends = asyncio.gather(*waits, return_exceptions=True)
            # Shielded: a further interruption must not leave a task without its end.
            while not ends.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.shield(ends)
        return ids

    async def events(self, task_id: str | None = None) -> AsyncIterator[TaskEvent]:
        """Follow one task's events from its start to its end (or every task's)."""
        first = None
        if task_id is not None:
            info = await self.status(task_id)
            first = TaskEvent(task_id=task_id, kind="status", status=info.status,
                              attempt=info.attempts)
        async for event in self.events_bus.subscribe(task_id, first, journal=self._store.get):
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
            await self.start()
        if self.resources.sampling is False and (sampler := self.resources.sampler()):
            self._spawn(sampler)
        task_id = new_task_id()
        skill: Skill | None = None
        try:
            if self._closing:
                raise ResourceError("the engine is shutting down", code="engine_closing",
                                    retryable=True)
            skill = self.skills.get(skill_id, opts.version)
            task = self.admission.task_for(task_id, skill, params, opts.config, opts.priority,
                                           opts.timeout, opts.max_retries, opts.principal)
            if opts.deadline is not None or self._default_deadline_s is not None:
                task.deadline_s = deadline_s(opts.deadline, self._default_deadline_s)
            for mw in self.middleware.on_submit:
                try:
                    if (pending := mw.on_submit(task, skill)) is not None:
                        await pending
                except SkillExecError:
                    raise  # a refusal
                except Exception:
                    self.middleware.failed(mw, "on_submit")
            ex, key = skill.execution, None
            if (ex.cacheable or ex.idempotent) and self.optimizer.enabled:
                key = self.optimizer.key(task)
                if opts.cache and (hit := await self.cache.shortcut(task, skill, key)):
                    return hit
            self.resources.admit(task, skill, None if opts.limits is None else
                                 CallLimits.of(opts.limits), timeout_given=opts.timeout
                                 is not None)
            if key is not None:
                self.optimizer.lead(key, task, skill, bypass=not opts.cache)
        except (SkillExecError, ValueError) as exc:  # ValueError: limits= that are not limits
            err = exc if isinstance(exc, SkillExecError) else ParameterError(
                str(exc), code="invalid_limits")
            return await self._reject(task_id, skill_id, skill.version if skill else
                                      opts.version, err, opts)
        return await self._enqueue(task, opts)

    async def _enqueue(self, task: ExecutionTask, opts: CallOptions,
                       ) -> tuple[ExecutionTask, ExecutionResult | None]:
        task_id = task.task_id
        self._live[task_id] = task
        task.queued_mono = time.monotonic()
        if self.executor.claim(task):
            # Free capacity: accepted and started in one journal write.
            task.claimed = True
            task.status = TaskStatus.RUNNING
            task.attempts = 1
            task.started_at = task.created_at
        else:
            task.status = TaskStatus.QUEUED
            try:
                self._queue.push(task)
            except ResourceError as exc:
                self._live.pop(task_id, None)
                return await self._reject(task_id, task.skill_id, task.skill_version, exc,
                                          opts)
        try:
            await self._store.queued(task)  # durable before the caller hears of it
        except BaseException:
            self._live.pop(task_id, None)
            if task.claimed:
                self.executor.unclaim(task)
            else:
                self._queue.discard(task_id)
            raise
        if task.status is TaskStatus.QUEUED:
            self.executor.dispatch()  # a free slot that limits kept from the queue's head
        self.events_bus.status(task)
        return task, None

    async def _reject(self, task_id: str, skill_id: str, version: str | None,
                      exc: SkillExecError, opts: CallOptions,
                      ) -> tuple[ExecutionTask, ExecutionResult]:
        priority = opts.priority
        task = ExecutionTask(task_id=task_id, skill_id=skill_id, skill_version=version or "",
                             params={}, config={},
                             priority=priority if priority is not None and 0 <= priority <= 9
                             else self.config.default_priority, timeout_s=0.0, max_retries=0,
                             idempotent=False, principal=opts.principal)
        self._live[task_id] = task
        # The journal keeps refusals too. Not awaited: the insert and the end written by
        # _finish go out in one group commit, so a refusal (e.g. an open circuit) answers
        # after one journal round instead of two.
        self._store.queued(task)
        return task, await self._finish(task, Outcome(error=exc.info),
                                        status=TaskStatus.REJECTED)

    async def _finish(self, task: ExecutionTask, outcome: Outcome, *,
                      status: TaskStatus | None = None, skill: Skill | None = None,
                      history: list[dict[str, Any]] | None = None,
                      artifacts: list[ArtifactRef] | None = None,
                      cached: bool = False) -> ExecutionResult:
        """The end of every task: journaled (awaited, a failure logged), then its waiter,
        its subscribers, resources, the cache's followers, the error handler, middleware."""
        if self.resources.output_limits:
            outcome = self._check_output_limit(task, outcome)
        err = outcome.error
        if status is None:
            status = (TaskStatus.SUCCEEDED if err is None else _ENDS.get(err.type,
                                                                         TaskStatus.FAILED))
        now = time.time()
        metrics = outcome.metrics
        if task.started_at is not None:
            metrics["wall_ms"] = metrics.get("wall_ms") or (now - task.started_at) * 1000.0
        prediction = task.prediction
        if prediction is not None:
            # Unrounded, like wall_ms: round(x, n) costs more than the bytes it saves.
            metrics["predicted_ms"] = prediction.expected_ms
            metrics["p_fail"] = prediction.p_fail
        result = ExecutionResult(
            task_id=task.task_id, skill_id=task.skill_id, skill_version=task.skill_version,
            status=status, output=outcome.output if err is None else None, error=err,
            attempts=task.attempts, cached=cached, artifacts=tuple(artifacts or ()),
            metrics=metrics, created_at=task.created_at, started_at=task.started_at,
            finished_at=now)
        task.status = status
        try:
            await self._store.finished(task, result, history or [],
                                       output_json=outcome.output_json)
        except SkillExecError:
            log.exception("task %s: the journal could not record its end", task.task_id)
        self._ended(task, result)
        self.resources.finished(task.skill_id, task.principal, metrics,
                                ok=status is TaskStatus.SUCCEEDED, cached=cached)
        flight = self.optimizer.landed(task.task_id)
        if flight is not None:
            await self.cache.land(flight, task, result, outcome)
        self.error_handler.on_finish(task, result)
        for mw in self.middleware.on_finish:
            try:
                if (pending := mw.on_finish(task, result)) is not None:
                    await pending
            except Exception:
                self.middleware.failed(mw, "on_finish")
        return result

    def _ended(self, task: ExecutionTask, result: ExecutionResult) -> None:
        """Forget a task that ended; wake its waiter and subscribers."""
        task_id = task.task_id
        self._live.pop(task_id, None)
        event_log = self.events_bus.log
        if event_log is not None and task_id in event_log.kept:
            event_log.ended(task_id)
        self._cancelling.discard(task_id)
        fut = self._waiters.pop(task_id, None)
        if fut is not None and not fut.done():
            fut.set_result(result)
        self.events_bus.status(task)

    def _check_output_limit(self, task: ExecutionTask, outcome: Outcome) -> Outcome:
        """A call's own ``max_output_bytes`` (its limits=), checked on the encoded output."""
        limit = self.resources.output_limits.pop(task.task_id, None)
        if limit is None or outcome.error is not None:
            return outcome
        size = len(outcome.output_json if outcome.output_json is not None
                   else orjson.dumps(outcome.output, default=str))
        if size <= limit:
            return outcome
        return Outcome(error=ResourceError(
            f"the output is {size} bytes, over this call's limit of {limit} bytes",
            code="output_too_large", details={"size": size, "max_output_bytes": limit}).info,
            metrics=outcome.metrics)


_ENDS = {ErrorType.TIMEOUT: TaskStatus.TIMED_OUT, ErrorType.CANCELLED: TaskStatus.CANCELLED}
