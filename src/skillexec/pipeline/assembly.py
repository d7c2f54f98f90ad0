"""Assembly: the components of one engine and the stages of its pipeline, wired once.

The engine supplies what only it can (its finish, spawn, and whether it is started or
closing); everything else is made here from the configuration, unless given.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from skillexec._config_errors import config_error
from skillexec.artifacts import ArtifactManager
from skillexec.config import EngineConfig, load_config
from skillexec.environments.manager import EnvironmentManager
from skillexec.events import EventBus
from skillexec.middleware import HookIndex, Middleware
from skillexec.monitoring.monitor import ExecutionMonitor, MonitorSettings
from skillexec.optimization.optimizer import ExecutionOptimizer
from skillexec.pipeline.access import Access
from skillexec.pipeline.admission import Admission
from skillexec.pipeline.attempts import AttemptLoop, Finish
from skillexec.pipeline.authorization import Authorization
from skillexec.pipeline.cache import ResultCache
from skillexec.pipeline.cancellation import Cancellation
from skillexec.pipeline.lock import DataDirLock
from skillexec.pipeline.origin import FolderCheck
from skillexec.pipeline.output_filter import OutputFilter
from skillexec.pipeline.purge import Purger
from skillexec.pipeline.recovery import Recoverer
from skillexec.pipeline.remote import ClaimedRuns, RemoteEnqueue
from skillexec.pipeline.scripts import ScriptCalls
from skillexec.pipeline.skillbook import SkillBook
from skillexec.pipeline.tasks import LiveTasks
from skillexec.pipeline.watcher import JournalWatcher
from skillexec.reliability.classify import ErrorClassifier
from skillexec.reliability.handler import ErrorHandler
from skillexec.reliability.retry import ExponentialBackoffRetryStrategy, RetryStrategy
from skillexec.resources.manager import ResourceManager
from skillexec.resources.pressure import PressureGauge
from skillexec.resources.prometheus import UsageCollector
from skillexec.runtime.environment import ExecutionEnvironment
from skillexec.runtime.runners.base import Runner
from skillexec.runtime.runners.coroutine_guard import GuardedInlineRunner
from skillexec.runtime.runners.process import ProcessRunner
from skillexec.runtime.runners.sandbox import SandboxRunner
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.scheduling.queue import TaskQueue
from skillexec.security.audit import AuditLog
from skillexec.security.isolation_policy import IsolationPolicy
from skillexec.security.keys import KeyManager
from skillexec.security.secret_grants import SecretGrants
from skillexec.services import Services
from skillexec.skills.model import Isolation
from skillexec.skills.registry import SkillRegistry
from skillexec.smart.executor import SmartExecutor
from skillexec.storage.codec import PLAIN
from skillexec.storage.journal import EventWriter
from skillexec.storage.memory import MemoryStore
from skillexec.storage.store import TaskStore
from skillexec.task import ExecutionResult
from skillexec.validation import ParameterValidator

__all__ = ["Given", "Pipeline", "assemble"]


@dataclass(frozen=True, slots=True)
class Given:
    """What a caller of the engine may bring instead of the default made from the config."""

    middleware: Sequence[Middleware] = ()
    runners: Mapping[str, Runner] | None = None
    store: TaskStore | None = None
    retry_strategy: RetryStrategy | None = None
    resources: ResourceManager | None = None
    optimizer: ExecutionOptimizer | None = None


@dataclass(frozen=True, slots=True)
class Pipeline:
    journal: TaskStore
    skills: SkillRegistry
    validator: ParameterValidator
    error_handler: ErrorHandler
    artifacts: ArtifactManager
    runners: dict[str, Runner]
    hooks: HookIndex
    events: EventBus
    resources: ResourceManager
    optimizer: ExecutionOptimizer
    queue: TaskQueue
    executor: AsyncExecutor
    tasks: LiveTasks
    book: SkillBook
    environments: EnvironmentManager
    admission: Admission
    attempts: AttemptLoop
    cache: ResultCache
    cancellation: Cancellation
    recoverer: Recoverer
    watcher: JournalWatcher
    lock: DataDirLock
    services: Services
    monitor: ExecutionMonitor
    smart: SmartExecutor
    audit: AuditLog
    keys: KeyManager
    access: Access
    purger: Purger
    scripts: ScriptCalls
    remote: RemoteEnqueue | None  # distributed mode: submit publishes instead of queueing
    claimed: ClaimedRuns  # a worker's claimed tasks
    folders: FolderCheck  # whether a journaled task's id still names its folder here

    def background(self) -> list[Coroutine[Any, Any, None]]:
        """The loops that run beside the pipeline for as long as the engine does."""
        return [self.watcher.poll_cancel_requests(), self.purger.retention_loop(),
                self.scripts.sweeper()]

    async def close(self) -> None:
        """Release what the stages hold, the journal last (they may still write to it)."""
        await self.scripts.close()
        self.environments.close()  # an install under way: its installer ends now
        for runner in self.runners.values():
            await runner.close()
        await self.attempts.environment.close()
        await self.hooks.close()
        await asyncio.gather(self.smart.close(), self.audit.close())
        await self.journal.close()


def configured(config: EngineConfig | None, **overrides: Any) -> EngineConfig:
    """The engine's configuration: ``config`` (else loaded) with the arguments given."""
    if config is None:
        return load_config(**overrides)
    if not any(v is not None for v in overrides.values()):
        return config
    # Checked as the config's own fields are (model_copy's update is not: data_dir="/x"
    # stayed a str, and max_concurrency=-3 went through).
    out = config.model_copy()
    try:
        for name, value in overrides.items():
            if value is not None:
                out.__pydantic_validator__.validate_assignment(out, name, value)
    except ValueError as exc:  # pydantic's ValidationError
        raise config_error(exc, formerly={}) from None
    return out


