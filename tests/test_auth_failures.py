"""Failed key checks are bounded: a client with no valid key sent as many requests as it
liked (never a 429), each a journal lookup and an ``auth.failed`` audit record (14,000 in a
minute from one client). Now a client address has ``service.auth_failures_burst`` failures,
refilled at ``auth_failures_per_s``, then a 429 naming it before any lookup; and records
by no one past ``ANONYMOUS_PER_WINDOW`` a window are summed up, not each written."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from skillexec import SkillExecutionEngine
from skillexec.security.audit import ANONYMOUS_PER_WINDOW
from tests._http import running

pytestmark = pytest.mark.timeout(300)

FEW = {"auth_failures_burst": 5, "auth_failures_per_s": 0.01, "auth_cache_s": 60}


def _bad(i: int) -> str:
    return f"sk_{i:012x}_" + "A" * 43  # well-formed: each is a real lookup


async def _flood(base: str, n: int, *, start: int = 0, local: str | None = None,
                 ) -> list[httpx.Response]:
    transport = httpx.AsyncHTTPTransport(local_address=local) if local else None
    async with httpx.AsyncClient(base_url=base, timeout=60, transport=transport) as c:
        return list(await asyncio.gather(*(
            c.get("/api/whoami", headers={"X-API-Key": _bad(start + i)}) for i in range(n))))


def _audit(c: httpx.Client) -> list[dict[str, Any]]:
    """Every record, once the journal has them all (a refusal does not wait for its
    record's commit): read until two reads agree."""
    before: list[dict[str, Any]] | None = None
    for _ in range(50):
        got = c.get("/api/audit", params={"since": "all", "limit": 10_000})
        assert got.status_code == 200, got.text
        records = list(got.json()["data"]["records"])
        if before is not None and len(records) == len(before):
            return records
        before = records
        time.sleep(0.2)
    raise AssertionError("the audit log kept growing")


def test_an_address_that_keeps_failing_gets_429_before_any_lookup(tmp_path: Path) -> None:
    with running(tmp_path, service=FEW) as srv:
        auditor = srv.client(srv.key("auditor"))
        runner_key = srv.key("runner")
        unused = srv.key("viewer", name="unused")  # made before, first used after the flood
        with auditor, srv.client(runner_key) as runner, srv.client(srv.key("admin")) as admin:
            assert runner.get("/api/whoami").status_code == 200  # known before the flood
            assert admin.get("/api/whoami").status_code == 200
            _audit(auditor)

            answers = asyncio.run(_flood(srv.base_url, 20))
            assert sorted(a.status_code for a in answers) == [401] * 5 + [429] * 15
            refused = next(a for a in answers if a.status_code == 429)
            assert int(refused.headers["Retry-After"]) >= 1
            error = refused.json()["error"]
            assert error["code"] == "RATE_LIMITED"
            assert error["message"].startswith("too many failed API key checks from "
                                               "127.0.0.1: try again in "), error
            # Five lookups, five audit records (with the address they came from); the 15
            # refused before a lookup are there too, as throttled.
            records = _audit(auditor)
            failed = [r for r in records if r["action"] == "auth.failed"]
            assert len(failed) == 5
            assert {r["details"]["client"] for r in failed} == {"127.0.0.1"}
            throttled = [r for r in records if r["action"] == "auth.throttled"]
            assert len(throttled) == 15 and throttled[0]["details"]["client"] == "127.0.0.1"
            # The same address's requests are refused on every door...
            assert runner.get("/api/whoami", headers={"X-API-Key": _bad(99)}
                              ).status_code == 429
            assert runner.post("/mcp", json={}, headers={"X-API-Key": _bad(98)}
                               ).status_code == 429
            ws = srv.base_url.replace("http", "ws") + "/api/skills/ws"

            async def handshake() -> int:
                with pytest.raises(websockets.InvalidStatus) as refused_ws:
                    async with websockets.connect(ws, additional_headers={
                            "X-API-Key": _bad(97)}):
                        pass
                return int(refused_ws.value.response.status_code)

            assert asyncio.run(handshake()) == 429
            # ...but a valid key still passes: one it knows (no lookup), and those it has not
            # seen yet (their ids name valid keys: in the journal, or made here since): a
            # client is not locked out by another's failures at its address (behind a
            # proxy every client has the proxy's).
            assert runner.get("/api/whoami").status_code == 200
            assert runner.get("/api/whoami", headers={"X-API-Key": unused}).status_code == 200
            fresh = admin.post("/api/keys", json={"name": "fresh", "role": "viewer"}
                               ).json()["data"]["key"]
            assert runner.get("/api/whoami", headers={"X-API-Key": fresh}).status_code == 200
            # A wrong secret for that id is a failure past the allowance all the same.
            wrong = fresh[:-4] + ("AAAA" if not fresh.endswith("AAAA") else "BBBB")
            assert runner.get("/api/whoami", headers={"X-API-Key": wrong}).status_code == 429
            # Without a key at all the answer is still the 401 that says what to send.
            with srv.client() as anonymous:
                assert anonymous.get("/api/whoami").status_code == 401
        # Another address has failures of its own.
        other = asyncio.run(_flood(srv.base_url, 3, start=100, local="127.0.0.2"))
        assert [a.status_code for a in other] == [401] * 3


def test_a_flood_from_many_addresses_is_summed_up_in_the_audit(tmp_path: Path) -> None:
    addresses = [f"127.0.0.{i}" for i in range(2, 32)]  # 30 clients, 12 requests each
    service = {"auth_failures_burst": 10, "auth_failures_per_s": 0.01}

    async def flood(base: str) -> list[int]:
        codes: list[int] = []
        for n, local in enumerate(addresses):
            codes += [a.status_code for a in await _flood(base, 12, start=n * 100,
                                                          local=local)]
        return codes

    with running(tmp_path, service=service) as srv, \
            srv.client(srv.key("auditor")) as auditor:
        codes = asyncio.run(flood(srv.base_url))
        assert codes.count(401) == 300 and codes.count(429) == 60
        written = [r for r in _audit(auditor) if r["principal"] == ""]
        assert len(written) == ANONYMOUS_PER_WINDOW  # not 360
    # At the end of the window (here: the service's shutdown) the rest is summed up.

    async def read() -> list[dict[str, Any]]:
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as e:
            assert (await e.audit.verify()).ok  # the sums are links of the chain
            return await e.audit.read(limit=100_000)

    anonymous = [r for r in asyncio.run(read()) if r["principal"] == ""]
    sums = [r for r in anonymous if "count" in r["details"]]
    assert {(r["action"], r["outcome"]) for r in sums} == {("auth.failed", "denied"),
                                                         ("auth.throttled", "denied")}
    singles = len(anonymous) - len(sums)
    assert singles + sum(r["details"]["count"] for r in sums) == 360
    failed = next(r for r in sums if r["action"] == "auth.failed")["details"]
    assert failed["reasons"] == {"unknown_key": failed["count"]}
    assert len(failed["clients"]) == 10 and set(failed["clients"]) <= set(addresses)
    assert failed["first_ts"] <= failed["last_ts"]
    assert len(json.dumps(failed)) < 2000  # named: the ten most frequent, not every one
