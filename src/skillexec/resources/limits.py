"""Resource limits as configuration: frozen, with defaults, in the units their names say.

Three layers decide a call's limits: the engine's defaults (``ResourceLimits.call``), the
skill's manifest (``execution.memory_mb``, ``cpu_seconds``, ``timeout``), which replaces a
default, and the call's own ``limits=``, which can only tighten what the first two gave.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["CallLimits", "PressureSettings", "ResourceLimits", "tighter"]


def tighter(a: float | None, b: float | None) -> float | None:
    """The stricter of two limits, where None means no limit."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@dataclass(frozen=True, slots=True)
class CallLimits:
    """Limits of one call. None: no limit at this layer."""

    memory_mb: int | None = None
    cpu_seconds: float | None = None
    wall_s: float | None = None
    max_output_bytes: int | None = None

    def over(self, base: CallLimits) -> CallLimits:
        """These limits laid over ``base``: a value here replaces the base's."""
        return CallLimits(
            memory_mb=self.memory_mb if self.memory_mb is not None else base.memory_mb,
            cpu_seconds=self.cpu_seconds if self.cpu_seconds is not None else base.cpu_seconds,
            wall_s=self.wall_s if self.wall_s is not None else base.wall_s,
            max_output_bytes=(self.max_output_bytes if self.max_output_bytes is not None
                              else base.max_output_bytes))

    def tighten(self, request: CallLimits) -> CallLimits:
        """``request`` applied to these limits: each value can only go down, never up."""
        mem = tighter(self.memory_mb, request.memory_mb)
        out = tighter(self.max_output_bytes, request.max_output_bytes)
        return CallLimits(memory_mb=None if mem is None else int(mem),
                          cpu_seconds=tighter(self.cpu_seconds, request.cpu_seconds),
                          wall_s=tighter(self.wall_s, request.wall_s),
                          max_output_bytes=None if out is None else int(out))

    @classmethod
    def of(cls, value: CallLimits | Mapping[str, float | int | None] | None) -> CallLimits:
        """``value`` checked: a mapping of the four limits, each a positive finite number
        or None (ValueError naming the first that is not)."""
        if value is None:
            return _NO_LIMITS
        if isinstance(value, CallLimits):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"limits must be a mapping of {', '.join(_KINDS)}; got "
                             f"{type(value).__name__}")
        unknown = [str(k) for k in value if k not in _KINDS]
        if unknown:
            raise ValueError(f"unknown limits: {', '.join(sorted(unknown))} (known: "
                             f"{', '.join(_KINDS)})")
        mem, cpu, wall, out = (_limit(value, k) for k in _KINDS)
        return cls(memory_mb=None if mem is None else int(mem), cpu_seconds=cpu,
                   wall_s=wall, max_output_bytes=None if out is None else int(out))

    @property
    def empty(self) -> bool:
        return self == _NO_LIMITS


_NO_LIMITS = CallLimits()
_KINDS = ("memory_mb", "cpu_seconds", "wall_s", "max_output_bytes")


def _limit(value: Mapping[str, object], kind: str) -> float | None:
    """One limit of a call's ``limits=``: None, or a positive finite number. A bool is not a
    number here, and a string is not parsed: ``limits`` come from code, not a command line."""
    v = value.get(kind)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"limit {kind} must be a positive number; got {v!r}")
    if kind in ("memory_mb", "max_output_bytes") and v != int(v):
        raise ValueError(f"limit {kind} must be a whole number; got {v!r}")
    return float(v)


@dataclass(frozen=True, slots=True)
class PressureSettings:
    """Admission under system pressure.

    While memory or CPU use is at or above its threshold, tasks with a priority below
    ``min_priority`` wait in the queue (``action="wait"``) or are refused with a
    ``resource_error`` carrying ``details.retry_after_s`` (``action="refuse"``); tasks at
    ``min_priority`` or above still run. ``memory_threshold_mb``, when set, is an absolute
    bound on used memory that applies as well as the percentage. CPU use is the mean of the
    last ``cpu_window_samples`` samples, so that one busy moment does not flip admission.
    Pressure ends when use falls ``release_margin_pct`` (points) / ``release_margin_mb``
    below the thresholds, so admission does not flap at the line.
    The CPU threshold is off unless set (e.g. 80.0): an engine's own work saturates the CPU
    (one CPU-bound skill is 50% of a 2-core machine) and would throttle itself.
    """

    enabled: bool = True
    memory_threshold_pct: float = 80.0
    memory_threshold_mb: float | None = None
    cpu_threshold_pct: float | None = None
    cpu_window_samples: int = 4
    sample_interval_s: float = 0.5
    release_margin_pct: float = 2.0
    release_margin_mb: float = 128.0
    min_priority: int = 5
    action: Literal["wait", "refuse"] = "wait"
    retry_after_s: float = 1.0


@dataclass(frozen=True, slots=True)
class ResourceLimits:
    """What may run at once, how fast, how much may wait, and each call's limits.

    - ``max_concurrency``: tasks running at once, all skills (None: the engine's setting).
    - ``skill_concurrency_default``: the bulkhead of every skill whose manifest gives no
      ``execution.concurrency``; ``skill_concurrency`` overrides it (and the manifest) by id.
    - ``principal_concurrency``: tasks running at once per principal.
    - ``principal_rate_per_s`` / ``principal_burst``: a token bucket per principal; a call
      over the rate is refused with ``details.retry_after_s``.
    - ``queue_capacity_by_priority``: tasks that may wait at each priority (0-9).
    - ``call``: default limits of each call (a manifest's values replace these).
    """

    max_concurrency: int | None = None
    skill_concurrency_default: int | None = None
    skill_concurrency: Mapping[str, int] = field(default_factory=dict)
    principal_concurrency: int | None = None
    principal_rate_per_s: float | None = None
    principal_burst: int | None = None
    queue_capacity_by_priority: Mapping[int, int] = field(default_factory=dict)
    call: CallLimits = field(default_factory=CallLimits)
