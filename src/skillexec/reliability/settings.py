"""ReliabilitySettings: the knobs of retries, the retry budget and the circuit breakers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

__all__ = ["Jitter", "ReliabilitySettings"]

Jitter = Literal["full", "decorrelated", "none"]


@dataclass(frozen=True, slots=True)
class ReliabilitySettings:
    """Defaults are for a service: a dependency that fails half its calls over 30 s opens."""

    # circuit breaker, per skill
    breaker_enabled: bool = True
    breaker_window_s: float = 30.0        # sliding window the failure rate is measured over
    breaker_failure_rate: float = 0.5     # open at or above this share of failed attempts
    breaker_min_calls: int = 20           # ... once the window holds at least this many
    breaker_consecutive_failures: int = 10  # or open after this many failures in a row
                                          # (a dependency that just went down is cut off
                                          # at once; 0: off)
    breaker_open_s: float = 5.0           # how long it stays open before half-open
    breaker_half_open_probes: int = 3     # probes let through; all must succeed to close
    # retry budget, per skill: a token bucket
    budget_enabled: bool = True
    budget_ratio: float = 0.3             # tokens each first attempt deposits (retry = 1)
    budget_max_tokens: float = 50.0       # bucket size; it starts full (a reserve for bursts)
    # backoff
    jitter: Jitter = "full"
    max_retry_after_s: float = 60.0       # a Retry-After longer than this: give up instead
    grow_timeout: float = 1.0             # next timeout after a timeout_error: x this
                                          # (1.0: off; never past the call's deadline)
    # dead letters
    dead_letters: bool = True

    def __post_init__(self) -> None:
        if not 0.0 < self.breaker_failure_rate <= 1.0:
            raise ValueError("breaker_failure_rate must be in (0, 1]")
        if self.breaker_window_s <= 0 or self.breaker_open_s < 0:
            raise ValueError("breaker_window_s must be > 0 and breaker_open_s >= 0")
        if self.breaker_consecutive_failures < 0:
            raise ValueError("breaker_consecutive_failures must be >= 0 (0: off)")
        if self.breaker_min_calls < 1 or self.breaker_half_open_probes < 1:
            raise ValueError("breaker_min_calls and breaker_half_open_probes must be >= 1")
        if self.budget_ratio < 0 or self.budget_max_tokens < 1:
            raise ValueError("budget_ratio must be >= 0 and budget_max_tokens >= 1")
        if self.jitter not in ("full", "decorrelated", "none"):
            raise ValueError("jitter must be 'full', 'decorrelated' or 'none'")
        if self.grow_timeout < 1.0:
            raise ValueError("grow_timeout must be >= 1.0")

    @classmethod
    def from_config(cls, config: Any) -> ReliabilitySettings:
        """``config.reliability``: EngineConfig's typed sub-model (or a mapping of its keys,
        where an unknown key is an error that names it), else the defaults."""
        raw = getattr(config, "reliability", None)
        if isinstance(raw, cls):
            return raw
        if isinstance(raw, Mapping):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(raw) - known)
            if unknown:
                raise ValueError(f"reliability: unknown setting(s) {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(known))}")
            return cls(**raw)
        return cls()
