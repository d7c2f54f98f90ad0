"""SingleFlight: identical calls in flight at once run once; the others share the result.

The first call of a key leads and runs; calls with the same key that arrive before it ends
follow: each keeps its own task id (journaled), and ends with the leader's result.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from skillexec.task import ExecutionTask

__all__ = ["Flight", "SingleFlight"]


@dataclass(slots=True)
class Flight:
    key: str
    cacheable: bool  # store the leader's result in the cache when it succeeds
    shared: bool  # others may join
    ttl_s: float | None = None
    followers: list[ExecutionTask] = field(default_factory=list)


class SingleFlight:
    def __init__(self) -> None:
        self._by_key: dict[str, Flight] = {}
        self.by_task: dict[str, Flight] = {}  # leader task id -> its flight
        self.shared = 0  # followers served so far

    def join(self, key: str, task: ExecutionTask) -> Flight | None:
        """Follow the flight of ``key`` if one is in the air; None means: lead."""
        flight = self._by_key.get(key)
        if flight is None:
            return None
        flight.followers.append(task)
        self.shared += 1
        return flight

    def lead(self, key: str, task_id: str, *, cacheable: bool, shared: bool,
             ttl_s: float | None) -> Flight:
        flight = Flight(key=key, cacheable=cacheable, shared=shared,
                        ttl_s=ttl_s)
        if shared and key not in self._by_key:
            self._by_key[key] = flight
        self.by_task[task_id] = flight
        return flight

    def land(self, task_id: str) -> Flight | None:
        """The leader ``task_id`` ended: its flight, whose followers are now to finish."""
        flight = self.by_task.pop(task_id, None)
        if flight is not None and self._by_key.get(flight.key) is flight:
            del self._by_key[flight.key]
        return flight

    def __len__(self) -> int:
        return len(self._by_key)