def _components(c: EngineConfig, given: Given) -> dict[str, Any]:
    secrets = c.security.secret_values(os.environ)  # a secret that is not set stops it here
    # a missing or wrong master key stops the engine here, before any row is read
    codec = c.codec() if c.journal or c.security.encryption else PLAIN
    journal = given.store or c.journal_store(codec=codec)
    classifier = ErrorClassifier()
    retry = given.retry_strategy or ExponentialBackoffRetryStrategy(
        base_delay_s=c.retry_base_delay_s, max_delay_s=c.retry_max_delay_s)
    artifacts = ArtifactManager(c.artifacts_dir, journal, max_bytes=c.max_artifact_bytes,
                                codec=codec)
    runners = dict(given.runners or {})
    settings = c.isolation_settings()
    runners.setdefault(Isolation.INLINE.value, GuardedInlineRunner(
        thread_pool_size=c.thread_pool_size, classifier=classifier))
    runners.setdefault(Isolation.PROCESS.value, ProcessRunner(settings=settings))
    runners.setdefault(Isolation.SANDBOX.value, SandboxRunner(settings=settings))
    sessions = c.session_store()
    if given.optimizer is not None:
        given.optimizer.bind_store(journal)  # it was made before the engine chose a store
    return dict(
        journal=journal, skills=SkillRegistry(private=_private_dirs(c)), runners=runners,
        artifacts=artifacts,
        codec=codec, secrets=secrets, secret_grants=SecretGrants(ids=frozenset(secrets)),
        validator=ParameterValidator(coerce=c.coerce_parameters,
                                     max_param_bytes=c.max_param_bytes,
                                     max_output_bytes=c.max_output_bytes),
        error_handler=ErrorHandler(classifier=classifier, retry=retry, config=c,
                                   store=journal),
        environment=ExecutionEnvironment(
            work_root=c.work_root, artifacts=artifacts, keep_workdirs=c.keep_workdirs,
            logger=logging.getLogger("skillexec.skill"), quotas=c.attempt_quotas(),
            secrets=secrets, sessions=sessions, own_root=c.work_dir is None),
        sessions=sessions,
        resources=given.resources or ResourceManager(
            limits=c.settings_of("resources"),
            pressure=PressureGauge(settings=c.settings_of("pressure"))),
        optimizer=given.optimizer or ExecutionOptimizer(settings=_cache_settings(c),
                                                        store=journal),
        hooks=HookIndex(given.middleware), events=EventBus(), isolation=settings,
        events_writer=EventWriter(journal))


def _private_dirs(c: EngineConfig) -> tuple[Path, ...]:
    """The engine's folders no plugin's skill may reach: its data dir, its configuration's."""
    config = os.environ.get("SKILLEXEC_CONFIG")
    return (c.data_dir, *((Path(config).parent,) if config else ()))


def _cache_settings(c: EngineConfig) -> Any:
    """Distributed mode: no single-flight or result cache on the submitting node, since a
    follower would wait for a leader that lands on another node (future work)."""
    settings = c.settings_of("cache")
    if c.broker_url is not None:
        return dataclasses.replace(settings, enabled=False)
    return settings


