"""RetryStrategy: whether, when and how often to try a failed attempt again."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Protocol

from skillexec.errors import ErrorInfo, ErrorType

__all__ = ["NEVER_RETRIED", "ExponentialBackoffRetryStrategy", "RetryStrategy"]

# A caller's mistake, a missing dependency or a refused permission will fail the same way
# every time: retrying them only wastes capacity.
NEVER_RETRIED = frozenset({ErrorType.PARAMETER, ErrorType.DEPENDENCY, ErrorType.PERMISSION,
                           ErrorType.CANCELLED})


class RetryStrategy(Protocol):
    def should_retry(self, error: ErrorInfo, attempt: int, max_retries: int) -> bool: ...

    def get_delay(self, error: ErrorInfo, attempt: int) -> float: ...

    def get_max_attempts(self, max_retries: int) -> int: ...


@dataclass(frozen=True, slots=True)
class ExponentialBackoffRetryStrategy:
    """Full-jitter exponential backoff: delay ~ U(0, min(cap, base * 2**(attempt-1)))."""

    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    def should_retry(self, error: ErrorInfo, attempt: int, max_retries: int) -> bool:
        return (error.retryable and error.type not in NEVER_RETRIED
                and attempt <= max_retries)

    def get_delay(self, error: ErrorInfo, attempt: int) -> float:
        retry_after = error.details.get("retry_after")
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return min(float(retry_after), self.max_delay_s)
        cap = min(self.max_delay_s, self.base_delay_s * (2 ** max(0, attempt - 1)))
        return random.uniform(0.0, cap)

    def get_max_attempts(self, max_retries: int) -> int:
        return max_retries + 1
