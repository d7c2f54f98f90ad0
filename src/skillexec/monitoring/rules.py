"""Alert rules: which metric, compared how, over what window, how loud, how often.

Metrics a rule may watch (``subject`` is what an alert is about: a skill, or "engine"):

- ``error_rate``        per skill: failed / finished in the window (needs ``min_calls``)
- ``p95_timeout_ratio`` per skill: p95 execution time in the window / the skill's timeout
- ``queue_depth``       engine: tasks waiting now
- ``queue_wait_p95_ms`` engine: p95 queue wait in the window, milliseconds
- ``system_memory_percent``, ``system_cpu_percent``  the machine, now
- ``circuit_open``      per skill: 1 while its circuit breaker is open (this engine's
  breakers live; other engines' from journal events of kind "breaker", data ``{skill, to}``)
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["METRICS", "Alert", "AlertRule", "default_rules"]

Severity = Literal["info", "warning", "critical"]

METRICS = frozenset({"error_rate", "p95_timeout_ratio", "queue_depth", "queue_wait_p95_ms",
                     "system_memory_percent", "system_cpu_percent", "circuit_open"})

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne}


@dataclass(frozen=True, slots=True)
class AlertRule:
    name: str
    metric: str
    condition: str = ">"  # one of > >= < <= == !=
    threshold: float = 0.0
    window_s: float = 300.0  # for windowed metrics (error_rate, p95, queue wait)
    severity: Severity = "warning"
    cooldown_s: float = 600.0  # the same alert (rule, subject) is not sent again before
    min_calls: int = 10  # error_rate / p95: no verdict on fewer finished calls
    skill: str | None = None  # only this skill (per-skill metrics); None: every skill

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            raise ValueError(f"alert rule {self.name!r}: unknown metric {self.metric!r} "
                             f"(known: {', '.join(sorted(METRICS))})")
        if self.condition not in _OPS:
            raise ValueError(f"alert rule {self.name!r}: unknown condition "
                             f"{self.condition!r}")

    def breached(self, value: float) -> bool:
        return _OPS[self.condition](value, self.threshold)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertRule:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Alert:
    rule: str
    metric: str
    subject: str
    value: float
    threshold: float
    condition: str
    severity: str
    at: float
    state: Literal["firing", "resolved"] = "firing"
    message: str = ""
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject)

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "metric": self.metric, "subject": self.subject,
                "value": self.value, "threshold": self.threshold,
                "condition": self.condition, "severity": self.severity, "at": self.at,
                "state": self.state, "message": self.message, "labels": dict(self.labels)}


def default_rules() -> tuple[AlertRule, ...]:
    return (
        AlertRule("skill_error_rate", "error_rate", ">", 0.2, window_s=300,
                  severity="warning"),
        AlertRule("skill_near_timeout", "p95_timeout_ratio", ">", 0.8, window_s=300,
                  severity="warning"),
        AlertRule("queue_depth", "queue_depth", ">", 1000, severity="warning"),
        AlertRule("queue_wait", "queue_wait_p95_ms", ">", 5000, window_s=300,
                  severity="warning"),
        AlertRule("system_memory", "system_memory_percent", ">", 80, severity="warning"),
        AlertRule("system_cpu", "system_cpu_percent", ">", 80, severity="warning"),
        AlertRule("circuit_opened", "circuit_open", ">=", 1, severity="critical",
                  cooldown_s=60),
    )
