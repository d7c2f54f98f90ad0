"""ResultCache: an in-memory LRU in front of the journal's ``cache`` table.

The table makes hits survive restarts. At first use the cache learns every live key in the
table (64 characters each) and loads the newest entries, so a miss costs no I/O unless the
table holds that key; only then is it read.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from skillexec.storage.store import CacheRecord, TaskStore

__all__ = ["ResultCache", "cache_key"]

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def cache_key(skill_id: str, version: str, params: Mapping[str, Any],
              config: Mapping[str, Any], principal: str | None = None,
              function: int | None = None) -> str:
    """sha256 of the canonical call: sorted-key JSON of skill id, version, params, config,
    and whose call it is (None: ``local``, or a skill whose cache is shared — the key of
    before principals, so those entries stay valid); ``function``: which closure runs it
    (see ExecutionOptimizer.key)."""
    call: list[Any] = [skill_id, version, params, config]
    if principal is not None or function is not None:
        call.append(principal)  # a longer list: never the key of a call without one
    if function is not None:
        call.append(function)
    body = orjson.dumps(call, option=_SORTED, default=str)
    return hashlib.sha256(body).hexdigest()


class ResultCache:
    def __init__(self, *, store: TaskStore | None, max_entries: int,
                 clock: Callable[[], float] = time.time, stale_s: float = 0.0) -> None:
        self._store = store
        self.stale_s = stale_s  # expired entries are kept this long, to serve on errors
        self.max_entries = max_entries
        self._clock = clock
        self._lru: OrderedDict[str, CacheRecord] = OrderedDict()
        self._on_disk: set[str] = set()
        self.loaded = store is None
        self.stats: dict[str, int] = {"hits": 0, "disk_hits": 0, "misses": 0, "expired": 0,
                                      "puts": 0, "invalidations": 0}

    @property
    def has_store(self) -> bool:
        return self._store is not None

    async def load(self) -> None:
        if self.loaded or self._store is None:
            self.loaded = True
            return
        keys, records = await self._store.cache_load(now=self._clock() - self.stale_s,
                                                     limit=self.max_entries)
        self._on_disk.update(keys)
        for rec in reversed(records):  # oldest first, so the newest end up most recent
            self._lru.setdefault(rec.key, rec)
        self.loaded = True

    def _live(self, rec: CacheRecord) -> bool:
        return rec.expires_at is None or rec.expires_at > self._clock()

    async def get(self, key: str) -> CacheRecord | None:
        if not self.loaded:
            await self.load()
        lru = self._lru
        rec = lru.get(key)
        if rec is None and key in self._on_disk and self._store is not None:
            rec = await self._store.cache_get(key)
            if rec is None:
                self._on_disk.discard(key)
            else:
                self.stats["disk_hits"] += 1
                self._remember(rec)
        if rec is None:
            self.stats["misses"] += 1
            return None
        if not self._live(rec):
            self.stats["expired"] += 1
            self.stats["misses"] += 1
            if not self._servable_stale(rec):
                lru.pop(key, None)
            return None
        lru.move_to_end(key)
        self.stats["hits"] += 1
        return rec

    def _servable_stale(self, rec: CacheRecord) -> bool:
        return (self.stale_s > 0 and rec.expires_at is not None
                and rec.expires_at + self.stale_s > self._clock())

    async def get_stale(self, key: str) -> CacheRecord | None:
        """An expired entry still within ``stale_s`` of its expiry (for a call that failed)."""
        if self.stale_s <= 0:
            return None
        rec = self._lru.get(key)
        if rec is None and key in self._on_disk and self._store is not None:
            rec = await self._store.cache_get(key)
        if rec is None or self._live(rec) or not self._servable_stale(rec):
            return None
        self.stats["stale_served"] = self.stats.get("stale_served", 0) + 1
        return rec

    def _remember(self, rec: CacheRecord) -> None:
        lru = self._lru
        lru[rec.key] = rec
        lru.move_to_end(rec.key)
        while len(lru) > self.max_entries:
            lru.popitem(last=False)

    def put(self, rec: CacheRecord) -> None:
        self._remember(rec)
        self.stats["puts"] += 1
        if self._store is not None:
            self._on_disk.add(rec.key)
            self._store.cache_put(rec)  # group commit; the next turn of the loop writes it

    def invalidate(self, skill_id: str, keep_version: str | None) -> int:
        """Drop the entries of ``skill_id`` other than ``keep_version``'s; how many in memory."""
        gone = [k for k, r in self._lru.items()
                if r.skill_id == skill_id and r.version != keep_version]
        for k in gone:
            del self._lru[k]
        self.stats["invalidations"] += 1
        if self._store is not None:
            self._store.cache_invalidate(skill_id, keep_version)
        return len(gone)

    def __len__(self) -> int:
        return len(self._lru)
