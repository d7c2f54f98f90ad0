"""GET /api/audit answers the newest records first, and pages back with a cursor: it answered
the oldest ``limit`` records (as its own description said otherwise), with no way past them,
so once a window held more than 10,000 records (a flood of failed logins does it) the newest
events (an admin key made) could not be read over HTTP at all."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests._http import running


def _page(c: httpx.Client, **params: Any) -> dict[str, Any]:
    got = c.get("/api/audit", params=params)
    assert got.status_code == 200, got.text
    data: dict[str, Any] = got.json()["data"]
    return data


def test_audit_is_newest_first_with_a_cursor(tmp_path: Path) -> None:
    with running(tmp_path) as srv:
        audit = srv.engine.audit

        async def fill() -> None:
            for i in range(2500):
                audit.record("test.filler", principal="someone", target=str(i))
            await audit.record("test.filler", principal="someone", target="last")

        srv.call(fill())
        with srv.client(srv.key("admin")) as admin, srv.client(srv.key("auditor")) as auditor:
            made = admin.post("/api/keys", json={"name": "backdoor", "role": "admin"})
            assert made.status_code == 201
            time.sleep(0.5)  # its record committed

            first = _page(auditor)  # since 24h, limit 1000
            seqs = [r["seq"] for r in first["records"]]
            assert len(seqs) == 1000 and seqs == sorted(seqs, reverse=True)
            assert any(r["action"] == "key.created" and r["target"] == made.json()["data"][
                "key_id"] for r in first["records"][:5])
            assert first["next_cursor"] == seqs[-1]

            top = _page(auditor, since="all", limit=3)
            assert [r["seq"] for r in top["records"]] == seqs[:3]

            # Paging back with the cursor reaches every record once, down to the first.
            every = list(seqs)
            cursor = first["next_cursor"]
            while cursor is not None:
                page = _page(auditor, since="all", limit=700, cursor=cursor)
                assert all(r["seq"] < cursor for r in page["records"])
                every += [r["seq"] for r in page["records"]]
                cursor = page["next_cursor"]
            assert every == list(range(seqs[0], -1, -1))

            # With since, the pages end where the records get older than it.
            time.sleep(2.5)
            admin.post("/api/keys", json={"name": "later", "role": "viewer"})
            time.sleep(0.5)
            recent = _page(auditor, since="2s")
            assert recent["next_cursor"] is None
            assert [r["action"] for r in recent["records"]].count("key.created") == 1
            # A cursor that is no seq is refused, as any bad query parameter is.
            assert auditor.get("/api/audit", params={"cursor": "x"}).status_code == 422
