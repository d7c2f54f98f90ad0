"""/health while the journal cannot be written (its disk full): every call was refused
with journal_write_failed while /health said ready; it says not ready, and why, until a
commit succeeds again."""

from __future__ import annotations

from pathlib import Path

from tests._http import running


def test_health_says_the_journal_cannot_be_written(tmp_path: Path) -> None:
    with running(tmp_path, insecure=True) as srv, srv.client() as c:
        assert c.get("/health").json()["ready"] is True
        writer = srv.engine.journal._write  # type: ignore[attr-defined]
        writer.execute("PRAGMA query_only = ON")  # the disk is full, as SQLite sees it
        try:
            # A call, and a refusal (its parameters invalid), neither of which is recorded:
            # the refusal answered 404 'no task with id ...' (its task was never journaled).
            for params in ({"text": "a"}, {"x": 1}):
                r = c.post("/api/skills/echo/execute", json={"parameters": params})
                assert r.status_code == 503, r.text
                assert r.json()["error"]["details"]["engine_code"] == "journal_write_failed"
            health = c.get("/health")
            assert health.status_code == 503
            body = health.json()
            assert (body["status"], body["ready"]) == ("journal_unwritable", False)
            assert body["journal"]["writable"] is False
            assert "readonly" in body["journal"]["error"]
        finally:
            writer.execute("PRAGMA query_only = OFF")
        r = c.post("/api/skills/echo/execute", json={"parameters": {"text": "a"}})
        assert r.status_code == 200, r.text
        health = c.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert "journal" not in health.json()
