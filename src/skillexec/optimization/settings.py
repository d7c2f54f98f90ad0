"""CacheSettings: the ``[cache]`` table of the settings tree (result cache, single-flight)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["CacheSettings"]


@dataclass(frozen=True, slots=True)
class CacheSettings:
    """``enabled``: the cache and single-flight at all; ``max_entries``: the in-memory LRU;
    ``default_ttl_s``: for cacheable skills whose manifest gives no ``cache_ttl`` (None: no
    expiry); ``persist``: keep entries in the journal's ``cache`` table (hits survive a
    restart); ``single_flight``: share one run among identical concurrent calls;
    ``stale_on_error_s``: a recovery strategy — when a cacheable skill's call fails for
    good, answer with its cached result if that expired no longer than this ago (marked
    ``stale``; 0: off)."""

    enabled: bool = True
    max_entries: int = 10_000
    default_ttl_s: float | None = 3600.0
    persist: bool = True
    single_flight: bool = True
    stale_on_error_s: float = 0.0

    def __post_init__(self) -> None:
        if self.stale_on_error_s < 0:
            raise ValueError("stale_on_error_s must not be negative")

    @classmethod
    def from_config(cls, config: Any) -> CacheSettings:
        """``config.cache`` (EngineConfig's typed sub-model), else the defaults."""
        given = getattr(config, "cache", None)
        return given if isinstance(given, cls) else cls()
