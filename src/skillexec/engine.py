"""SkillExecutionEngine: the pipeline, and nothing else.

submit: resolve the skill → validate parameters → check it may run → journal (durable) →
queue. A worker slot then runs attempts through a runner until one succeeds or the retry
strategy gives up, stores the result, and wakes whoever waits. Cross-cutting concerns plug in
as middleware (see :mod:`skillexec.middleware`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import math
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from skillexec.artifacts import ArtifactManager
from skillexec.config import EngineConfig, load_config
from skillexec.errors import (
    CancelledError,
    DependencyError,
    ErrorInfo,
    ErrorType,
    ExecutionError,
    ParameterError,
    ResourceError,
    SkillExecError,
    SkillNotFoundError,
)
from skillexec.middleware import Middleware
from skillexec.monitoring.events import EventBus, TaskEvent
from skillexec.monitoring.monitor import ExecutionMonitor, MonitorSettings
from skillexec.optimization.optimizer import ExecutionOptimizer
from skillexec.optimization.singleflight import Flight
from skillexec.reliability.classify import ErrorClassifier
from skillexec.reliability.handler import ErrorHandler
from skillexec.reliability.retry import ExponentialBackoffRetryStrategy, RetryStrategy
from skillexec.resources.limits import CallLimits
from skillexec.resources.manager import ResourceManager
from skillexec.resources.pressure import PressureGauge
from skillexec.resources.prometheus import UsageCollector
from skillexec.runtime.entry import build_input
from skillexec.runtime.environment import ExecutionEnvironment
from skillexec.runtime.runners.base import Attempt, AttemptLimits, Outcome, Runner
from skillexec.runtime.runners.inline import InlineRunner
from skillexec.runtime.runners.process import ProcessRunner
from skillexec.runtime.runners.sandbox import SandboxRunner
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.security.isolation_policy import strength
from skillexec.skills.decorator import skill_of
from skillexec.skills.loader import LoadReport
from skillexec.skills.model import EntryKind, Isolation, Skill
from skillexec.skills.registry import SkillRegistry
from skillexec.smart.executor import SmartExecutor
from skillexec.storage.memory import MemoryStore
from skillexec.storage.sqlite import SQLiteStore
from skillexec.storage.store import StoredTask, TaskStore
from skillexec.task import (
    ArtifactRef,
    ExecutionResult,
    ExecutionTask,
    TaskInfo,
    TaskStatus,
    new_task_id,
)
from skillexec.units import duration
from skillexec.validation import ParameterValidator

__all__ = ["Recovery", "SkillExecutionEngine"]

log = logging.getLogger("skillexec.engine")
_LEVELS = {level.value: level for level in Isolation}


_CANCEL_POLL_S = 0.5
# Failures a stale answer must not hide: the request itself is wrong, or was withdrawn.
_NO_STALE = frozenset({ErrorType.PARAMETER, ErrorType.PERMISSION, ErrorType.DEPENDENCY,
                       ErrorType.CANCELLED})


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


class SkillExecutionEngine:
    """Runs skills. Use as ``async with SkillExecutionEngine(skills_dir="skills") as engine``."""

    def __init__(
        self,
        *,
        skills_dir: str | Path | None = None,
        data_dir: str | Path | None = None,
        max_concurrency: int | None = None,
        default_timeout_s: float | None = None,
        config: EngineConfig | None = None,
        middleware: Sequence[Middleware] = (),
        runners: Mapping[str, Runner] | None = None,
        store: TaskStore | None = None,
        retry_strategy: RetryStrategy | None = None,
        resources: ResourceManager | None = None,
        optimizer: ExecutionOptimizer | None = None,
    ) -> None:
        overrides = {"skills_dir": skills_dir, "data_dir": data_dir,
                     "max_concurrency": max_concurrency, "default_timeout_s": default_timeout_s}
        if config is None:
            config = load_config(**overrides)
        elif any(v is not None for v in overrides.values()):
            config = config.model_copy(update={k: v for k, v in overrides.items()
                                               if v is not None})
        self.config = config
        self._default_deadline_s = config.default_deadline_s  # read per call: kept at hand
        self._max_timeout_s = config.max_timeout_s
        self.skills = SkillRegistry()
        self.validator = ParameterValidator(coerce=config.coerce_parameters,
                                            max_param_bytes=config.max_param_bytes,
                                            max_output_bytes=config.max_output_bytes)
        self.classifier = ErrorClassifier()
        self.retry = retry_strategy or ExponentialBackoffRetryStrategy(
            base_delay_s=config.retry_base_delay_s, max_delay_s=config.retry_max_delay_s)
        self._store: TaskStore = store or (
            SQLiteStore(config.journal_path, synchronous=config.journal_synchronous,
                        max_batch=config.journal_max_batch)
            if config.journal else MemoryStore())
        self.errors = ErrorHandler(classifier=self.classifier, retry=self.retry, config=config,
                                   store=self._store)
        self.artifacts = ArtifactManager(config.artifacts_dir, self._store,
                                         max_bytes=config.max_artifact_bytes)
        self.environment = ExecutionEnvironment(
            work_root=config.work_root, artifacts=self.artifacts,
            keep_workdirs=config.keep_workdirs, logger=logging.getLogger("skillexec.skill"),
            quotas=config.attempt_quotas())
        self.isolation_policy = config.isolation_policy()
        self.isolation = config.isolation_settings()
        self.policy = self.isolation.permission_policy
        self._runners: dict[str, Runner] = dict(runners or {})
        self._runners.setdefault(Isolation.INLINE.value,
                                 InlineRunner(thread_pool_size=config.thread_pool_size,
                                              classifier=self.classifier))
        self._runners.setdefault(Isolation.PROCESS.value, ProcessRunner(settings=self.isolation))
        self._runners.setdefault(Isolation.SANDBOX.value, SandboxRunner(settings=self.isolation))
        self._middleware = list(middleware)
        self._hooks: dict[str, list[Middleware]] = {}
        self._index_hooks()
        self.events_bus = EventBus()
        self.resources = resources or ResourceManager(
            limits=config.settings_of("resources"),
            pressure=PressureGauge(settings=config.settings_of("pressure")))
        if optimizer is not None:
            optimizer.bind_store(self._store)  # it was made before the engine chose a store
        self.optimizer = optimizer or ExecutionOptimizer(
            settings=config.settings_of("cache"), store=self._store)
        limits = self.resources.limits
        self._queue = TaskQueue(capacity=config.max_queue_size, aging_s=config.queue_aging_s,
                                capacity_by_priority=limits.queue_capacity_by_priority)
        self.executor = AsyncExecutor(
            self._queue, max_concurrency=limits.max_concurrency or config.max_concurrency,
            run=self._run, gate=self.resources)
        self.resources.bind(journal=self._store.append_event, reopen=self.executor.reopen)
        self._live: dict[str, ExecutionTask] = {}
        self._waiters: dict[str, asyncio.Future[ExecutionResult]] = {}
        self._contexts: dict[str, Any] = {}
        self._cancelling: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self._started = False
        self._closing = False
        self._lock_fd: int | None = None
        self.recovery = Recovery()
        self._orphans: dict[str, StoredTask] = {}  # left unfinished, not recovered (see above)
        self.load_report: LoadReport | None = None
        self._prepare_only: frozenset[str] | None = None  # None: every skill at start
        self.monitor = ExecutionMonitor(self, MonitorSettings.from_config(config))
        self.monitor.registry.register(UsageCollector(
            self.resources, skills=lambda: self.monitor.metrics.skills))
        if self.monitor.settings.enabled:
            self.add_middleware(self.monitor)
        self.smart = SmartExecutor(self, config.settings_of("smart"))
        if self.smart.enabled:
            self.add_middleware(self.smart)
        self.optimizer.analyse_with(skills=self.skills, resources=self.resources,
                                    config=config)

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
            self._load(self.config.skills_dir)  # prepared below, not in the background too
        only = self._prepare_only
        for skill in self.skills.list():
            if only is None or skill.id in only:
                await self._prepare(skill)
        if self._take_lock():
            if self.config.recover:
                await self._recover()
            else:
                await self._leave_unfinished()
        self._spawn(self._poll_cancel_requests())

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
        for t in list(self.executor.running.values()):
            t.cancel()
        for t in list(self._background):
            t.cancel()
        await asyncio.gather(*self.executor.running.values(), *self._background,
                             return_exceptions=True)
        for runner in self._runners.values():
            await runner.close()
        await self.environment.close()
        await self.smart.close()
        await self._store.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None
        self._started = False

    def _take_lock(self) -> bool:
        """One engine per data directory recovers the journal; others only share it."""
        fd = os.open(self.config.data_dir / "engine.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            log.warning("another engine holds %s; not recovering its tasks",
                        self.config.data_dir)
            return False
        self._lock_fd = fd
        return True

    # -- skills ----------------------------------------------------------------------------

    def load_skills(self, path: str | Path) -> LoadReport:
        """Add every skill folder under ``path``; the report lists those not loaded."""
        report = self._load(path)
        if self._started:
            only = self._prepare_only
            for s in report.skills:
                if only is None or s.id in only:
                    self._spawn(self._prepare(s))
        return report

    def _load(self, path: str | Path) -> LoadReport:
        report = self.skills.load_dir(Path(path), strict=self.config.strict_manifests)
        self.load_report = report
        only = self._prepare_only
        for problem in report.problems:
            # A one-call engine is not the place to hear of other skills' folders.
            level = (logging.WARNING if only is None or problem.path.name in only
                     or str(problem.path) in only else logging.DEBUG)
            log.log(level, "skill at %s not loaded: %s", problem.path, problem.reason)
        return report

    def prepare_only(self, *skills: str) -> SkillExecutionEngine:
        """Warm only these skills (ids, or folder names/paths) at start; warn only about their
        folders if they cannot be loaded. Others are still loaded, and prepared on first
        use. For a process that makes one call (``skillexec run``): a heavy neighbour's
        warm-up, or a broken unrelated folder, is not its business. Before :meth:`start`."""
        self._prepare_only = frozenset(skills) | {Path(s).name for s in skills}
        return self

    def register(self, fn_or_path: Callable[..., Any] | str | Path | Skill) -> Skill:
        """Add a decorated function, a skill folder, or a Skill; returns what was added."""
        if isinstance(fn_or_path, Skill):
            skill = fn_or_path
        elif isinstance(fn_or_path, str | Path):
            from skillexec.skills.loader import load_skill
            skill = load_skill(Path(fn_or_path), strict=self.config.strict_manifests)
        else:
            skill = skill_of(fn_or_path)
        self.skills.add(skill)
        if self._started:
            self._spawn(self._prepare(skill))
        return skill

    async def _prepare(self, skill: Skill) -> None:
        if not skill.runnable:
            return
        if self.isolation_policy.refusal(skill) is not None:
            return  # refused at each call, with the reason: nothing to warm up
        runner = self._runners.get(self._isolation(skill).value)
        if runner is None:
            return
        try:
            await runner.prepare(skill)
        except SkillExecError as exc:
            log.warning("skill %s cannot be prepared: %s", skill.key, exc)

    def isolation_of(self, skill: Skill) -> str:
        """The runner a call of this skill uses unless an advisor chooses another."""
        return self._isolation(skill).value

    def runner_allows(self, name: str, skill: Skill) -> bool:
        """Whether this engine's runner ``name`` exists and will run this skill here."""
        runner = self._runners.get(name)
        if runner is None or (skill.entry.kind is EntryKind.COMMAND and name == "inline"):
            return False
        policy = self.isolation_policy
        if name in _LEVELS and strength(_LEVELS[name]) < strength(policy.floor(skill)):
            return False  # an advisor may not weaken isolation past the operator's policy
        return runner.refusal(skill) is None

    def journal_event(self, kind: str, data: dict[str, Any]) -> None:
        """Record an engine event (``adaptive``, ``breaker``, ...) in the journal."""
        self._store.append_event(kind, data)

    def _isolation(self, skill: Skill) -> Isolation:
        """The level a skill runs at; a manifest asking for less than the operator's
        policy allows is refused (permission_error, before anything of it runs)."""
        return self.isolation_policy.isolation(skill)

    # -- the public calls --------------------------------------------------------------------

    async def submit(
        self,
        skill_id: str | Callable[..., Any] | Skill,
        params: Mapping[str, Any] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        priority: int | None = None,
        timeout: float | None = None,
        version: str | None = None,
        max_retries: int | None = None,
        principal: str | None = None,
        cache: bool = True,
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
            skill_id, version = self._skill_ref(skill_id, version)
        task, _ = await self._accept(skill_id, params, config=config, priority=priority,
                                     timeout=timeout, version=version,
                                     max_retries=max_retries, principal=principal,
                                     cache=cache, limits=limits, deadline=deadline)
        # Only a slot taken at acceptance is started here: a queued task may already have
        # been started by dispatch() while its journal record was being written.
        if task.claimed:
            self.executor.start(task)
        return task.task_id

    async def execute(
        self,
        skill_id: str | Callable[..., Any] | Skill,
        params: Mapping[str, Any] | None = None,
        *,
        config: Mapping[str, Any] | None = None,
        priority: int | None = None,
        timeout: float | None = None,
        version: str | None = None,
        max_retries: int | None = None,
        principal: str | None = None,
        cache: bool = True,
        limits: CallLimits | Mapping[str, float | int | None] | None = None,
        deadline: float | None = None,
    ) -> ExecutionResult:
        """Submit and wait: the result of one call (``skill_id`` as for :meth:`submit`).

        When a slot is free the task runs in the caller's own coroutine (no task to spawn,
        no future to wake); cancelling the caller cancels the task. A cache hit never takes
        a slot.
        """
        if not isinstance(skill_id, str):
            skill_id, version = self._skill_ref(skill_id, version)
        task, result = await self._accept(skill_id, params, config=config, priority=priority,
                                          timeout=timeout, version=version,
                                          max_retries=max_retries, principal=principal,
                                          cache=cache, limits=limits, deadline=deadline)
        if result is not None:
            return result
        if task.claimed:
            self.executor.adopt(task)
            return await self._run(task)
        return await self.wait(task.task_id)

    def _skill_ref(self, ref: Callable[..., Any] | Skill,
                   version: str | None) -> tuple[str, str | None]:
        """The id (and version) of a skill given as a decorated function or a Skill."""
        if isinstance(ref, Skill):
            found = ref
        elif isinstance(getattr(ref, "__skill__", None), Skill):
            found = skill_of(ref)
        else:
            raise ParameterError(
                f"a skill is named by its id (a str), a @skill-decorated function or a Skill; "
                f"got {type(ref).__name__} {ref!r}", code="invalid_skill_reference")
        if found not in self.skills:
            self.register(found)
        return found.id, version if version is not None else found.version

    async def _accept(
        self, skill_id: str, params: Mapping[str, Any] | None, *,
        config: Mapping[str, Any] | None, priority: int | None, timeout: float | None,
        version: str | None, max_retries: int | None, principal: str | None,
        cache: bool = True,
        limits: CallLimits | Mapping[str, float | int | None] | None = None,
        deadline: float | None = None,
    ) -> tuple[ExecutionTask, ExecutionResult | None]:
        if not self._started:
            await self.start()
        if self.resources.sampling is False:
            sampler = self.resources.sampler()
            if sampler is not None:
                self._spawn(sampler)
        task_id = new_task_id()
        skill: Skill | None = None
        try:
            if self._closing:
                raise ResourceError("the engine is shutting down", code="engine_closing",
                                    retryable=True)
            skill = self.skills.get(skill_id, version)
            task = self._admit(task_id, skill, params, config, priority, timeout,
                               max_retries, principal)
            if deadline is not None or self._default_deadline_s is not None:
                task.deadline_s = _deadline(deadline, self._default_deadline_s)
            for mw in self._hooks["on_submit"]:
                if (pending := mw.on_submit(task, skill)) is not None:
                    await pending
            ex = skill.execution
            key = None
            if (ex.cacheable or ex.idempotent) and self.optimizer.enabled:
                key = self.optimizer.key(task)
                if cache:
                    shortcut = await self._shortcut(task, skill, key)
                    if shortcut is not None:
                        return shortcut
            self.resources.admit(task, skill, None if limits is None else CallLimits.of(limits),
                                 timeout_given=timeout is not None)
            if key is not None:
                self.optimizer.lead(key, task, skill, bypass=not cache)
        except SkillExecError as exc:
            return await self._reject(task_id, skill_id, skill.version if skill else version,
                                      exc, priority, principal)
        except ValueError as exc:  # limits= that are not limits
            return await self._reject(task_id, skill_id, skill.version if skill else version,
                                      ParameterError(str(exc), code="invalid_limits"),
                                      priority, principal)
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
                return await self._reject(task_id, skill_id, skill.version, exc, priority,
                                          principal)
        try:
            await self._store.queued(task)
        except BaseException:
            self._live.pop(task_id, None)
            if task.claimed:
                self.executor.unclaim(task)
            else:
                self._queue.discard(task_id)
            raise
        if task.status is TaskStatus.QUEUED:
            self.executor.dispatch()  # a free slot that limits kept from the queue's head
        self._emit(task)
        return task, None

    async def _shortcut(self, task: ExecutionTask, skill: Skill, key: str,
                        ) -> tuple[ExecutionTask, ExecutionResult | None] | None:
        """A cache hit (finished at once, no slot) or a follower of an identical call."""
        opt = self.optimizer
        if skill.execution.cacheable:
            hit = await opt.lookup(key, skill, self.skills.get(skill.id).version)
            if hit is not None:
                self._store.queued(task)  # one transaction with the result below
                return task, await self._finish(
                    task, Outcome(output=orjson.loads(hit.value_json),
                                  output_json=hit.value_json), cached=True)
        flight = opt.follow(key, task)
        if flight is None:
            return None
        task.status = TaskStatus.QUEUED
        task.queued_mono = time.monotonic()
        self._live[task.task_id] = task
        try:
            await self._store.queued(task)
        except BaseException:
            self._live.pop(task.task_id, None)
            with contextlib.suppress(ValueError):
                flight.followers.remove(task)
            raise
        self._emit(task)
        return task, None

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
                return await self._wait_elsewhere(task_id, timeout)
        if timeout is None:
            return await asyncio.shield(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), timeout)
        except TimeoutError:
            raise ResourceError(f"task {task_id} did not finish within {timeout} s",
                                code="wait_timeout", retryable=True) from None

    async def _wait_elsewhere(self, task_id: str, timeout: float | None) -> ExecutionResult:
        """A task another engine owns: follow the shared journal until it ends."""
        end = None if timeout is None else time.monotonic() + timeout
        while end is None or time.monotonic() < end:
            info = await self._store.get(task_id)
            if info is not None and info.result is not None:
                return info.result
            await asyncio.sleep(0.1)
        raise ResourceError(f"task {task_id} did not finish within {timeout} s",
                            code="wait_timeout", retryable=True)

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
            orphan = self._orphans.pop(task_id, None)
            if orphan is not None:  # left by a stopped engine; nobody else will end it
                await self._end_orphan(orphan)
                return True
            return await self._store.request_cancel(task_id)
        if task.status.terminal or task_id in self._cancelling:
            return not task.status.terminal
        if self._queue.discard(task_id):
            await self._finish(task, Outcome(error=_cancelled_info()),
                               status=TaskStatus.CANCELLED)
            return True
        self._cancelling.add(task_id)
        ctx = self._contexts.get(task_id)
        if ctx is not None:
            ctx.cancel()
        runner_task = self.executor.running.get(task_id)
        if runner_task is not None:
            runner_task.cancel()
        return True

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

    # -- admission ---------------------------------------------------------------------------

    def _admit(self, task_id: str, skill: Skill, params: Mapping[str, Any] | None,
               config: Mapping[str, Any] | None, priority: int | None, timeout: float | None,
               max_retries: int | None, principal: str | None) -> ExecutionTask:
        if not skill.runnable:
            raise DependencyError(
                f"skill {skill.id!r} has no executable entry: {skill.entry.reason or 'none'}",
                code="no_entry_point")
        isolation = self._isolation(skill)  # refused here if it asks for too little
        runner = self._runners.get(isolation._value_)
        if runner is None:
            raise ResourceError(
                f"skill {skill.id!r} needs isolation {isolation.value!r}, which this engine "
                "does not provide", code="isolation_unavailable")
        self.policy.check(skill)  # a refused permission: refused before it runs
        self.errors.admit(skill)  # e.g. its circuit is open: fail fast
        refused = runner.refusal(skill)
        if refused is not None:  # e.g. the sandbox is not available on this machine
            raise SkillExecError.from_info(refused)
        self.skills.check_dependencies(skill)
        validated = self.validator.validate(skill, params)
        ex = self.isolation_policy.effective(skill.execution)  # clamped to the maxima
        cfg = {**skill.default_config, **config} if config else skill.default_config
        prio = priority if priority is not None else (
            ex.priority if ex.priority is not None else self.config.default_priority)
        if not 0 <= prio <= 9:
            raise ParameterError(f"priority must be between 0 and 9 (got {prio})",
                                 code="invalid_priority")
        timeout_s = timeout if timeout is not None else (ex.timeout_s or
                                                         self.config.default_timeout_s)
        if not 0 < timeout_s < math.inf:  # NaN fails this too
            raise ParameterError(f"timeout must be a positive number of seconds "
                                 f"(got {timeout_s})", code="invalid_timeout")
        retries = max_retries if max_retries is not None else (
            ex.max_retries if ex.max_retries is not None else self.config.default_max_retries)
        # A call may tighten, never pass the operator's maxima either.
        timeout_s = min(timeout_s, self.config.max_timeout_s)
        retries = min(retries, self.config.max_retries)
        return ExecutionTask(task_id=task_id, skill_id=skill.id, skill_version=skill.version,
                             params=validated, config=dict(cfg), priority=prio,
                             timeout_s=float(timeout_s), max_retries=retries,
                             idempotent=ex.idempotent, principal=principal, skill=skill,
                             timeout_fixed=timeout is not None,
                             retries_fixed=max_retries is not None)

    async def _reject(self, task_id: str, skill_id: str, version: str | None,
                      exc: SkillExecError, priority: int | None, principal: str | None,
                      ) -> tuple[ExecutionTask, ExecutionResult]:
        task = ExecutionTask(task_id=task_id, skill_id=skill_id, skill_version=version or "",
                             params={}, config={},
                             priority=priority if priority is not None and 0 <= priority <= 9
                             else self.config.default_priority, timeout_s=0.0, max_retries=0,
                             idempotent=False, principal=principal)
        self._live[task_id] = task
        # The journal keeps refusals too. Not awaited: the insert and the end written by
        # _finish go out in one group commit, so a refusal (e.g. an open circuit) answers
        # after one journal round instead of two.
        self._store.queued(task)
        return task, await self._finish(task, Outcome(error=exc.info),
                                        status=TaskStatus.REJECTED)

    # -- running -------------------------------------------------------------------------------

    async def _run(self, task: ExecutionTask) -> ExecutionResult:
        """Run a task that holds a slot through its attempts; release the slot; finish it."""
        skill = task.skill
        outcome: Outcome | None = None
        history: list[dict[str, Any]] = []
        saved: list[ArtifactRef] = []
        reraise = False
        try:
            if skill is None:  # recovered from the journal
                skill = task.skill = self.skills.get(task.skill_id, task.skill_version)
            runner = self._runners[task.runner or self._isolation(skill)._value_]
            queue_ms = (time.monotonic() - task.queued_mono) * 1000.0
            task_deadline = (math.inf if task.deadline_s is None
                             else task.created_at + task.deadline_s)
            journaled = task.status is TaskStatus.RUNNING  # the fast path wrote attempt 1
            fallback_used = False
            while True:
                if task.task_id in self._cancelling:  # cancelled before it could start
                    raise asyncio.CancelledError
                if journaled:
                    journaled = False
                else:
                    task.attempts += 1
                    task.status = TaskStatus.RUNNING
                    if task.started_at is None:
                        task.started_at = time.time()
                    elif (event_log := self.events_bus.log) is not None:
                        event_log.retry_started(task.task_id, time.time())
                    written = self._store.started(task)
                    if not task.idempotent:
                        # At most once: the journal knows the attempt began before it does.
                        await written
                self._emit(task)
                outcome = await self._attempt(task, skill, runner, saved, task_deadline)
                err = outcome.error
                decision = self.errors.decide(task, skill, outcome, deadline=task_deadline,
                                              fallback_used=fallback_used)
                if err is not None and decision.error is not None:
                    # Keep the error as classified (type, retryable, retry-after).
                    err = decision.error
                    outcome = dataclasses.replace(outcome, error=err)
                entry: dict[str, Any] = {"attempt": task.attempts, "skill": skill.key,
                                         "metrics": outcome.metrics,
                                         "error": err.to_dict() if err else None,
                                         "decision": decision.describe()}
                if err is not None and outcome.traceback:
                    entry["traceback"] = outcome.traceback[-4000:]
                history.append(entry)
                if decision.timeout_s is not None:
                    task.timeout_s = decision.timeout_s
                if decision.action == "retry":
                    task.status = TaskStatus.RETRYING
                    self._store.retrying(task)
                    self._emit(task)
                    await asyncio.sleep(decision.delay_s)
                elif decision.action == "fallback" and decision.fallback:
                    fallback_used = True
                    skill = self.skills.get(decision.fallback)
                    runner = self._runners[self._isolation(skill).value]
                    task.params = self.validator.validate(skill, task.params)
                    task.status = TaskStatus.RETRYING
                    self._store.retrying(task)
                    self._emit(task)
                else:
                    break
            if len(history) > 1:
                outcome.metrics = _over_attempts(outcome.metrics, history, task.started_at)
            outcome.metrics["queue_ms"] = queue_ms
            if outcome.error is not None and outcome.error.type not in _NO_STALE:
                stale = await self._stale(task, skill, outcome, history)
                if stale is not None:
                    outcome = stale
        except asyncio.CancelledError:
            by_engine = task.task_id in self._cancelling
            if self._closing and not by_engine:
                raise  # shutting down: the journal keeps the task for the next start
            if by_engine:
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
            else:
                reraise = True  # the caller of execute() was cancelled: so is its task
            outcome = Outcome(error=_cancelled_info(),
                              metrics=outcome.metrics if outcome else {})
        except SkillExecError as exc:
            outcome = Outcome(error=exc.info)
        except Exception as exc:  # a bug in the engine itself must still end the task
            log.exception("task %s failed inside the engine", task.task_id)
            outcome = Outcome(error=ExecutionError(f"internal error: {exc!r}",
                                                   code="engine_error").info)
        finally:
            self.executor.release(task)
        result = await self._finish(task, outcome, skill=skill, history=history,
                                    artifacts=saved, cached="stale_s" in outcome.metrics)
        if reraise:
            raise asyncio.CancelledError
        return result

    async def _stale(self, task: ExecutionTask, skill: Skill, outcome: Outcome,
                     history: list[dict[str, Any]]) -> Outcome | None:
        """Recovery by a stale cached result: the call failed for good, but an expired
        answer to the same call is still within the configured window."""
        rec = await self.optimizer.stale(task, skill)
        if rec is None or rec.expires_at is None:
            return None
        age = max(0.0, time.time() - rec.expires_at)
        assert outcome.error is not None
        history.append({"attempt": task.attempts, "skill": skill.key, "error": None,
                        "metrics": {}, "decision": f"served a stale cached result (expired "
                        f"{age:.1f} s ago) after {outcome.error.type.value}/"
                        f"{outcome.error.code}"})
        return Outcome(output=orjson.loads(rec.value_json), output_json=rec.value_json,
                       metrics={**outcome.metrics, "stale_s": round(age, 3)})

    async def _attempt(self, task: ExecutionTask, skill: Skill, runner: Runner,
                       saved: list[ArtifactRef], task_deadline: float) -> Outcome:
        # The operator's ceiling holds whoever set the timeout (a caller, the manifest, the
        # SmartExecutor's adaptive timeout, a grown timeout after a timed-out attempt).
        timeout_s = min(task.timeout_s, self._max_timeout_s)
        # The call's deadline comes first (no clock read without one: the common case).
        cut = task.deadline_s is not None and task_deadline - time.time() < timeout_s
        if cut:
            timeout_s = max(0.001, task_deadline - time.time())
        ctx = self.environment.context(
            task, deadline=time.time() + timeout_s, saved=saved,
            progress=self._progress_sink(task) if self.events_bus.log is not None
            or self.events_bus.wants(task.task_id) else None)
        self._contexts[task.task_id] = ctx
        ex = self.isolation_policy.effective(skill.execution)
        attempt = Attempt(skill=skill, input_data=build_input(task.params, task.config),
                          context=ctx,
                          limits=AttemptLimits(timeout_s=timeout_s, memory_mb=ex.memory_mb,
                                               cpu_seconds=ex.cpu_seconds,
                                               max_output_bytes=self.config.max_output_bytes))
        try:
            for mw in self._hooks["before_attempt"]:
                if (pending := mw.before_attempt(task, attempt)) is not None:
                    await pending
            outcome = await runner.run(attempt)
            if (ctx.workdir_made or ctx.quota_error is not None) and (  # quotas: environment
                    over := await self.environment.finish(ctx)) is not None:
                outcome = Outcome(error=over, metrics=outcome.metrics)
            # Attempts holding a slot as this one ended (ExecutionMetrics' concurrency): the
            # engine's to say, so a result reads the same with the monitor on or off.
            outcome.metrics["concurrency"] = self.executor.slots
            if cut and outcome.error is not None and outcome.error.type is ErrorType.TIMEOUT:
                outcome.error = _past_deadline(skill, task, outcome.error)
            self._report_limits(outcome.metrics, task, attempt.limits, runner)
            if outcome.error is None:
                outcome = self._check_output(skill, outcome)
            for mw in self._hooks["after_attempt"]:
                if (pending := mw.after_attempt(task, attempt, outcome)) is not None:
                    await pending
            return outcome
        finally:
            self._contexts.pop(task.task_id, None)
            self.environment.discard(ctx)  # only if finish() did not run

    def _report_limits(self, metrics: dict[str, float | int | None], task: ExecutionTask,
                       limits: AttemptLimits, runner: Runner) -> None:
        """The effective limits (after the operator's clamps and the call's own) go on the
        result; memory and CPU only where a runner enforces them."""
        metrics["timeout_s"] = task.timeout_s
        if runner is not self._runners.get("inline"):
            metrics["memory_limit_mb"], metrics["cpu_limit_s"] = \
                self.isolation_policy.resource_limits(memory_mb=limits.memory_mb,
                                                      cpu_seconds=limits.cpu_seconds)

    def _check_output(self, skill: Skill, outcome: Outcome) -> Outcome:
        try:
            encoded = orjson.dumps(outcome.output)
        except TypeError as exc:
            return Outcome(error=ExecutionError(
                f"skill {skill.id!r} returned a value that is not JSON: {exc}",
                code="output_not_json").info, metrics=outcome.metrics)
        try:
            self.validator.validate_output(skill, outcome.output, size=len(encoded))
        except SkillExecError as exc:
            return Outcome(error=exc.info, metrics=outcome.metrics)
        return Outcome(output=outcome.output, metrics=outcome.metrics, output_json=encoded)

    def _progress_sink(self, task: ExecutionTask) -> Callable[[float, str], None]:
        loop = asyncio.get_running_loop()
        bus = self.events_bus

        def sink(fraction: float, message: str) -> None:
            event = TaskEvent(task_id=task.task_id, kind="progress", status=task.status,
                              attempt=task.attempts, fraction=fraction, message=message)
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                bus.publish(event)
            else:  # a sync skill in a worker thread
                loop.call_soon_threadsafe(bus.publish, event)

        return sink

    async def _finish(self, task: ExecutionTask, outcome: Outcome, *,
                      status: TaskStatus | None = None, skill: Skill | None = None,
                      history: list[dict[str, Any]] | None = None,
                      artifacts: list[ArtifactRef] | None = None,
                      cached: bool = False) -> ExecutionResult:
        if self.resources.output_limits:
            outcome = self._check_output_limit(task, outcome)
        err = outcome.error
        if status is None:
            if err is None:
                status = TaskStatus.SUCCEEDED
            elif err.type is ErrorType.TIMEOUT:
                status = TaskStatus.TIMED_OUT
            elif err.type is ErrorType.CANCELLED:
                status = TaskStatus.CANCELLED
            else:
                status = TaskStatus.FAILED
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
        self._live.pop(task.task_id, None)
        event_log = self.events_bus.log
        if event_log is not None and task.task_id in event_log.kept:
            event_log.ended(task.task_id)
        self._cancelling.discard(task.task_id)
        fut = self._waiters.pop(task.task_id, None)
        if fut is not None and not fut.done():
            fut.set_result(result)
        self._emit(task)
        self.resources.finished(task.skill_id, task.principal, metrics,
                                ok=status is TaskStatus.SUCCEEDED, cached=cached)
        flight = self.optimizer.landed(task.task_id)
        if flight is not None:
            await self._land(flight, task, result, outcome)
        self.errors.on_finish(task, result)
        for mw in self._hooks["on_finish"]:
            try:
                if (pending := mw.on_finish(task, result)) is not None:
                    await pending
            except Exception:
                log.exception("middleware %r failed in on_finish", mw)
        return result

    def _check_output_limit(self, task: ExecutionTask, outcome: Outcome) -> Outcome:
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

    async def _land(self, flight: Flight, task: ExecutionTask, result: ExecutionResult,
                    outcome: Outcome) -> None:
        """The leader of identical calls ended: cache its result, end its followers."""
        value = outcome.output_json
        if flight.cacheable and result.status is TaskStatus.SUCCEEDED and not result.cached:
            if value is None:
                value = orjson.dumps(result.output, default=str)
            self.optimizer.keep(flight, task.skill_id, task.skill_version, value)
        if not flight.followers:
            return
        shared = [{"attempt": 0, "decision": "shared", "leader_task_id": task.task_id,
                   "status": result.status.value}]
        ends = []
        for follower in flight.followers:
            if follower.task_id in self._cancelling:
                ends.append(self._finish(follower, Outcome(error=_cancelled_info()),
                                         status=TaskStatus.CANCELLED))
                continue
            follower.skill_version = result.skill_version
            ends.append(self._finish(
                follower, Outcome(output=result.output, error=result.error,
                                  metrics={"shared": 1, "leader_wall_ms":
                                           result.metrics.get("wall_ms")},
                                  output_json=value),
                status=result.status, history=shared))
        await asyncio.gather(*ends)

    def _emit(self, task: ExecutionTask) -> None:
        if self.events_bus.wants(task.task_id):
            self.events_bus.publish(TaskEvent(task_id=task.task_id, kind="status",
                                              status=task.status, attempt=task.attempts))

    # -- recovery ----------------------------------------------------------------------------

    async def _recover(self) -> None:
        """Resume or close every task a previous engine left unfinished (see README)."""
        stored = await self._store.unfinished()
        resumed: list[str] = []
        interrupted: list[str] = []
        cancelled: list[str] = []
        for st in stored:
            task = _task_from_stored(st)
            self._live[task.task_id] = task
            if st.cancel_requested:
                await self._finish(task, Outcome(error=_cancelled_info()),
                                   status=TaskStatus.CANCELLED)
                cancelled.append(st.task_id)
                continue
            never_started = st.status in (TaskStatus.PENDING, TaskStatus.QUEUED)
            try:
                self.skills.get(st.skill_id, st.skill_version)
            except SkillExecError as exc:
                await self._finish(task, Outcome(error=ErrorInfo(
                    type=ErrorType.EXECUTION, code="interrupted", retryable=False,
                    message=f"the engine stopped before task {st.task_id} finished, and its "
                            f"skill is no longer available: {exc}")))
                interrupted.append(st.task_id)
                continue
            if never_started or st.idempotent:
                task.status = TaskStatus.QUEUED
                task.queued_mono = time.monotonic()
                self._queue.push(task)
                resumed.append(st.task_id)
            else:
                interrupted.append(st.task_id)
                await self._finish(task, Outcome(error=ErrorInfo(
                    type=ErrorType.EXECUTION, code="interrupted", retryable=False,
                    message=f"the engine stopped while task {st.task_id} was running; "
                            f"skill {st.skill_id!r} is not idempotent, so it was not re-run")))
        self.recovery = Recovery(resumed=tuple(resumed), interrupted=tuple(interrupted),
                                 cancelled=tuple(cancelled))
        if stored:
            # Never silent: a user must be able to tell why tasks they did not submit now run.
            log.warning("recovered %d tasks a stopped engine left unfinished: resumed %s; "
                        "ended interrupted %s; ended cancelled %s (engine.recovery has "
                        "every id)", len(stored), _some(resumed), _some(interrupted),
                        _some(cancelled))
            self.executor.dispatch()

    async def _leave_unfinished(self) -> None:
        """``recover = false``: run none of a stopped engine's leftovers, end none — except
        those whose cancellation was asked, which nobody else would ever end."""
        cancelled: list[str] = []
        for st in await self._store.unfinished():
            if st.cancel_requested:
                await self._end_orphan(st)
                cancelled.append(st.task_id)
            else:
                self._orphans[st.task_id] = st
        self.recovery = Recovery(cancelled=tuple(cancelled), left=tuple(self._orphans))

    async def _end_orphan(self, st: StoredTask) -> None:
        task = _task_from_stored(st)
        self._live[task.task_id] = task
        await self._finish(task, Outcome(error=_cancelled_info()), status=TaskStatus.CANCELLED)

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

    async def _poll_cancel_requests(self) -> None:
        """Cancellations asked through the journal (``skillexec tasks cancel`` elsewhere)."""
        while True:
            await asyncio.sleep(_CANCEL_POLL_S)
            if not self._live and not self._orphans:
                continue
            with contextlib.suppress(SkillExecError, OSError):
                for task_id in await self._store.cancel_requests():
                    if task_id in self._live:
                        await self.cancel(task_id)
                    elif (orphan := self._orphans.pop(task_id, None)) is not None:
                        await self._end_orphan(orphan)  # its engine is gone: end it here

    # -- plumbing ------------------------------------------------------------------------------

    def _index_hooks(self) -> None:
        self._hooks = {hook: [m for m in self._middleware if type(m).overrides(hook)]
                       for hook in ("on_submit", "before_attempt", "after_attempt",
                                    "on_finish")}

    def add_middleware(self, middleware: Middleware) -> None:
        self._middleware.append(middleware)
        self._index_hooks()

    def _spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)