def assemble(c: EngineConfig, given: Given, *,
             finish: Callable[..., Awaitable[ExecutionResult]],
             spawn: Callable[[Coroutine[Any, Any, Any]], None],
             started: Callable[[], bool], closing: Callable[[], bool]) -> Pipeline:
    p = _components(c, given)
    journal, skills, runners, events = p["journal"], p["skills"], p["runners"], p["events"]
    resources, policy, limits = p["resources"], c.isolation_policy(), p["resources"].limits
    queue = TaskQueue(capacity=c.max_queue_size, aging_s=c.queue_aging_s,
                      capacity_by_priority=limits.queue_capacity_by_priority)
    tasks = LiveTasks(journal=journal, events=events)
    environments = c.environments.manager(c.data_dir, publish=skills.add)
    book = SkillBook(skills=skills, runners=runners, policy=policy, spawn=spawn,
                     strict_manifests=c.strict_manifests, started=started,
                     environments=environments, permissions=p["isolation"].permission_policy,
                     entries={k: v.entry for k, v in c.skills.items() if v.entry},
                     secrets=p["secret_grants"])
    admission = _admission(c, p, policy)  # also what a fallback must pass
    folders = FolderCheck(claimants=book.claimants, distributed=c.broker_url is not None)
    attempts = AttemptLoop(
        runners=runners, policy=policy, environment=p["environment"],
        validator=p["validator"], skills=skills, error_handler=p["error_handler"],
        events=events, journal=journal, hooks=p["hooks"], optimizer=p["optimizer"],
        max_output_bytes=c.max_output_bytes, cancelling=tasks.cancelling, closing=closing,
        finish=finish, admit_fallback=admission.fallback, admit_stored=admission.recheck,
        output_filter=_output_filter(c, p), folders=folders)
    executor = attempts.executor = AsyncExecutor(
        queue, max_concurrency=limits.max_concurrency or c.max_concurrency,
        run=attempts.run, gate=resources)
    resources.bind(journal=p["events_writer"].record, reopen=executor.reopen)
    recoverer = Recoverer(journal=journal, skills=skills, queue=queue, live=tasks.live,
                          finish=finish, dispatch=executor.dispatch,
                          shared=c.broker_url is not None, folders=folders)
    cancellation = Cancellation(tasks=tasks, queue=queue, executor=executor,
                                contexts=attempts.contexts, recoverer=recoverer,
                                journal=journal, finish=finish)
    watcher = tasks.watcher = JournalWatcher(journal=journal, live=tasks.live,
                                             recoverer=recoverer, cancel=cancellation.cancel)
    audit, access, purger = _security(c, p, tasks, book)
    p["artifacts"].guard = access.may_read_artifact
    services = _services(c, p, book, tasks, queue, executor, spawn)
    monitor, smart = _observers(c, services)
    p["optimizer"].analyse_with(skills=skills, resources=resources, config=c)
    return Pipeline(
        purger=purger, journal=journal, skills=skills, validator=p["validator"],
        error_handler=p["error_handler"], artifacts=p["artifacts"], runners=runners,
        hooks=p["hooks"], events=events, resources=resources, optimizer=p["optimizer"],
        queue=queue, executor=executor, tasks=tasks, book=book, attempts=attempts,
        environments=environments, admission=admission,
        cache=ResultCache(optimizer=p["optimizer"], skills=skills, journal=journal,
                          events=events, live=tasks.live, cancelling=tasks.cancelling,
                          finish=finish),
        cancellation=cancellation, recoverer=recoverer, watcher=watcher,
        lock=DataDirLock(c.data_dir),
        services=services, monitor=monitor, smart=smart, audit=audit,
        keys=KeyManager(journal, audit=audit.record), access=access,
        scripts=_script_calls(c, p, attempts, environments, queue, executor, tasks, finish),
        remote=_remote(c, journal, events, tasks.published),
        claimed=_claimed(attempts, tasks, queue, executor, finish, skills), folders=folders)


def _script_calls(c: EngineConfig, p: dict[str, Any], attempts: AttemptLoop,
                  environments: EnvironmentManager, queue: TaskQueue, executor: AsyncExecutor,
                  tasks: LiveTasks, finish: Finish) -> ScriptCalls:
    scripts = ScriptCalls(skills=p["skills"], sessions=p["sessions"], environments=environments,
                          queue=queue, executor=executor, tasks=tasks, finish=finish,
                          distributed=c.broker_url is not None,
                          permissions=c.isolation_settings().permission_policy)
    attempts.ready = scripts.ready  # a task read from the journal: its environment made here
    return scripts


def _claimed(attempts: AttemptLoop, tasks: LiveTasks, queue: TaskQueue, executor: AsyncExecutor,
             finish: Finish, skills: SkillRegistry) -> ClaimedRuns:
    claimed = ClaimedRuns(tasks=tasks, queue=queue, executor=executor, finish=finish,
                          skills=skills)
    attempts.hand_back = claimed.hand_back  # a worker's claim that did not start goes back
    return claimed


