"""Helpers for the reliability tests: drive ErrorHandler.decide like the engine does."""

from __future__ import annotations

import random
import time
from dataclasses import replace
from typing import Any

from skillexec.errors import ErrorInfo, ErrorType
from skillexec.reliability.classify import ErrorClassifier
from skillexec.reliability.handler import ErrorHandler
from skillexec.reliability.retry import ExponentialBackoffRetryStrategy
from skillexec.reliability.settings import ReliabilitySettings
from skillexec.skills.decorator import skill, skill_of
from skillexec.task import ExecutionTask, Request


@skill(id="flaky")
def _flaky(x: int = 0) -> int:
    return x


def decide_chain(*, timeout: float, retries: int, base: float, seed: int,
                 **overrides: Any) -> tuple[float, int]:
    """A task whose every attempt times out instantly: the sum of the delays decided."""
    strategy = ExponentialBackoffRetryStrategy(base_delay_s=base, max_delay_s=10 * base + 0.01,
                                               rng=random.Random(seed))
    handler = ErrorHandler(classifier=ErrorClassifier(), retry=strategy,
                           settings=ReliabilitySettings(breaker_enabled=False,
                                                        budget_enabled=False, **overrides))
    sk = skill_of(_flaky)
    task = ExecutionTask.of("t", Request(sk.id, sk.version, {}, {}, 5, timeout, retries, False,
                                         time.time()), skill=sk)
    start = time.time()
    deadline = start + timeout * (retries + 1)
    err = ErrorInfo(ErrorType.NETWORK, "connection_failed", "x", retryable=True)
    total = 0.0
    n = 0
    now = start
    while True:
        n += 1
        task.attempts = n
        d = handler.decide(task, sk, err, deadline=deadline - (now - start),
                           fallback_used=False)
        if d.action != "retry":
            return total, n
        total += d.delay_s
        now += d.delay_s


def with_fallback(sk: Any, fallback: str) -> Any:
    return replace(sk, execution=replace(sk.execution, fallback=fallback))
