"""ExecutionMonitor: the middleware that measures every attempt and task, live.

Per call it touches a few ints of the task's skill and appends its times to two lists,
folded in batches into the quantile sketches, histograms and window slot (see SkillStats):
no lock (everything runs on the event loop's thread), no prometheus call, no log record
unless something went wrong (successes are logged at DEBUG; file lines are written once
per event loop turn, see logs.LineWriter).
Everything else (snapshots, the Prometheus exposition, alerts) is computed when asked.

Events: with ``event_log`` on, the monitor attaches an :class:`EventLog` to the engine's
event bus, so ``engine.events(task_id)`` replays a task's events from its start (rebuilt from
the live task or its journal record, plus the progress reports and retry times the log
keeps); the engine feeds the log, so the monitor adds no hook per attempt for it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from skillexec.errors import ErrorType
from skillexec.events import EventLog
from skillexec.middleware import Middleware
from skillexec.monitoring.logs import make_logger, scrub, secret_values
from skillexec.monitoring.metrics import MetricCollector
from skillexec.monitoring.prometheus import EngineCollector, make_registry, text
from skillexec.monitoring.settings import MonitorSettings
from skillexec.monitoring.stats import MonitorSnapshot
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from skillexec.monitoring.alerts import AlertManager
    from skillexec.monitoring.tracing import TracingMiddleware
    from skillexec.services import Services

__all__ = ["ExecutionMonitor", "MonitorSettings"]

_SUCCEEDED = TaskStatus.SUCCEEDED

_log = logging.getLogger("skillexec.monitor")


class ExecutionMonitor(Middleware):
    """Built by the engine with its :class:`~skillexec.services.Services`."""

    def __init__(self, services: Services, settings: MonitorSettings | None = None, *,
                 clock: Callable[[], float] = time.time,
                 tracer_provider: Any = None) -> None:
        self.services = services
        self.tracing: TracingMiddleware | None = None
        self.alerts: AlertManager | None = None
        self._setup(settings or MonitorSettings(), clock, tracer_provider)

    def _setup(self, settings: MonitorSettings, clock: Callable[[], float],
               tracer_provider: Any) -> None:
        self.settings = s = settings
        self.clock = clock
        sv = self.services
        skills = sv.skills
        self.metrics = MetricCollector(
            max_skills=s.max_skills, max_principals=s.max_principals,
            accuracy=s.relative_accuracy, slot_s=s.window_slot_s, slots=s.window_slots,
            window_accuracy=s.window_accuracy, disk_path=sv.data_dir,
            system_ttl_s=s.system_metrics_ttl_s, known_skill=lambda sid: sid in skills)
        self._stats = self.metrics.skills
        self.circuits: dict[str, str] = {}
        self.event_log = (EventLog(max_per_task=s.event_log_max_per_task,
                                   grace_s=s.event_log_grace_s,
                                   max_ended=s.event_log_max_ended)
                          if s.enabled and s.event_log else None)
        if self.event_log is not None:
            self.event_log.live = sv.live_task
        self.log = make_logger(s)
        self._debug = logging.getLevelNamesMapping().get(s.log_level.upper(), 20) <= 10
        self.registry: CollectorRegistry = make_registry(EngineCollector(
            self.metrics, running=sv.running, queue_depth=self.queue_depth,
            circuits=self.circuit_states, running_by_skill=self.running_by_skill,
            threads_stuck=sv.threads_stuck, coroutines_stuck=sv.coroutines_stuck))
        self._loop_wanted = bool(s.enabled and s.alerts)
        self._loop_started = False
        if s.enabled:
            sv.events.log = self.event_log
            from skillexec.monitoring.tracing import tracing_middleware

            self.tracing = tracing_middleware(s.tracing, tracer_provider=tracer_provider,
                                              runner_of=sv.isolation_of)
            if self.tracing is not None:
                sv.hooks.add(self.tracing)
                sv.artifacts.add_observer(self.tracing.artifact_saved)
            from skillexec.monitoring.alerts import AlertManager

            self.alerts = AlertManager.from_settings(self, s, store=sv.journal, clock=clock)

    def reconfigure(self, settings: MonitorSettings, *, clock: Callable[[], float] | None = None,
                    tracer_provider: Any = None) -> None:
        """Start over with other settings (statistics are reset); before the engine runs."""
        sv = self.services
        sv.hooks.remove(self)
        if self.tracing is not None:
            sv.hooks.remove(self.tracing)
            sv.artifacts.remove_observer(self.tracing.artifact_saved)
        sv.events.log = None
        self.tracing = None
        self.alerts = None
        self._setup(settings, clock or self.clock, tracer_provider)
        if settings.enabled:
            sv.hooks.add(self)

    # -- hooks (the hot path) ------------------------------------------------------------------

    def after_attempt(self, task: ExecutionTask, attempt: Attempt,
                      outcome: Outcome) -> None:
        st = self._stats.get(task.skill_id) or self.metrics.stats(task.skill_id)
        st.attempts += 1
        m = outcome.metrics
        if len(m) > 3 or m.get("cpu_ms") is not None:
            st.resources(m)
        err = outcome.error
        if err is not None:
            key = err.type.value
            st.errors[key] = st.errors.get(key, 0) + 1
            secrets = secret_values(task.params, self.settings.sensitive_params)
            self.log.info("attempt_failed", task_id=task.task_id, skill_id=task.skill_id,
                          attempt=task.attempts, principal=task.principal,
                          error_type=key, error_code=err.code,
                          message=scrub(err.message, secrets))

    def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> None:
        stats = self._stats.get(task.skill_id) or self.metrics.stats(task.skill_id)
        status = result.status
        if task.attempts > 1:
            stats.retries += task.attempts - 1
        stats.timeout_s = task.timeout_s
        stats.finished(self.clock(), status, result.metrics, result.cached)
        if task.principal is not None or stats.category is None or stats.skill == "other":
            skill = task.skill
            self.metrics.count_business(stats, task.principal,
                                        skill.category if skill else None)
        if status is _SUCCEEDED:
            if self._debug:
                self.log.debug("task_finished", task_id=task.task_id, skill_id=task.skill_id,
                               attempt=task.attempts, principal=task.principal,
                               status=status.value, wall_ms=result.metrics.get("wall_ms"))
        else:
            self._finished_badly(task, result, stats)
        if self._loop_wanted:
            self._start_alert_loop()

    def _finished_badly(self, task: ExecutionTask, result: ExecutionResult, stats: Any) -> None:
        err = result.error
        if result.status is TaskStatus.REJECTED and err is not None:
            stats.errors[err.type.value] = stats.errors.get(err.type.value, 0) + 1
            if err.type is ErrorType.RESOURCE:
                stats.rejections[err.code] = stats.rejections.get(err.code, 0) + 1
        secrets = secret_values(task.params, self.settings.sensitive_params)
        level = "info" if result.status in (TaskStatus.CANCELLED, TaskStatus.REJECTED) \
            else "warning"
        getattr(self.log, level)(
            "task_" + result.status.value, task_id=task.task_id, skill_id=task.skill_id,
            attempt=task.attempts, principal=task.principal, status=result.status.value,
            error_type=err.type.value if err else None, error_code=err.code if err else None,
            message=scrub(err.message, secrets) if err else None, params=task.params,
            wall_ms=result.metrics.get("wall_ms"))

    # -- reading -------------------------------------------------------------------------------

    def queue_depth(self) -> dict[int, int]:
        """Queued tasks per priority, now."""
        return self.services.queue_depth()

    def running_by_skill(self) -> dict[str, int]:
        """Attempts running now, per skill (as labelled: folded skills count as "other")."""
        out: dict[str, int] = {}
        for task in list(self.services.live_tasks()):
            if task.status is TaskStatus.RUNNING:
                key = self.metrics.stats(task.skill_id).skill
                out[key] = out.get(key, 0) + 1
        return out

    def circuit_states(self) -> dict[str, str]:
        """Each skill's circuit breaker state: this engine's own breakers as they are now,
        others' as last journaled (``breaker`` events, learned by the alert poll)."""
        out = dict(self.circuits)
        for skill_id, info in self.services.breakers().items():
            out[skill_id] = info["state"]
        return out

    def snapshot(self) -> MonitorSnapshot:
        """Immutable statistics: per skill, plus concurrency and queue depth now."""
        depth = self.services.queue_depth()
        running = self.running_by_skill()
        for key, st in self._stats.items():
            st.running = running.get(key, 0)
        return MonitorSnapshot(
            at=self.clock(),
            skills=MappingProxyType({k: st.snapshot() for k, st in self._stats.items()}),
            running=self.services.running(), queue_depth=sum(depth.values()),
            queue_depth_by_priority=MappingProxyType(dict(depth)),
            calls_by_principal=MappingProxyType(self.metrics.calls_by_principal()),
            calls_by_category=MappingProxyType(self.metrics.calls_by_category()))

    def prometheus_text(self) -> str:
        """The Prometheus text exposition of this engine (for an HTTP ``/metrics``)."""
        return text(self.registry)

    # -- alerts --------------------------------------------------------------------------------

    def start_alert_loop(self) -> None:
        """Evaluate the rules from now on, not only from the first finished task (a service
        must see another engine's open breaker or the machine's memory before any call)."""
        if self._loop_wanted:
            self._start_alert_loop()

    @property
    def alert_loop_running(self) -> bool:
        return self._loop_started

    def _start_alert_loop(self) -> None:
        self._loop_wanted = False
        alerts = self.alerts
        if alerts is None:
            return
        try:
            self.services.spawn(alerts.run(self.settings.alert_interval_s))
            self._loop_started = True
        except RuntimeError:  # no running loop: the next finish will try again
            self._loop_wanted = True

    async def evaluate_alerts(self) -> list[Any]:
        """One evaluation of the alert rules now (the loop does this periodically)."""
        if self.alerts is None:
            return []
        return await self.alerts.evaluate()