def _output_filter(c: EngineConfig, p: dict[str, Any]) -> OutputFilter:
    return OutputFilter(enabled=c.security.redact, exempt=c.security.redact_exempt_skills,
                        sensitive=c.settings_of("monitor").sensitive_params,
                        handed=p["secrets"])


def _admission(c: EngineConfig, p: dict[str, Any], policy: IsolationPolicy) -> Admission:
    admission = Admission(
        config=c, runners=p["runners"], policy=policy,
        permissions=p["isolation"].permission_policy, skills=p["skills"],
        validator=p["validator"], error_handler=p["error_handler"],
        authorization=Authorization(role_permissions=c.access.role_permissions))
    grants: SecretGrants = p["secret_grants"]
    admission.checks.insert(1, lambda skill, _: grants.check(skill))
    return admission


def _security(c: EngineConfig, p: dict[str, Any], tasks: LiveTasks,
              book: SkillBook) -> tuple[AuditLog, Access, Purger]:
    journal = p["journal"]
    # A memory journal's chain ends with its process: no checkpoints on disk to outlive it.
    audit = AuditLog(journal, directory=None if isinstance(journal, MemoryStore)
                     else c.data_dir / "audit", enabled=c.audit.enabled,
                     checkpoint_every=c.audit.checkpoint_every,
                     task_submissions=c.audit.task_submissions,
                     journal=c.journal_identity)
    purger = Purger(journal=journal, artifacts=p["artifacts"], codec=p["codec"],
                    optimizer=p["optimizer"], retention_days=c.security.retention_days,
                    interval_s=c.security.retention_interval_s,
                    record_audit=lambda action, data: _audit_purge(audit, data),
                    sessions=p["sessions"])
    return audit, Access(tasks=tasks, journal=journal, audit=audit, book=book), purger


def _audit_purge(audit: AuditLog, data: dict[str, Any]) -> None:
    """A purge, in the audit log: who was purged, and what went."""
    audit.record("tasks.purged", target=str(data.get("principal") or "*"), details=data)


def _remote(c: EngineConfig, journal: TaskStore, events: EventBus,
            published: dict[str, float | None]) -> RemoteEnqueue | None:
    if c.broker_url is None:
        return None
    from skillexec.distributed.transport import Transport  # Celery only when distributed

    publishes_to = getattr(journal, "publishes_to", None)
    if publishes_to is not None:  # its tasks are that queue's workers' to reconcile
        publishes_to(c.distributed.queue)
    return RemoteEnqueue(journal=journal, events=events, published=published,
                         publisher=Transport(c.broker_url, c.distributed.queue,
                                             ids_per_message=c.distributed.ids_per_message))


def _observers(c: EngineConfig, services: Services) -> tuple[ExecutionMonitor, SmartExecutor]:
    """The monitor and the SmartExecutor, as middleware when they are on."""
    monitor = ExecutionMonitor(services, MonitorSettings.from_config(c))
    monitor.registry.register(UsageCollector(services.resources,
                                             skills=lambda: monitor.metrics.skills))
    if monitor.settings.enabled:
        services.hooks.add(monitor)
    smart = SmartExecutor(services, c.settings_of("smart"),
                          skill_stats=lambda sid: monitor.snapshot().skills.get(sid))
    if smart.enabled:
        services.hooks.add(smart)
    return monitor, smart


def _services(c: EngineConfig, p: dict[str, Any], book: SkillBook, tasks: LiveTasks,
              queue: TaskQueue, executor: AsyncExecutor,
              spawn: Callable[[Coroutine[Any, Any, Any]], None]) -> Services:
    journal, runners = p["journal"], p["runners"]

    return Services(
        data_dir=c.data_dir, journal=journal, events=p["events"], skills=p["skills"],
        validator=p["validator"], resources=p["resources"], artifacts=p["artifacts"],
        hooks=p["hooks"], isolation_of=book.isolation_of, runner_allows=book.runner_allows,
        live_task=tasks.live.get, live_tasks=tasks.live.values,
        queue_depth=queue.depth_by_priority, running=lambda: executor.slots,
        breakers=p["error_handler"].breakers,
        threads_stuck=lambda: int(getattr(runners.get("inline"), "threads_stuck", 0)),
        coroutines_stuck=lambda: int(getattr(runners.get("inline"), "coroutines_stuck", 0)),
        spawn=spawn, journal_event=p["events_writer"].record)
