"""OpenTelemetry spans for a task (optional: ``pip install skillexec[otel]``).

``skillexec.task`` (submit to finish) holds ``skillexec.queue`` (accepted to first attempt),
one ``skillexec.attempt`` per attempt with its ``skillexec.runner`` inside, and
``skillexec.artifacts`` (what the task stored: from its first save's start to its last
save's end, with one ``skillexec.artifact.save`` per save, timed by the ArtifactManager).
The runner span's W3C trace context (``traceparent``, ``tracestate``) is put in
``SkillContext.trace`` so a skill can carry it into the calls it makes.

Without the ``opentelemetry`` package, :func:`tracing_middleware` returns None and the
engine gets no tracing middleware at all: no hook is called, nothing is imported.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from skillexec.middleware import Middleware
from skillexec.runtime.runners.base import Attempt, Outcome
from skillexec.skills.model import Skill
from skillexec.task import ArtifactRef, ExecutionResult, ExecutionTask, TaskStatus

__all__ = ["TracingMiddleware", "otel_available", "tracing_middleware"]


def otel_available() -> bool:
    return importlib.util.find_spec("opentelemetry") is not None


class _Spans:
    __slots__ = ("attempt", "queue", "runner", "task")

    def __init__(self, task: Any, queue: Any) -> None:
        self.task = task
        self.queue = queue
        self.attempt: Any = None
        self.runner: Any = None


class TracingMiddleware(Middleware):
    def __init__(self, tracer_provider: Any = None,
                 runner_of: Callable[[Skill], str] | None = None) -> None:
        from opentelemetry import trace
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self._trace = trace
        self._tracer = trace.get_tracer("skillexec", tracer_provider=tracer_provider)
        self._propagator = TraceContextTextMapPropagator()
        self._runner_of = runner_of or (lambda s: str(s.execution.isolation or "inline"))
        self._spans: dict[str, _Spans] = {}
        # Timed saves per live task: (ref, start_ns, end_ns), appended from any thread.
        self._saves: dict[str, list[tuple[ArtifactRef, int, int]]] = {}

    def artifact_saved(self, task_id: str | None, ref: ArtifactRef, start_ns: int,
                       end_ns: int) -> None:
        """The ArtifactManager's observer: keep the save's times for the task's span."""
        if task_id is None or task_id not in self._spans:  # not a task traced here
            return
        saves = self._saves.get(task_id)
        if saves is None:
            saves = self._saves.setdefault(task_id, [])
        saves.append((ref, start_ns, end_ns))  # list.append: atomic under the GIL

    def _child(self, name: str, parent: Any, **attrs: Any) -> Any:
        ctx = self._trace.set_span_in_context(parent)
        return self._tracer.start_span(name, context=ctx, attributes=attrs)

    def on_submit(self, task: ExecutionTask, skill: Skill) -> None:
        root = self._tracer.start_span("skillexec.task", attributes={
            "skillexec.task_id": task.task_id, "skillexec.skill_id": task.skill_id,
            "skillexec.skill_version": task.skill_version,
            "skillexec.priority": task.priority,
            "skillexec.principal": task.principal or ""})
        self._spans[task.task_id] = _Spans(root, self._child("skillexec.queue", root))

    def before_attempt(self, task: ExecutionTask, attempt: Attempt) -> None:
        spans = self._spans.get(task.task_id)
        if spans is None:  # recovered from the journal: no submit in this process
            root = self._tracer.start_span("skillexec.task", attributes={
                "skillexec.task_id": task.task_id, "skillexec.skill_id": task.skill_id,
                "skillexec.recovered": True})
            spans = self._spans[task.task_id] = _Spans(root, None)
        if spans.queue is not None:
            spans.queue.end()
            spans.queue = None
        spans.attempt = self._child("skillexec.attempt", spans.task,
                                    **{"skillexec.attempt": task.attempts})
        spans.runner = self._child("skillexec.runner", spans.attempt,
                                   **{"skillexec.runner": self._runner_of(attempt.skill),
                                      "skillexec.skill": attempt.skill.key})
        carrier: dict[str, str] = {}
        self._propagator.inject(carrier, context=self._trace.set_span_in_context(spans.runner))
        attempt.context.trace.update(carrier)

    def after_attempt(self, task: ExecutionTask, attempt: Attempt,
                      outcome: Outcome) -> None:
        spans = self._spans.get(task.task_id)
        if spans is None:
            return
        for span in (spans.runner, spans.attempt):
            if span is None:
                continue
            if outcome.error is not None:
                span.set_status(self._trace.Status(self._trace.StatusCode.ERROR,
                                                   outcome.error.message[:200]))
                span.set_attribute("skillexec.error_type", outcome.error.type.value)
                span.set_attribute("skillexec.error_code", outcome.error.code)
            wall = outcome.metrics.get("wall_ms")
            if wall is not None:
                span.set_attribute("skillexec.wall_ms", float(wall))
            span.end()
        spans.runner = spans.attempt = None

    def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> None:
        spans = self._spans.pop(task.task_id, None)
        if spans is None:  # refused before it was queued
            spans = _Spans(self._tracer.start_span("skillexec.task", attributes={
                "skillexec.task_id": task.task_id, "skillexec.skill_id": task.skill_id}), None)
        for span in (spans.queue, spans.runner, spans.attempt):
            if span is not None:
                span.end()
        saves = self._saves.pop(task.task_id, None)
        if saves or result.artifacts:
            self._artifacts_span(spans.task, result, saves or [])
        spans.task.set_attribute("skillexec.status", result.status.value)
        spans.task.set_attribute("skillexec.attempts", result.attempts)
        if result.status is not TaskStatus.SUCCEEDED:
            msg = result.error.message[:200] if result.error else result.status.value
            spans.task.set_status(self._trace.Status(self._trace.StatusCode.ERROR, msg))
        spans.task.end()


    def _artifacts_span(self, parent: Any, result: ExecutionResult,
                        saves: list[tuple[ArtifactRef, int, int]]) -> None:
        refs = result.artifacts
        attrs: dict[str, Any] = {"skillexec.artifacts.count": len(refs),
                                 "skillexec.artifacts.bytes": sum(a.size for a in refs)}
        if not saves:  # listed but not saved by this task here (a cached result): an instant
            self._child("skillexec.artifacts", parent, **attrs).end()
            return
        attrs["skillexec.artifacts.saves"] = len(saves)
        attrs["skillexec.artifacts.save_ms"] = sum(e - s for _, s, e in saves) / 1e6
        ctx = self._trace.set_span_in_context(parent)
        span = self._tracer.start_span("skillexec.artifacts", context=ctx, attributes=attrs,
                                       start_time=min(s for _, s, _ in saves))
        inner = self._trace.set_span_in_context(span)
        for ref, start_ns, end_ns in saves:
            self._tracer.start_span("skillexec.artifact.save", context=inner, attributes={
                "skillexec.artifact.id": ref.id, "skillexec.artifact.name": ref.name,
                "skillexec.artifact.mime": ref.mime, "skillexec.artifact.bytes": ref.size,
                }, start_time=start_ns).end(end_time=end_ns)
        span.end(end_time=max(e for _, _, e in saves))


def tracing_middleware(enabled: bool, *, tracer_provider: Any = None,
                       runner_of: Callable[[Skill], str] | None = None,
                       ) -> TracingMiddleware | None:
    """The tracing middleware, or None when disabled, when OpenTelemetry is not installed,
    or when no tracer provider is configured (the API's default provider records nothing:
    spans would cost time and go nowhere). Configure yours before making the engine, or pass
    ``tracer_provider``."""
    if not enabled or not otel_available():
        return None
    if tracer_provider is None:
        from opentelemetry import trace

        provider = trace.get_tracer_provider()
        if type(provider).__name__ in ("ProxyTracerProvider", "NoOpTracerProvider"):
            return None
    return TracingMiddleware(tracer_provider, runner_of)
