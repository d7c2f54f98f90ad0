"""AttemptLoop: runs a task that holds a slot through its attempts, retries and fallbacks,
until one succeeds or the retry strategy gives up; then releases the slot and finishes it.

The journal contract here: the start of an attempt of a task that is not idempotent is
awaited before the attempt runs (at most once: the journal knows it began before it does);
every other write of the loop is fire-and-forget (see :mod:`skillexec.storage.journal`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from skillexec.errors import ErrorType, ExecutionError, ResourceError, SkillExecError
from skillexec.events import EventBus
from skillexec.middleware import HookIndex
from skillexec.optimization.optimizer import ExecutionOptimizer
from skillexec.pipeline.attempt_records import entry, not_started, over_attempts, past_deadline
from skillexec.pipeline.origin import FolderCheck
from skillexec.pipeline.output_filter import UNMASKED, OutputFilter
from skillexec.pipeline.output_json import checked_output
from skillexec.pipeline.recovery import cancelled_info
from skillexec.reliability.handler import ErrorHandler
from skillexec.runtime.binary_inputs import BinaryFields
from skillexec.runtime.entry import build_input
from skillexec.runtime.environment import ExecutionEnvironment
from skillexec.runtime.runners.base import (
    Attempt,
    AttemptLimits,
    CancelledWithStreams,
    Outcome,
    Runner,
)
from skillexec.scheduling.executor import AsyncExecutor
from skillexec.security.isolation_policy import IsolationPolicy
from skillexec.skills.model import Skill
from skillexec.skills.registry import SkillRegistry
from skillexec.storage.store import TaskStore
from skillexec.task import ArtifactRef, ExecutionResult, ExecutionTask, TaskStatus
from skillexec.validation import ParameterValidator

__all__ = ["AttemptLoop", "StartNotWritten"]

log = logging.getLogger("skillexec.engine")

# Failures a stale answer must not hide: the request itself is wrong, or was withdrawn.
_NO_STALE = frozenset({ErrorType.PARAMETER, ErrorType.PERMISSION, ErrorType.DEPENDENCY,
                       ErrorType.CANCELLED})

Finish = Callable[..., Awaitable[ExecutionResult]]


class StartNotWritten(ResourceError):
    """The journal could not record the first start of a task that is not idempotent:
    its skill did not run (a distributed worker hands such a task back)."""

    code = "journal_write_failed"


class AttemptLoop:
    executor: AsyncExecutor  # set by the engine once made: it runs this loop's run()

    def __init__(self, *, runners: dict[str, Runner], policy: IsolationPolicy,
                 environment: ExecutionEnvironment, validator: ParameterValidator,
                 skills: SkillRegistry, error_handler: ErrorHandler, events: EventBus,
                 journal: TaskStore, hooks: HookIndex,
                 optimizer: ExecutionOptimizer, max_output_bytes: int,
                 cancelling: set[str], closing: Callable[[], bool], finish: Finish,
                 output_filter: OutputFilter | None = None,
                 hand_back: Callable[[ExecutionTask], bool] | None = None,
                 admit_fallback: Callable[[ExecutionTask, Skill], None] | None = None,
                 admit_stored: Callable[[Skill], None] | None = None,
                 folders: FolderCheck | None = None) -> None:
        self.runners = runners
        # Raises to refuse a fallback (its caller may not run it); None: the engine's
        # admission is not wired in (a loop made on its own), and no fallback runs.
        self.admit_fallback = admit_fallback
        # Raises to refuse a task read from the journal (recovered, or a worker's claim)
        # whose skill this node's policy would not admit now: it was admitted elsewhere,
        # or before a restart, against another folder or other settings.
        self.admit_stored = admit_stored
        # Refuses a task read from the journal whose id names another folder here than the
        # one it was accepted for (None: a loop made on its own, which checks nothing).
        self.folders = folders
        self.output_filter = output_filter or OutputFilter(enabled=False)
        self.policy = policy
        self.environment = environment
        self.validator = validator
        self.skills = skills
        self.error_handler = error_handler
        self.events = events
        self.journal = journal
        self.hooks = hooks
        self.optimizer = optimizer
        self.max_output_bytes = max_output_bytes
        self.cancelling = cancelling  # ids the engine cancels (owned by the engine)
        self.contexts: dict[str, Any] = {}  # task id -> the running attempt's SkillContext
        self.closing = closing
        self.finish = finish
        # Whether a task whose skill never started may be given back, not ended (True: it
        # was, a distributed worker's claim); None: every such task ends.
        self.hand_back = hand_back
        # A skill with its environment ready (provisioned now if this node has not made
        # it yet), for a task read from the journal: the engine's own calls do this as they
        # are accepted; a fresh worker's first claim of the skill does it here. None: as is.
        self.ready: Callable[[Skill], Awaitable[Skill]] | None = None
        self.binary = BinaryFields()

    async def run(self, task: ExecutionTask) -> ExecutionResult | None:
        """Run a task that holds a slot through its attempts; release the slot; finish it
        (None: handed back unstarted, ``hand_back``)."""
        skill = task.skill
        history: list[dict[str, Any]] = []
        saved: list[ArtifactRef] = []
        reraise = handed = False
        escaped: BaseException | None = None
        try:
            if skill is None:  # recovered from the journal, or claimed from another node
                skill = await self._stored(task)
            outcome, skill = await self._attempts(task, skill, history, saved)
        except asyncio.CancelledError as exc:
            by_engine = task.task_id in self.cancelling
            if self.closing() and not by_engine:
                raise  # shutting down: the journal keeps the task for the next start
            if by_engine:
                current = asyncio.current_task()
                if current is not None:
                    current.uncancel()
            else:
                reraise = True  # the caller of execute() was cancelled: so is its task
            cancelled = cancelled_info()
            if isinstance(exc, CancelledWithStreams):  # what the script had printed (masked
                # with the end's error, as every ending error is: see engine._finish)
                cancelled = dataclasses.replace(cancelled, details=exc.streams)
            outcome = Outcome(error=cancelled,  # the last attempt's measures
                              metrics=history[-1]["metrics"] if history else {})
        except StartNotWritten as exc:
            handed = self.hand_back is not None and self.hand_back(task)
            outcome = Outcome(error=exc.info)
        except SkillExecError as exc:
            outcome = Outcome(error=exc.info)
        except Exception as exc:  # a bug in the engine itself must still end the task
            log.exception("task %s failed inside the engine", task.task_id)
            outcome = Outcome(error=ExecutionError(f"internal error: {exc!r}",
                                                   code="engine_error").info)
        except BaseException as exc:  # KeyboardInterrupt, SystemExit in the engine's code
            # (a skill's own are its failure: the runners report them). Its task still ends
            # and its waiters wake; then it goes on up.
            escaped = exc
            outcome = Outcome(error=ExecutionError(f"interrupted by {type(exc).__name__}",
                                                   code="engine_error").info)
        finally:
            self.executor.release(task)
        if handed:  # not ended here: another claim runs it (its waiters were told)
            return None
        result = await self.finish(task, outcome, history=history,
                                   artifacts=saved, cached="stale_s" in outcome.metrics)
        if escaped is not None:
            raise escaped
        if reraise:
            raise asyncio.CancelledError
        return result

    async def _stored(self, task: ExecutionTask) -> Skill:
        """The skill of a task read from the journal, checked and made ready here."""
        skill = task.skill = self.skills.get(task.skill_id, task.skill_version)
        # Before its environment is made: installing a folder's requirements runs that
        # folder's code too.
        if self.folders is not None and (refused := self.folders.refusal(
                task.task_id, task.request, skill)) is not None:
            raise refused
        if self.ready is not None:  # its environment, made at its first call here
            skill = task.skill = await self.ready(skill)
        if self.admit_stored is not None:
            self.admit_stored(skill)
        # Under this node's copy of the skill, which is what runs: the submitter's copy
        # (another node's, or before a restart) may have accepted other input.
        task.params = self.validator.validate(skill, task.params)
        return skill

    async def _attempts(self, task: ExecutionTask, skill: Skill, history: list[dict[str, Any]],
                        saved: list[ArtifactRef]) -> tuple[Outcome, Skill]:
        runner = self.runners[task.runner or self.policy.isolation(skill)._value_]
        queue_ms = (time.monotonic() - task.queued_mono) * 1000.0
        req = task.request
        task_deadline = math.inf if req.deadline_s is None else req.created_at + req.deadline_s
        journaled = task.status is TaskStatus.RUNNING  # the fast path wrote attempt 1
        fallback_used = False
        while True:
            if task.task_id in self.cancelling:  # cancelled before it could start
                raise asyncio.CancelledError
            if journaled:
                journaled = False
            else:
                await self._begin(task)
            self.events.status(task)
            outcome = await self._attempt(task, skill, runner, saved, task_deadline)
            decision = self.error_handler.decide(task, skill, outcome.error, deadline=task_deadline,
                                                 fallback_used=fallback_used)
            if outcome.error is not None and decision.error is not None:
                # Keep the error as classified (type, retryable, retry-after).
                outcome = dataclasses.replace(outcome, error=decision.error)
            history.append(entry(task, skill, outcome, decision.describe()))
            if decision.timeout_s is not None:
                task.timeout_s = decision.timeout_s
            if decision.action == "retry":
                self._retrying(task)
                await asyncio.sleep(decision.delay_s)
            elif decision.action == "fallback" and decision.fallback:
                fallback_used = True
                refused = self._refused_fallback(task, decision.fallback)
                if refused is not None:
                    history[-1]["decision"] = refused
                    break
                skill = self.skills.get(decision.fallback)
                runner = self.runners[self.policy.isolation(skill).value]
                task.params = self.validator.validate(skill, task.params)
                self._retrying(task)
            else:
                break
        if len(history) > 1:
            outcome.metrics = over_attempts(outcome.metrics, history, task.started_at)
        outcome.metrics["queue_ms"] = queue_ms
        if outcome.error is not None and outcome.error.type not in _NO_STALE:
            stale = await self._stale(task, skill, outcome, history)
            if stale is not None:
                outcome = stale
        return outcome, skill

    def _refused_fallback(self, task: ExecutionTask, fallback: str) -> str | None:
        """Why ``fallback`` may not run for ``task`` (the decision recorded instead),
        or None: it may."""
        try:
            if self.admit_fallback is None:
                return f"give up: no fallback to {fallback} (not admitted)"
            self.admit_fallback(task, self.skills.get(fallback))
        except SkillExecError as exc:
            return f"give up: fallback to {fallback} refused ({exc.info.code}: {exc.info.message})"
        return None

    async def _begin(self, task: ExecutionTask) -> None:
        task.attempts += 1
        task.status = TaskStatus.RUNNING
        if task.started_at is None:
            task.started_at = time.time()
        elif (event_log := self.events.log) is not None:
            event_log.retry_started(task.task_id, time.time())
        written = self.journal.started(task)
        if not task.request.idempotent:
            # At most once: the journal knows the attempt began before it does.
            try:
                await written
            except SkillExecError as exc:
                if task.attempts > 1:  # it ran before: this attempt's failure is the task's
                    raise
                # Its skill never ran here (whether the start reached the journal or not:
                # a claim that finds it started ends it, never runs it again).
                raise StartNotWritten(exc.message, retryable=True) from exc

    def _retrying(self, task: ExecutionTask) -> None:
        task.status = TaskStatus.RETRYING
        self.journal.retrying(task)
        self.events.status(task)

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
        timeout_s = min(task.timeout_s, self.policy.max_timeout_s)
        # The call's deadline comes first (no clock read without one: the common case).
        cut = task.request.deadline_s is not None and task_deadline - time.time() < timeout_s
        if cut:
            left_s = task_deadline - time.time()
            if left_s <= 0:  # it waited past its deadline (queued): not started at all
                return Outcome(error=not_started(skill, task))
            timeout_s = max(0.001, left_s)
        ctx = self.environment.context(task, deadline=time.time() + timeout_s, saved=saved,
                                       progress=self.output_filter.progress(
                                           task, self.events.progress_sink(task)),
                                       reuse=getattr(runner, "settles_workdirs", False))
        self.contexts[task.task_id] = ctx
        ex = self.policy.effective(skill.execution)
        params = task.params
        if fields := self.binary.of(skill):  # written into this attempt's workspace
            try:
                params = self.binary.write(params, fields, ctx.workdir)
            except BaseException:
                self.contexts.pop(task.task_id, None)
                self.environment.discard(ctx)
                raise
        attempt = Attempt(skill=skill, input_data=build_input(params, task.request.config),
                          context=ctx,
                          limits=AttemptLimits(timeout_s=timeout_s, memory_mb=ex.memory_mb,
                                               cpu_seconds=ex.cpu_seconds,
                                               max_output_bytes=self.max_output_bytes))
        hooks = self.hooks
        try:
            for mw in hooks.before_attempt:
                try:
                    if (pending := mw.before_attempt(task, attempt)) is not None:
                        await pending
                except Exception:
                    hooks.failed(mw, "before_attempt")
            outcome = await runner.run(attempt)
            if (ctx.workdir_made or ctx.quota_error is not None) and (  # quotas: environment
                    over := await self.environment.finish(ctx)) is not None:
                outcome = outcome.failed_with(over)
            outcome = self._measured(task, skill, runner, attempt, outcome, cut)
            # (a scalar output without an error has nothing to mask: no call for it)
            if self.output_filter.enabled and (outcome.error is not None or not isinstance(
                    outcome.output, UNMASKED)):
                outcome = self.output_filter.outcome(task, outcome)
            for mw in hooks.after_attempt:
                try:
                    if (pending := mw.after_attempt(task, attempt, outcome)) is not None:
                        await pending
                except Exception:
                    hooks.failed(mw, "after_attempt")
            return outcome
        finally:
            self.contexts.pop(task.task_id, None)
            self.environment.discard(ctx)  # only if finish() did not run

    def _measured(self, task: ExecutionTask, skill: Skill, runner: Runner, attempt: Attempt,
                  outcome: Outcome, cut: bool) -> Outcome:
        # Attempts holding a slot as this one ended (ExecutionMetrics' concurrency): the
        # engine's to say, so a result reads the same with the monitor on or off.
        metrics = outcome.metrics
        metrics["concurrency"] = self.executor.slots
        if cut and outcome.error is not None and outcome.error.type is ErrorType.TIMEOUT:
            outcome.error = past_deadline(skill, task, outcome.error)
        # The effective limits (after the operator's clamps and the call's own) go on the
        # result; memory and CPU only where a runner enforces them.
        metrics["timeout_s"] = task.timeout_s
        if runner is not self.runners.get("inline"):
            limits = attempt.limits
            metrics["memory_limit_mb"], metrics["cpu_limit_s"] = \
                self.policy.resource_limits(memory_mb=limits.memory_mb,
                                            cpu_seconds=limits.cpu_seconds)
        if outcome.error is None:
            outcome = checked_output(self.validator, skill, outcome,
                                     decoded=getattr(runner, "outputs_json", False))
        return outcome

