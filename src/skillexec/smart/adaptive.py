"""ConcurrencyTuner: per-skill concurrency by AIMD, from latency and error feedback.

TCP's rule, per skill: after a limit's worth of calls that end well, one more slot; a call
that signals congestion (it timed out, was refused for resources, or took
``latency_factor`` times its predicted duration) halves it, at most once per cooldown so
that one burst of slow calls counts as one signal. The limit stays within
[``concurrency_min``, the skill's configured limit or ``concurrency_max``]. Every change is
journaled as an ``adaptive`` event with its reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from skillexec.errors import ErrorType
from skillexec.forecast import Prediction
from skillexec.resources.manager import ResourceManager
from skillexec.skills.model import Skill
from skillexec.task import ExecutionResult, TaskStatus

__all__ = ["ConcurrencyTuner", "TunerSettings"]

log = logging.getLogger("skillexec.adaptive")

Journal = Callable[[str, dict[str, Any]], object]


class TunerSettings(Protocol):
    """What the tuner reads of the ``[smart]`` section (SmartSettings is one)."""

    @property
    def concurrency_min(self) -> int: ...

    @property
    def concurrency_max(self) -> int: ...

    @property
    def min_samples(self) -> int: ...

    @property
    def latency_factor(self) -> float: ...


class _State:
    __slots__ = ("ceiling", "good", "last_cut", "limit")

    def __init__(self, limit: int, ceiling: int) -> None:
        self.limit = limit
        self.good = 0
        self.ceiling = ceiling
        self.last_cut = float("-inf")


class ConcurrencyTuner:
    def __init__(self, resources: ResourceManager, settings: TunerSettings, *,
                 journal: Journal | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.resources = resources
        self.settings = settings
        self._journal = journal
        self._clock = clock
        self._skills: dict[str, _State] = {}
        self.changes = 0

    def limit(self, skill_id: str) -> int | None:
        st = self._skills.get(skill_id)
        return None if st is None else st.limit

    def observe(self, pred: Prediction | None, skill: Skill, result: ExecutionResult) -> None:
        s = self.settings
        st = self._skills.get(skill.id)
        if st is None:
            configured = self.resources.skill_limit(skill)
            ceiling = min(configured, s.concurrency_max) if configured else s.concurrency_max
            st = self._skills[skill.id] = _State(ceiling, ceiling)
        if pred is None or pred.samples < s.min_samples:
            return  # too little known to tell slow from normal
        # The prediction is per attempt; a retried task's wall_ms covers all of its attempts.
        wall = result.metrics.get("last_attempt_wall_ms", result.metrics.get("wall_ms"))
        err = result.error
        why = None
        if result.status is TaskStatus.TIMED_OUT:
            why = "a call timed out"
        elif err is not None and err.type is ErrorType.RESOURCE:
            why = f"a call was refused for resources ({err.code})"
        elif wall is not None and pred.expected_ms > 0 \
                and wall > s.latency_factor * max(pred.expected_ms, 1.0):
            why = (f"a call took {wall:.0f} ms, over {s.latency_factor:g} x the expected "
                   f"{pred.expected_ms:.0f} ms")
        old = st.limit
        if why is not None:
            now = self._clock()
            st.good = 0
            if now - st.last_cut < max(1.0, 2 * pred.expected_ms / 1000.0):
                return
            st.last_cut = now
            st.limit = max(s.concurrency_min, st.limit // 2)
        elif err is None:
            st.good += 1
            if st.good >= st.limit:
                st.good = 0
                st.limit = min(st.ceiling, st.limit + 1)
                why = f"{old} calls in a row ended well"
        new = st.limit
        if new != old:
            self.changes += 1
            self.resources.set_skill_limit(skill.id, new)
            data = {"skill": skill.id, "setting": "concurrency", "old": old, "new": new,
                    "reason": why}
            log.info("adaptive: %s concurrency %d -> %d: %s", skill.id, old, new, why)
            if self._journal is not None:
                self._journal("adaptive", data)

    def snapshot(self) -> dict[str, int]:
        return {k: v.limit for k, v in self._skills.items()}
