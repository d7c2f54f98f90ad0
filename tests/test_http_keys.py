"""How the service looks keys up: concurrent requests with one key share one journal
lookup; every refused request still leaves its own audit record; a revocation through the
service applies at once, even to a lookup under way."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests._http import Server, running


def _counting(srv: Server) -> list[str]:
    """The engine's own key lookup, counted (each call still goes to the journal)."""
    keys = srv.engine.keys
    real = keys.authenticate
    calls: list[str] = []

    async def authenticate(raw: str) -> Any:
        calls.append(raw)
        await asyncio.sleep(0.05)  # a slow journal: the requests overlap for sure
        return await real(raw)

    keys.authenticate = authenticate  # type: ignore[method-assign]
    return calls


async def _many(base_url: str, key: str, n: int) -> list[int]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30,
                                 limits=httpx.Limits(max_connections=n)) as c:
        answers = await asyncio.gather(*(c.post("/api/skills/echo/execute", json={},
                                                headers={"X-API-Key": key})
                                         for _ in range(n)))
    return [a.status_code for a in answers]


def test_concurrent_requests_of_one_key_share_one_lookup(tmp_path: Path) -> None:
    with running(tmp_path, service={"auth_cache_s": 60}) as srv:
        key = srv.key("runner")
        calls = _counting(srv)
        assert asyncio.run(_many(srv.base_url, key, 20)) == [200] * 20
        assert len(calls) == 1


def test_with_no_cache_each_request_asks_the_journal(tmp_path: Path) -> None:
    with running(tmp_path, service={"auth_cache_s": 0}) as srv:
        key = srv.key("runner")
        calls = _counting(srv)
        assert asyncio.run(_many(srv.base_url, key, 8)) == [200] * 8
        assert len(calls) == 8


def test_each_refused_request_leaves_its_own_audit_record(tmp_path: Path) -> None:
    with running(tmp_path, service={"auth_cache_s": 60}) as srv:
        good = srv.key("runner")
        bad = good[:-4] + ("aaaa" if not good.endswith("aaaa") else "bbbb")
        assert asyncio.run(_many(srv.base_url, bad, 6)) == [401] * 6
        with srv.client(srv.key("auditor")) as c:
            records = c.get("/api/audit", params={"since": "all"}).json()["data"]["records"]
        assert sum(r["action"] == "auth.failed" for r in records) == 6


def test_a_revocation_here_is_not_undone_by_a_lookup_under_way(tmp_path: Path) -> None:
    with running(tmp_path, service={"auth_cache_s": 60}) as srv:
        key = srv.key("runner")
        admin = srv.key("admin")
        key_id = key.split("_")[1]
        real = srv.engine.keys.authenticate
        revoked = asyncio.Event()

        async def slow(raw: str) -> Any:  # the lookup reads the key, then the revocation
            found = await real(raw)
            if raw == key:
                await asyncio.wait_for(revoked.wait(), 10)
            return found

        srv.engine.keys.authenticate = slow  # type: ignore[method-assign]

        async def race() -> tuple[int, int]:
            async with httpx.AsyncClient(base_url=srv.base_url, timeout=30) as c:
                during = asyncio.ensure_future(c.post("/api/skills/echo/execute", json={},
                                                      headers={"X-API-Key": key}))
                await asyncio.sleep(0.3)  # its lookup is under way
                r = await c.delete(f"/api/keys/{key_id}", headers={"X-API-Key": admin})
                assert r.status_code == 200, r.text
                srv.loop.call_soon_threadsafe(revoked.set)
                first = (await during).status_code
                after = await c.post("/api/skills/echo/execute", json={},
                                     headers={"X-API-Key": key})
                return first, after.status_code

        first, after = asyncio.run(race())
        assert first == 200  # it was valid when it was looked up
        assert after == 401  # and that answer was not kept past the revocation


def test_a_service_no_key_can_enter_says_how_to_make_one(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="skillexec.service"), running(tmp_path):
        pass
    said = [r.getMessage() for r in caplog.records if r.name == "skillexec.service"]
    # with the service's own data folder: a key made in another is never seen here
    assert any("no valid API key" in m and "'skillexec keys create --name NAME --role "
               f"operator --data-dir {tmp_path / 'data'}'" in m for m in said), said
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="skillexec.service"), \
            running(tmp_path / "open", insecure=True):
        pass
    assert not [r for r in caplog.records if "no valid API key" in r.getMessage()]