def _some(ids: list[str], shown: int = 10) -> str:
    if not ids:
        return "none"
    more = f" and {len(ids) - shown} more" if len(ids) > shown else ""
    return f"{len(ids)} ({', '.join(ids[:shown])}{more})"


def _deadline(given: float | None, default: float | None) -> float:
    value = given if given is not None else default
    if value is None or not 0 < value < math.inf:  # NaN fails this too
        raise ParameterError(f"deadline must be a positive number of seconds (got {value})",
                             code="invalid_deadline")
    return float(value)


def _past_deadline(skill: Skill, task: ExecutionTask, err: ErrorInfo) -> ErrorInfo:
    """An attempt cut short by the call's deadline, not by its own timeout."""
    return dataclasses.replace(
        err, code="deadline_exceeded", retryable=False,
        message=f"skill {skill.id!r} did not finish within the call's deadline of "
                f"{duration(task.deadline_s)} (attempt {task.attempts}; each attempt may "
                f"take {duration(task.timeout_s)})",
        details={**err.details, "deadline_s": task.deadline_s})


def _over_attempts(last: dict[str, Any], history: list[dict[str, Any]],
                   started_at: float | None) -> dict[str, Any]:
    """A retried task's metrics: wall and CPU time over all its attempts (from the first
    one's start: no clock is read for the many tasks that ran once), the last's apart."""
    out = dict(last)
    out["last_attempt_wall_ms"] = last.get("wall_ms")
    if started_at is not None:
        out["wall_ms"] = (time.time() - started_at) * 1000.0
    cpu = [h["metrics"].get("cpu_ms") for h in history]
    if last.get("cpu_ms") is not None:
        out["last_attempt_cpu_ms"] = last["cpu_ms"]
    out["cpu_ms"] = sum(cpu) if all(c is not None for c in cpu) else None
    return out


def _cancelled_info() -> ErrorInfo:
    return CancelledError("the task was cancelled").info


def _task_from_stored(st: StoredTask) -> ExecutionTask:
    return ExecutionTask(task_id=st.task_id, skill_id=st.skill_id,
                         skill_version=st.skill_version, params=st.params, config=st.config,
                         priority=st.priority, timeout_s=st.timeout_s,
                         max_retries=st.max_retries, idempotent=st.idempotent,
                         created_at=st.created_at, status=st.status, attempts=st.attempts,
                         principal=st.principal)
