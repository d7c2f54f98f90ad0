"""SmartSettings: the ``[smart]`` table: prediction, and acting on it (off by default)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["SmartSettings"]

_RUNNERS = ("inline", "process", "sandbox")


@dataclass(frozen=True, slots=True)
class SmartSettings:
    """``enabled``: predict every call's duration and failure probability and learn from
    every result (cheap; on by default). ``adaptive``: act on what was learned — the feature
    flag of adaptive optimization, off by default. Under it, each ``adapt_*`` switch turns
    one adaptation on:

    - ``adapt_timeouts``: a call without an explicit timeout gets ``p99 x timeout_margin``
      of its prediction, within [``min_timeout_s``, ``max_timeout_s``];
    - ``adapt_retries``: a call predicted to fail more often than ``fail_retry_cap`` gets at
      most one retry (retrying what mostly fails multiplies load);
    - ``shortest_first``: within a priority, a call is put back in the queue by
      ``order_weight`` x its predicted seconds, at most ``order_bound_s`` (the aging bound:
      nothing that arrived more than that later goes before it);
    - ``adapt_concurrency``: per-skill concurrency by AIMD between ``concurrency_min`` and
      ``concurrency_max``: halved when a call times out, is refused for resources, or takes
      longer than ``latency_factor`` x the skill's p50; one more after as many good calls;
    - ``runners``: the isolation levels the advisor may choose between for skills whose
      manifest names none (empty: never choose; the operator's policy decides).

    ``min_samples`` calls of a skill are needed before anything is adapted for it;
    ``half_life_calls`` is how fast old observations fade; ``max_keys_per_skill`` bounds
    the parameter classes remembered per skill.

    ``advisor``: ``"statistical"`` or ``"llm"`` (an OpenAI-compatible chat-completions
    endpoint at ``llm_base_url`` with ``llm_model``; its key is read from the environment
    variable named by ``llm_api_key_env``, never from config). It must answer within
    ``llm_budget_s`` or the statistical advice is used; its advice is reused for
    ``llm_ttl_s``.
    """

    enabled: bool = True
    adaptive: bool = False
    adapt_timeouts: bool = True
    timeout_margin: float = 3.0
    min_timeout_s: float = 1.0
    max_timeout_s: float = 600.0
    adapt_retries: bool = True
    fail_retry_cap: float = 0.5
    shortest_first: bool = True
    order_weight: float = 10.0
    order_bound_s: float = 10.0
    adapt_concurrency: bool = True
    concurrency_min: int = 1
    concurrency_max: int = 64
    latency_factor: float = 3.0
    runners: tuple[str, ...] = ()
    min_samples: int = 20
    half_life_calls: int = 500
    max_keys_per_skill: int = 64
    advisor: str = "statistical"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key_env: str = "OPENAI_API_KEY"
    llm_budget_s: float = 0.5
    llm_ttl_s: float = 300.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "runners", tuple(self.runners))
        for name in ("timeout_margin", "min_timeout_s", "max_timeout_s", "order_weight",
                     "latency_factor", "llm_budget_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive (got {getattr(self, name)!r})")
        if self.min_timeout_s > self.max_timeout_s:
            raise ValueError("min_timeout_s must not exceed max_timeout_s")
        if self.order_bound_s < 0 or self.llm_ttl_s < 0:
            raise ValueError("order_bound_s and llm_ttl_s must not be negative")
        if not 0 < self.fail_retry_cap <= 1:
            raise ValueError("fail_retry_cap must be in (0, 1]")
        if not 1 <= self.concurrency_min <= self.concurrency_max:
            raise ValueError("need 1 <= concurrency_min <= concurrency_max")
        if self.min_samples < 1 or self.half_life_calls < 1 or self.max_keys_per_skill < 1:
            raise ValueError("min_samples, half_life_calls and max_keys_per_skill must be >= 1")
        bad = [r for r in self.runners if r not in _RUNNERS]
        if bad:
            raise ValueError(f"runners: unknown isolation level(s) {bad}; known: {_RUNNERS}")
        if self.advisor not in ("statistical", "llm"):
            raise ValueError(f"advisor must be 'statistical' or 'llm' (got {self.advisor!r})")
        if self.advisor == "llm" and not (self.llm_base_url and self.llm_model):
            raise ValueError("advisor 'llm' needs llm_base_url and llm_model")

    @classmethod
    def from_config(cls, config: Any) -> SmartSettings:
        """``config.smart`` (EngineConfig's typed sub-model), else the defaults."""
        given = getattr(config, "smart", None)
        return given if isinstance(given, cls) else cls()
