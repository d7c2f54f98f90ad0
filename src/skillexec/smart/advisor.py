"""Advisor: given a request, its skill's statistics and the prediction, choose a strategy.

The engine asks its advisor once per call (when adaptive optimization is on) and applies
what comes back within hard bounds: a timeout within the configured range, retries no more
than the call allowed, a runner only among those the operator listed. An advisor therefore
can make a call faster or cheaper, never less safe.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from skillexec.skills.model import Skill
from skillexec.smart.prediction import Features, Prediction
from skillexec.smart.settings import SmartSettings

if TYPE_CHECKING:
    from skillexec.monitoring.stats import SkillSnapshot

__all__ = ["AdviceRequest", "Advisor", "StatisticalAdvisor", "Strategy"]

# What a runner costs per attempt here (bench_isolation.py), to weigh against a call's length.
_RUNNER_COST_MS = {"inline": 0.05, "process": 6.0, "sandbox": 7.0}
_STRENGTH = ("inline", "process", "sandbox")


@dataclass(frozen=True, slots=True)
class AdviceRequest:
    skill: Skill
    params: Mapping[str, Any]
    features: Features
    prediction: Prediction | None
    timeout_s: float  # what the call would get without advice
    max_retries: int
    isolation: str  # the runner it would use
    runners: tuple[str, ...]  # the runners the operator lets an advisor choose between
    _stats: Callable[[], SkillSnapshot | None] = field(default=lambda: None, repr=False)

    def stats(self) -> SkillSnapshot | None:
        """The monitor's live statistics of this skill (computed on demand)."""
        return self._stats()


@dataclass(frozen=True, slots=True)
class Strategy:
    """What to do with one call; None leaves a setting as it was."""

    timeout_s: float | None = None
    max_retries: int | None = None
    runner: str | None = None
    order_s: float = 0.0  # seconds to put the call back within its priority
    reason: str = ""
    source: str = "statistical"

    def to_dict(self) -> dict[str, Any]:
        return {"timeout_s": self.timeout_s, "max_retries": self.max_retries,
                "runner": self.runner, "order_s": self.order_s, "reason": self.reason,
                "source": self.source}


class Advisor(Protocol):
    async def advise(self, request: AdviceRequest) -> Strategy:
        """The strategy for this call. Must be quick: it runs before the call is queued."""


class StatisticalAdvisor:
    """The default: rules over the prediction, no I/O."""

    def __init__(self, settings: SmartSettings | None = None) -> None:
        self.settings = settings or SmartSettings()

    async def advise(self, request: AdviceRequest) -> Strategy:
        return self.decide(request)

    def decide(self, request: AdviceRequest) -> Strategy:
        s = self.settings
        p = request.prediction
        if p is None:
            return Strategy(reason="no history yet")
        reasons = []
        timeout = retries = runner = None
        order = min(s.order_bound_s, p.expected_ms / 1000.0 * s.order_weight) \
            if s.shortest_first else 0.0
        known = p.samples >= s.min_samples
        if known and s.adapt_timeouts:
            timeout = min(s.max_timeout_s, max(s.min_timeout_s,
                                               p.p99_ms / 1000.0 * s.timeout_margin))
            reasons.append(f"timeout {timeout:.3g} s = p99 {p.p99_ms:.0f} ms x "
                           f"{s.timeout_margin:g}")
        if known and s.adapt_retries and p.p_fail >= s.fail_retry_cap \
                and request.max_retries > 1:
            retries = 1
            reasons.append(f"p_fail {p.p_fail:.2f}: one retry at most")
        if known and request.runners and request.skill.execution.isolation is None:
            runner = choose_runner(p.expected_ms, request.runners)
            if runner != request.isolation:
                reasons.append(f"runner {runner} for an expected {p.expected_ms:.0f} ms")
            else:
                runner = None
        return Strategy(timeout_s=timeout, max_retries=retries, runner=runner, order_s=order,
                        reason="; ".join(reasons))


def choose_runner(expected_ms: float, allowed: tuple[str, ...]) -> str:
    """The strongest allowed runner, unless its cost would exceed 10% of the call: then the
    strongest one that does not (the cheapest if none does)."""
    ranked = sorted(allowed, key=_STRENGTH.index, reverse=True)
    for name in ranked:
        if _RUNNER_COST_MS[name] <= 0.1 * expected_ms:
            return name
    return ranked[-1]
