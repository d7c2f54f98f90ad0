"""Forecast values: what the SmartExecutor predicts of a call, and from what.

Plain values, apart from :mod:`skillexec.smart` so that a task can carry them without the
task module depending on the SmartExecutor.
"""

from __future__ import annotations

from typing import Any, NamedTuple

__all__ = ["Features", "Prediction"]


class Features(NamedTuple):
    payload_bytes: int
    key: str  # the parameter class: enum-like values, "" when the skill has none

    def to_dict(self) -> dict[str, Any]:
        return {"payload_bytes": self.payload_bytes, "class": self.key}


class Prediction(NamedTuple):
    """A call's expected duration (ms) and failure probability, and what they rest on."""

    expected_ms: float
    p95_ms: float
    p99_ms: float
    p_fail: float
    samples: float  # effective observations behind it (forgetting makes it fractional)
    basis: str  # "class": this parameter class; "skill": all calls of the skill
    baseline_ms: float  # the skill's plain mean duration: what a naive predictor says

    def to_dict(self) -> dict[str, Any]:
        return {"expected_ms": round(self.expected_ms, 3), "p95_ms": round(self.p95_ms, 3),
                "p99_ms": round(self.p99_ms, 3), "p_fail": round(self.p_fail, 4),
                "samples": round(self.samples, 1), "basis": self.basis,
                "baseline_ms": round(self.baseline_ms, 3)}
