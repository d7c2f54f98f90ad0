"""Usage accounting: calls, CPU seconds, wall time and peak memory per skill and principal.

Kept as plain lists updated in place (this runs once per call, on the hot path); read as
dicts through :meth:`UsageLedger.snapshot`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["UsageLedger"]

# fields of one account: calls, failures, cached, cpu_ms, wall_ms, peak_memory_mb (or -1),
# refusals, cancellations
_CALLS, _FAILURES, _CACHED, _CPU_MS, _WALL_MS, _PEAK_MB, _REFUSALS, _CANCELLED = range(8)


def _new() -> list[float]:
    return [0, 0, 0, 0.0, 0.0, -1.0, 0, 0]


def _add(acc: list[float], metrics: Mapping[str, Any], ok: bool, cached: bool,
         refused: bool, cancelled: bool) -> None:
    acc[_CALLS] += 1
    # A call refused before it ran (invalid parameters, unknown skill, rate limited) is a
    # refusal, and one its caller withdrew a cancellation, not a failure: counted as
    # failures, they made a skill look broken when nothing was wrong with how it runs.
    if refused:
        acc[_REFUSALS] += 1
    elif cancelled:
        acc[_CANCELLED] += 1
    elif not ok:
        acc[_FAILURES] += 1
    if cached:
        acc[_CACHED] += 1
    cpu = metrics.get("cpu_ms")
    if cpu:
        acc[_CPU_MS] += cpu
    wall = metrics.get("wall_ms")
    if wall:
        acc[_WALL_MS] += wall
    mem = metrics.get("max_rss_mb")
    if mem is not None and mem > acc[_PEAK_MB]:
        acc[_PEAK_MB] = float(mem)


def _as_dict(acc: list[float]) -> dict[str, Any]:
    return {"calls": int(acc[_CALLS]), "failures": int(acc[_FAILURES]),
            "refusals": int(acc[_REFUSALS]), "cancellations": int(acc[_CANCELLED]),
            "cached": int(acc[_CACHED]),
            "cpu_seconds": round(acc[_CPU_MS] / 1000.0, 6),
            "wall_seconds": round(acc[_WALL_MS] / 1000.0, 6),
            "peak_memory_mb": None if acc[_PEAK_MB] < 0 else acc[_PEAK_MB]}


OTHER = "other"


class UsageLedger:
    """Bounded: past ``max_keys`` skills or principals, the rest are counted as "other"."""

    def __init__(self, *, max_keys: int = 1000) -> None:
        self._skills: dict[str, list[float]] = {}
        self._principals: dict[str, list[float]] = {}
        self._max = max_keys

    def record(self, skill_id: str, principal: str | None, metrics: Mapping[str, Any], *,
               ok: bool, cached: bool, refused: bool = False,
               cancelled: bool = False) -> None:
        acc = self._skills.get(skill_id)
        if acc is None:
            acc = self._account(self._skills, skill_id)
        _add(acc, metrics, ok, cached, refused, cancelled)
        if principal is not None:
            pacc = self._principals.get(principal)
            if pacc is None:
                pacc = self._account(self._principals, principal)
            _add(pacc, metrics, ok, cached, refused, cancelled)

    def _account(self, accounts: dict[str, list[float]], key: str) -> list[float]:
        if len(accounts) >= self._max:
            key = OTHER
            if key in accounts:
                return accounts[key]
        acc = accounts[key] = _new()
        return acc

    def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{"skills": {id: usage}, "principals": {name: usage}}``; each usage is
        ``{calls, failures, refusals, cancellations, cached, cpu_seconds, wall_seconds,
        peak_memory_mb}``: ``failures`` the calls that ran and did not succeed,
        ``refusals`` those refused before they ran (status ``rejected``),
        ``cancellations`` those cancelled (status ``cancelled``)."""
        return {"skills": {k: _as_dict(v) for k, v in sorted(self._skills.items())},
                "principals": {k: _as_dict(v) for k, v in sorted(self._principals.items())}}
