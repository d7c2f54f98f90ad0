"""Py Copilot's frontend against skillexec: every request its skillApi.js makes (replayed
from tests/fixtures/pycopilot/skillapi_requests.json) gets the shape that frontend reads,
and every refusal a ``detail`` string, which is what it shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests._http import running

pytestmark = pytest.mark.timeout(120)
FIXTURE = Path(__file__).parent / "fixtures" / "pycopilot" / "skillapi_requests.json"
SKILL_FIELDS = {"id", "name", "display_name", "description", "version", "license", "tags",
                "source", "status", "is_system", "icon", "author", "documentation_url",
                "requirements", "created_at", "updated_at", "installed_at", "last_used_at",
                "usage_count"}


def test_skillapi_requests_replayed(tmp_path: Path) -> None:
    requests = json.loads(FIXTURE.read_text())["requests"]
    kept: dict[str, Any] = {}
    with running(tmp_path) as srv, srv.client(srv.key("operator")) as c:
        for req in requests:
            path = req["path"].format(**kept)
            r = c.request(req["method"], path, json=req.get("body"),
                          headers={"Content-Type": "application/json"})
            assert r.status_code == req["expect"], (req["call"], r.text[:300])
            if "bytes" in req:
                assert r.content == req["bytes"].encode()
                continue
            body = r.json()
            if not r.is_success:  # what skillApi.js shows: body.detail
                assert isinstance(body["detail"], str) and body["detail"], req["call"]
                assert body["error"]["message"] == body["detail"]
                if "code" in req:
                    assert body["error"]["code"] == req["code"], req["call"]
                continue
            shape = req.get("shape")
            if shape == "list":
                assert set(body) == {"skills", "total", "skip", "limit"}
                assert all(set(s) >= SKILL_FIELDS for s in body["skills"])
                if "ids" in req:
                    assert [s["id"] for s in body["skills"]] == req["ids"]
                if "skip" in req:
                    assert (body["skip"], body["limit"]) == (req["skip"], req["limit"])
                    assert len(body["skills"]) == 2 and body["total"] == 5
            elif shape == "skill":
                assert set(body) >= SKILL_FIELDS and body["status"] == "enabled"
            elif shape == "execute":
                assert {"success", "result", "error", "execution_time_ms", "execution_id",
                        "artifacts"} <= set(body)
                assert body["success"] is req.get("success", True), body
                if "result" in req:
                    assert body["result"] == req["result"]
                if body["success"] is False:
                    assert "broke on purpose" in body["error"]
                assert body["execution_time_ms"] >= 0
                # an execution can be read back (Py Copilot's backend cannot)
                assert c.get(f"/api/executions/{body['execution_id']}").status_code == 200
                if req.get("keep"):
                    kept["execution_id"] = body["execution_id"]
                    (art,) = body["artifacts"]
                    assert set(art) == {"id", "name", "type", "size", "created_at"}
                    kept["artifact_id"] = art["id"]
            elif shape == "match":
                assert body["matched_skills"][0]["id"] == req["first"]
            elif shape == "artifacts":
                assert [a["id"] for a in body] == [kept["artifact_id"]]
