"""Install flights: the install of one requirement set under way, shared by every call that
waits for it (see ``EnvironmentManager.ensure``).

A flight's future is set by the install pool's thread, never by a caller (one caller's
cancellation was every follower's). Each flight has installers of its own, so that it can
be stopped alone: a submitted task cancelled while its environment is being made
(``stop``) stops the install when no other call waits for it any more: its installer's
process group is killed, the thread removes its temporary folder, and nothing is
remembered as a failure (the next call installs afresh). A wait that ends with its
timeout, or an ``execute`` caller that is cancelled, leaves the install going on, for the
next call.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from skillexec.environments.installer import Installers
from skillexec.environments.pool import InstallPool

__all__ = ["Flight", "Flights"]


@dataclass(eq=False, slots=True)
class Flight:
    future: asyncio.Future[None]
    installers: Installers  # this install's alone: killed by a stop, or the engine's close
    waiting: int = 0  # the calls waiting for it now


class Flights:
    def __init__(self, pool: InstallPool) -> None:
        self._pool = pool
        self._by_key: dict[str, Flight] = {}
        self._closed = False

    def get(self, key: str) -> Flight | None:
        return self._by_key.get(key)

    def start(self, key: str, job: Callable[[Installers], object]) -> Flight:
        """Run ``job`` (an install, given the installers it must start its processes with)
        on the pool's threads, as the flight of ``key``."""
        installers = Installers()
        if self._closed:
            installers.kill_all()  # (it starts none: the engine is closing)
        flight = Flight(self._pool.submit(lambda: job(installers)), installers)
        self._by_key[key] = flight

        def landed(done: asyncio.Future[None]) -> None:
            if self._by_key.get(key) is flight:
                del self._by_key[key]
            if not done.cancelled():
                done.exception()  # retrieved: it may end with nobody waiting any more

        flight.future.add_done_callback(landed)
        return flight

    async def wait(self, key: str, flight: Flight, timeout: float | None, *,
                   stop: bool) -> None:
        """Wait for ``flight`` (a TimeoutError past ``timeout``: the install goes on). A wait
        cancelled with ``stop`` stops the install if nobody else waits for it."""
        flight.waiting += 1
        try:
            await asyncio.wait_for(asyncio.shield(flight.future), timeout)
        except asyncio.CancelledError:
            if stop and flight.waiting == 1 and not flight.future.done():
                self._stop(key, flight)
            raise
        finally:
            flight.waiting -= 1

    def _stop(self, key: str, flight: Flight) -> None:
        if self._by_key.get(key) is flight:  # a later call starts another install
            del self._by_key[key]
        flight.installers.kill_all()

    def close(self) -> None:
        """Stop every install under way, and start none after (the engine is closing)."""
        self._closed = True
        for flight in list(self._by_key.values()):
            flight.installers.kill_all()
