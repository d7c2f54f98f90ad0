"""What every route of one service shares: its engine, settings, limiter, and whether it is
draining (SIGTERM received: no new work, streams close, /health says so)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from skillexec.config_sections import ServiceConfig
from skillexec.engine import SkillExecutionEngine
from skillexec.security.principals import Principal
from skillexec.service.ratelimit import RateLimiter
from skillexec.service.streams import StreamSlots

__all__ = ["ServiceState"]


@dataclass(eq=False)
class ServiceState:
    engine: SkillExecutionEngine
    settings: ServiceConfig
    insecure: bool = False
    host: str | None = None  # the address it listens on (None: not known, an app alone)
    ready: bool = False  # the engine has started
    limiter: RateLimiter = field(init=False)
    failures: RateLimiter = field(init=False)  # failed key checks, per client address
    draining: asyncio.Event = field(default_factory=asyncio.Event)
    started_at: float = field(default_factory=time.time)
    streams: StreamSlots = field(init=False)  # SSE streams and WebSockets open now
    # key digest -> (principal, until when, monotonic): see ServiceConfig.auth_cache_s
    known_keys: dict[bytes, tuple[Principal, float]] = field(default_factory=dict)
    # key digest -> the journal lookup under way for it (shared by concurrent requests)
    key_lookups: dict[bytes, asyncio.Future[Principal | None]] = field(default_factory=dict)
    keys_generation: int = 0  # one more at each revocation through this service
    # Key ids known valid (the journal's, read again at most every few seconds while an
    # address is past its failures): their keys are still looked up then.
    valid_ids: set[str] = field(default_factory=set)
    valid_ids_at: float = float("-inf")  # when read (monotonic)
    ids_reading: asyncio.Future[None] | None = None
    # key id -> the open WebSockets made with it, each its "key revoked" event
    sockets: dict[str, set[asyncio.Event]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(rate_per_s=self.settings.rate_per_s,
                                   burst=self.settings.rate_burst)
        self.streams = StreamSlots(total=self.settings.max_streams,
                                   per_key=self.settings.max_streams_per_key)
        self.failures = RateLimiter(rate_per_s=self.settings.auth_failures_per_s,
                                    burst=self.settings.auth_failures_burst)

    @property
    def streams_open(self) -> int:
        return self.streams.open

    def forget_keys(self) -> None:
        """After a revocation here: no principal known, no lookup under way reused, and
        none that began before it remembered when it ends."""
        self.known_keys.clear()
        self.key_lookups.clear()
        self.keys_generation += 1

    def revoked(self, key_id: str) -> None:
        """After a revocation here: the key stops working at once, its open WebSockets
        too (they were let in at their handshake and kept following its tasks)."""
        self.forget_keys()
        for ended in self.sockets.pop(key_id, ()):
            ended.set()

    @property
    def retry_after(self) -> dict[str, str]:
        return {"Retry-After": str(self.settings.retry_after_s)}
