"""CacheSettings: the ``[cache]`` table of the settings tree (result cache, single-flight)."""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
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
    ``stale``; 0: off); ``shared_skills``: skill ids (or ``fnmatch`` patterns) whose cached
    results and single-flight the operator declares shared by every principal — by default a
    principal is never answered with another's result."""

    enabled: bool = True
    max_entries: int = 10_000
    default_ttl_s: float | None = 3600.0
    persist: bool = True
    single_flight: bool = True
    stale_on_error_s: float = 0.0
    shared_skills: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.stale_on_error_s < 0:
            raise ValueError("stale_on_error_s must not be negative")
        if isinstance(self.shared_skills, str):  # type: ignore[unreachable]
            raise ValueError("shared_skills must be a list of skill ids or patterns")
        object.__setattr__(self, "shared_skills", tuple(self.shared_skills))

    def shared(self, skill_id: str) -> bool:
        """Whether the operator declared this skill's cache shared between principals."""
        return any(skill_id == p or fnmatchcase(skill_id, p) for p in self.shared_skills)

    @classmethod
    def from_config(cls, config: Any) -> CacheSettings:
        """``config.cache`` (EngineConfig's typed sub-model), else the defaults."""
        given = getattr(config, "cache", None)
        return given if isinstance(given, cls) else cls()
