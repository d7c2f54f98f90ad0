"""A session's folder is walked (listing, reading) and removed (closing) off the engine's
event loop: a session of many files being listed or closed must not stall every other
call meanwhile. Measured with a loop-lag probe on the server's loop, against the time the
request itself took (no bound that assumes a machine's speed)."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests._http import Server, running

pytestmark = pytest.mark.timeout(180)

FILES = 20_000


async def _worst_lag(stop: threading.Event) -> float:
    """The longest the loop took to come back to a coroutine that asked for 1 ms."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    while not stop.is_set():
        asked = loop.time()
        await asyncio.sleep(0.001)
        worst = max(worst, loop.time() - asked - 0.001)
    return worst


def _lag_during(srv: Server, request: Callable[[], object]) -> tuple[float, float]:
    """(the loop's worst lag, the request's time) while ``request`` runs."""
    stop = threading.Event()
    probe = asyncio.run_coroutine_threadsafe(_worst_lag(stop), srv.loop)
    time.sleep(0.05)  # the probe runs
    started = time.monotonic()
    request()
    took = time.monotonic() - started
    stop.set()
    return probe.result(30), took


def _fill(folder: Path) -> None:
    for i in range(FILES):
        sub = folder / f"d{i % 100}"
        if i < 100:
            sub.mkdir()
        (sub / f"f{i}").write_bytes(b"x")


def test_listing_and_closing_a_large_session_do_not_stall_the_loop(tmp_path: Path) -> None:
    with running(tmp_path) as srv, srv.client(srv.key("runner")) as c:
        sid = c.post("/api/sessions", json={}).json()["data"]["id"]
        folder = srv.engine.sessions.root / sid
        _fill(folder)
        listed: dict[str, object] = {}
        lag, took = _lag_during(srv, lambda: listed.update(c.get("/api/sessions").json()))
        assert listed["data"][0]["files"] == FILES + 100  # type: ignore[index]
        assert lag < took / 3, f"listing stalled the loop {lag:.3f} s of its {took:.3f} s"
        lag, took = _lag_during(srv, lambda: c.get(f"/api/sessions/{sid}"))
        assert lag < took / 3, f"reading stalled the loop {lag:.3f} s of its {took:.3f} s"
        closed: dict[str, object] = {}
        lag, took = _lag_during(
            srv, lambda: closed.update(c.delete(f"/api/sessions/{sid}").json()))
        assert closed["data"] == {"id": sid, "closed": True}
        assert not folder.exists() and not os.path.exists(folder)
        assert lag < took / 3, f"closing stalled the loop {lag:.3f} s of its {took:.3f} s"
