"""RetryStrategy: whether, when and how often to try a failed attempt again.

:class:`ExponentialBackoffRetryStrategy` backs off exponentially with jitter (full:
``U(0, cap_n)``; decorrelated: ``U(base, 3 x previous)`` bounded by the cap), with a policy
per ErrorType (may it be retried, how many times at most, a factor on its delays), honours
``Retry-After`` (``details["retry_after"]``), and is overridden per skill by the manifest's
``execution`` block (``retry_on``, ``backoff``) through :meth:`for_skill`. Parameter,
dependency and permission errors are never retried, whatever a policy or manifest says.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

from skillexec.errors import ErrorInfo, ErrorType
from skillexec.reliability.settings import Jitter

__all__ = ["DEFAULT_POLICIES", "NEVER_RETRIED", "ExponentialBackoffRetryStrategy",
           "RetryStrategy", "TypePolicy"]

# A caller's mistake, a missing dependency or a refused permission will fail the same way
# every time: retrying them only wastes capacity.
NEVER_RETRIED = frozenset({ErrorType.PARAMETER, ErrorType.DEPENDENCY, ErrorType.PERMISSION,
                           ErrorType.CANCELLED})


@runtime_checkable
class RetryStrategy(Protocol):
    def should_retry(self, error: ErrorInfo, attempt: int, max_retries: int) -> bool: ...

    def get_delay(self, error: ErrorInfo, attempt: int) -> float: ...

    def get_max_attempts(self, max_retries: int) -> int: ...


@dataclass(frozen=True, slots=True)
class TypePolicy:
    """How one ErrorType is retried: at all, at most how often, with delays scaled by."""

    retry: bool = True
    max_retries: int | None = None  # None: the task's max_retries
    delay_factor: float = 1.0


DEFAULT_POLICIES: Mapping[ErrorType, TypePolicy] = MappingProxyType({
    ErrorType.NETWORK: TypePolicy(),
    ErrorType.TIMEOUT: TypePolicy(),
    ErrorType.EXECUTION: TypePolicy(),      # only when the error itself says retryable
    ErrorType.RESOURCE: TypePolicy(max_retries=2, delay_factor=2.0),  # give it room
    ErrorType.PARAMETER: TypePolicy(retry=False),
    ErrorType.DEPENDENCY: TypePolicy(retry=False),
    ErrorType.PERMISSION: TypePolicy(retry=False),
    ErrorType.CANCELLED: TypePolicy(retry=False),
})


@dataclass(frozen=True, slots=True)
class ExponentialBackoffRetryStrategy:
    """Exponential backoff with jitter: the n-th retry waits at most
    ``min(max_delay_s, base_delay_s x multiplier**(n-1)) x policy.delay_factor``."""

    base_delay_s: float = 0.05
    max_delay_s: float = 5.0
    multiplier: float = 2.0
    jitter: Jitter = "full"
    policies: Mapping[ErrorType, TypePolicy] = field(default_factory=lambda: DEFAULT_POLICIES)
    retry_on: frozenset[str] | None = None  # per skill: only these types or codes
    max_retry_after_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    # -- the interface ------------------------------------------------------------------------

    def should_retry(self, error: ErrorInfo, attempt: int, max_retries: int) -> bool:
        """May attempt number ``attempt`` (1-based, just failed) be followed by another?"""
        if error.type in NEVER_RETRIED:
            return False
        policy = self.policies.get(error.type, TypePolicy())
        if not policy.retry:
            return False
        if self.retry_on is not None:
            if error.type.value not in self.retry_on and error.code not in self.retry_on:
                return False
        elif not error.retryable:
            return False
        limit = max_retries if policy.max_retries is None else min(max_retries,
                                                                   policy.max_retries)
        if attempt > limit:
            return False
        after = _retry_after(error)
        return after is None or after <= self.max_retry_after_s

    def get_delay(self, error: ErrorInfo, attempt: int, previous: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1 = the first retry)."""
        after = _retry_after(error)
        jittered = self._jittered(attempt, previous) * self._factor(error)
        if after is not None:
            # The server said when: never sooner; a little jitter after it spreads the herd.
            return after + min(jittered, self.base_delay_s)
        return jittered

    def get_max_attempts(self, max_retries: int) -> int:
        return max_retries + 1

    # -- helpers ------------------------------------------------------------------------------

    def cap(self, attempt: int) -> float:
        """The most retry number ``attempt`` waits before the policy's factor (monotone)."""
        exp = min(max(0, attempt - 1), 64)
        return min(self.max_delay_s, self.base_delay_s * (self.multiplier ** exp))

    def _factor(self, error: ErrorInfo) -> float:
        return self.policies.get(error.type, TypePolicy()).delay_factor

    def _jittered(self, attempt: int, previous: float | None) -> float:
        cap = self.cap(attempt)
        if self.jitter == "none":
            return cap
        if self.jitter == "decorrelated":
            prev = self.base_delay_s if previous is None else max(previous, self.base_delay_s)
            high = min(self.max_delay_s, prev * 3.0)
            low = min(self.base_delay_s, high)
            return self.rng.uniform(low, high)
        return self.rng.uniform(0.0, cap)

    def for_skill(self, execution: Mapping[str, Any]) -> ExponentialBackoffRetryStrategy:
        """This strategy as a skill's manifest ``execution`` block overrides it.

        ``retry_on``: a list of ErrorType values or codes, the only ones retried (the never
        retried types stay never retried). ``backoff``: ``{base_s, max_s, multiplier,
        jitter}``, or ``"none"`` / ``"constant"``.
        """
        changes: dict[str, Any] = {}
        retry_on = execution.get("retry_on")
        if isinstance(retry_on, list | tuple) and all(isinstance(x, str) for x in retry_on):
            changes["retry_on"] = frozenset(retry_on)
        backoff = execution.get("backoff")
        if backoff == "none":
            changes.update(base_delay_s=0.0, jitter="none")
        elif backoff == "constant":
            changes.update(multiplier=1.0, jitter="none")
        elif isinstance(backoff, Mapping):
            for key, name in (("base_s", "base_delay_s"), ("max_s", "max_delay_s"),
                              ("multiplier", "multiplier")):
                value = backoff.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                    changes[name] = float(value)
            if backoff.get("jitter") in ("full", "decorrelated", "none"):
                changes["jitter"] = backoff["jitter"]
        return replace(self, **changes) if changes else self


def _retry_after(error: ErrorInfo) -> float | None:
    value = error.details.get("retry_after")
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return None
