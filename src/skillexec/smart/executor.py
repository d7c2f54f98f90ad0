"""SmartExecutor: predicts every call before it runs, learns from how it ended, and — when
adaptive optimization is on — lets its advisor choose the call's timeout, retries, place in
the queue and runner.

It is middleware: ``on_submit`` predicts (and advises) before the task is queued,
``on_finish`` learns. With adaptive optimization off its whole cost is one prediction and one
observation per call, a few microseconds.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

from skillexec.middleware import Middleware
from skillexec.skills.model import Skill
from skillexec.smart.adaptive import ConcurrencyTuner
from skillexec.smart.advisor import AdviceRequest, Advisor, StatisticalAdvisor, Strategy
from skillexec.smart.prediction import Features, Prediction, Predictor, features_of
from skillexec.smart.settings import SmartSettings
from skillexec.task import ExecutionResult, ExecutionTask, TaskStatus

if TYPE_CHECKING:
    from skillexec.services import Services

__all__ = ["SmartExecutor"]


class _Forecast(NamedTuple):
    """What the SmartExecutor keeps on a task (``task.advice``) from admission to the end."""

    features: Features
    prediction: Prediction | None

log = logging.getLogger("skillexec.smart")

_NOT_LEARNED = frozenset({TaskStatus.CANCELLED, TaskStatus.REJECTED})
_SUCCEEDED = TaskStatus.SUCCEEDED
_BUCKET_S = 60.0


class _Accuracy:
    """Mean absolute error of predicted durations, per skill and per minute, against the
    per-skill-mean baseline on the same calls."""

    def __init__(self, *, minutes: int = 180, max_skills: int = 10_000) -> None:
        self.by_skill: dict[str, list[float]] = {}  # [n, abs err, baseline abs err]
        self.timeline: deque[list[float]] = deque(maxlen=minutes)  # [t0, n, err, base err]
        self._max_skills = max_skills
        self._bucket: list[float] = [0.0, 0.0, 0.0, 0.0]
        self._bucket_end = 0.0

    def add(self, skill_id: str, p: Prediction, actual_ms: float, now: float) -> None:
        err = abs(p.expected_ms - actual_ms)
        base = abs(p.baseline_ms - actual_ms)
        row = self.by_skill.get(skill_id)
        if row is None:
            if len(self.by_skill) >= self._max_skills:
                return
            row = self.by_skill[skill_id] = [0.0, 0.0, 0.0]
        row[0] += 1
        row[1] += err
        row[2] += base
        b = self._bucket
        if now >= self._bucket_end:  # a new minute (or a clock that went back)
            t0 = now - now % _BUCKET_S
            b = self._bucket = [t0, 0.0, 0.0, 0.0]
            self._bucket_end = t0 + _BUCKET_S
            self.timeline.append(b)
        b[1] += 1
        b[2] += err
        b[3] += base

    def report(self) -> dict[str, Any]:
        n = sum(r[0] for r in self.by_skill.values())
        err = sum(r[1] for r in self.by_skill.values())
        base = sum(r[2] for r in self.by_skill.values())
        return {
            "calls": int(n),
            "mae_ms": err / n if n else None,
            "baseline_mae_ms": base / n if n else None,
            "by_skill": {k: {"calls": int(r[0]), "mae_ms": r[1] / r[0],
                             "baseline_mae_ms": r[2] / r[0]}
                         for k, r in self.by_skill.items() if r[0]},
            "over_time": [{"minute": b[0], "calls": int(b[1]), "mae_ms": b[2] / b[1],
                           "baseline_mae_ms": b[3] / b[1]} for b in self.timeline if b[1]],
        }


class SmartExecutor(Middleware):
    def __init__(self, services: Services, settings: SmartSettings | None = None, *,
                 advisor: Advisor | None = None,
                 skill_stats: Callable[[str], Any] = lambda skill_id: None) -> None:
        self.services = services
        self._skill_stats = skill_stats  # the monitor's live statistics of a skill
        self.settings = s = settings or SmartSettings()
        self.enabled = s.enabled
        self.adaptive = s.enabled and s.adaptive
        self.predictor = Predictor(half_life_calls=s.half_life_calls,
                                   max_keys=s.max_keys_per_skill)
        self.advisor: Advisor = advisor or _default_advisor(s)
        self._accuracy = _Accuracy()
        self.tuner = (ConcurrencyTuner(services.resources, s, journal=self._journal)
                      if self.adaptive and s.adapt_concurrency else None)
        self._timeouts: dict[str, float] = {}  # the adaptive timeout last recorded, per skill
        self.counters = {"advised": 0, "timeouts_set": 0,
                         "retries_capped": 0, "runners_chosen": 0, "reordered": 0}

    # -- public ------------------------------------------------------------------------------

    def predict(self, skill_id: str, params: Mapping[str, Any] | None = None, *,
                version: str | None = None) -> Prediction | None:
        """What a call of this skill with these parameters is expected to cost (None: no
        history yet). Parameters are validated as a call's would be."""
        skill = self.services.skills.get(skill_id, version)
        validated = self.services.validator.validate(skill, params)
        return self.predictor.predict(skill.id, features_of(skill, validated))

    def accuracy(self) -> dict[str, Any]:
        """Mean absolute error of the predicted durations so far (and per minute), next to
        what predicting each skill's mean duration would have scored."""
        return self._accuracy.report()

    def stats(self) -> dict[str, Any]:
        return {**self.counters, "skills": len(self.predictor),
                "concurrency": self.tuner.snapshot() if self.tuner else {},
                "timeouts": dict(self._timeouts),
                "advisor": getattr(self.advisor, "counters", None)}

    # -- hooks -------------------------------------------------------------------------------

    def on_submit(self, task: ExecutionTask, skill: Skill) -> Awaitable[None] | None:
        if not self.enabled:
            return None
        features = features_of(skill, task.params)
        p = self.predictor.predict(skill.id, features)
        task.advice = _Forecast(features, p)
        if p is not None:
            task.predicted_ms, task.p_fail = p.expected_ms, p.p_fail
        if p is None or not self.adaptive:
            return None
        return self._advise(task, skill, features, p)  # only advice is awaited

    async def _advise(self, task: ExecutionTask, skill: Skill, features: Features,
                      p: Prediction) -> None:
        stats = self._skill_stats
        request = AdviceRequest(
            skill=skill, params=task.params, features=features, prediction=p,
            timeout_s=task.timeout_s, max_retries=task.max_retries,
            isolation=self.services.isolation_of(skill), runners=self.settings.runners,
            _stats=lambda: stats(skill.id))
        try:
            strategy = await self.advisor.advise(request)
        except Exception:  # advice is optional: a broken advisor must not fail calls
            log.exception("advisor %r failed; the call runs unadvised", self.advisor)
            return
        self.counters["advised"] += 1
        self._apply(task, skill, strategy)

    def _apply(self, task: ExecutionTask, skill: Skill, strategy: Strategy) -> None:
        s = self.settings
        if strategy.timeout_s is not None and not task.timeout_fixed:
            timeout = min(s.max_timeout_s, max(s.min_timeout_s, strategy.timeout_s))
            task.timeout_s = timeout
            self.counters["timeouts_set"] += 1
            last = self._timeouts.get(skill.id)
            if last is None or abs(timeout - last) > 0.25 * last:
                self._timeouts[skill.id] = timeout
                self._journal("adaptive", {"skill": skill.id, "setting": "timeout_s",
                                           "old": last, "new": round(timeout, 3),
                                           "reason": strategy.reason, "source": strategy.source})
        if strategy.max_retries is not None and not task.retries_fixed \
                and strategy.max_retries < task.max_retries:
            task.max_retries = strategy.max_retries
            self.counters["retries_capped"] += 1
        if strategy.order_s > 0 and s.shortest_first:
            task.order_s = min(s.order_bound_s, strategy.order_s)
            self.counters["reordered"] += 1
        if strategy.runner is not None and strategy.runner in s.runners \
                and skill.execution.isolation is None \
                and self.services.runner_allows(strategy.runner, skill):
            task.runner = strategy.runner
            self.counters["runners_chosen"] += 1

    def on_finish(self, task: ExecutionTask, result: ExecutionResult) -> None:
        if not self.enabled or result.cached or result.status in _NOT_LEARNED:
            return
        skill = task.skill
        metrics = result.metrics
        if skill is None or "shared" in metrics:
            return
        # Predictions are per attempt; a retried task's wall_ms covers all of its attempts.
        wall = metrics.get("last_attempt_wall_ms", metrics.get("wall_ms"))
        forecast = task.advice
        p = features = None
        if isinstance(forecast, _Forecast):
            features, p = forecast
        if p is not None and wall is not None:
            self._accuracy.add(skill.id, p, wall, time.time())
        if features is None:  # recovered from the journal: never predicted
            features = features_of(skill, task.params)
        self.predictor.observe(skill.id, features, wall,
                               result.status is not _SUCCEEDED)
        if self.tuner is not None:
            self.tuner.observe(p, skill, result)

    def _journal(self, kind: str, data: dict[str, Any]) -> None:
        log.info("adaptive: %s", data)
        self.services.journal_event(kind, data)  # fire-and-forget: never raises

    async def close(self) -> None:
        closer = getattr(self.advisor, "close", None)
        if closer is not None:
            await closer()


def _default_advisor(s: SmartSettings) -> Advisor:
    statistical = StatisticalAdvisor(s)
    if s.advisor != "llm" or not s.adaptive:
        return statistical
    from skillexec.smart.llm import LLMAdvisor
    assert s.llm_base_url and s.llm_model  # checked by SmartSettings
    return LLMAdvisor(base_url=s.llm_base_url, model=s.llm_model,
                      api_key=os.environ.get(s.llm_api_key_env), budget_s=s.llm_budget_s,
                      ttl_s=s.llm_ttl_s, settings=s, fallback=statistical)
