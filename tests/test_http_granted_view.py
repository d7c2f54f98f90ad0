"""A key granted some skills sees those alone over HTTP, as over /mcp: it listed every skill
and read any skill's files (GET /api/skills/{id}/files/...), which /mcp hid from it."""

from __future__ import annotations

from pathlib import Path

from tests._http import running


def test_a_key_sees_the_skills_it_is_granted_alone(tmp_path: Path) -> None:
    with running(tmp_path) as srv, \
            srv.client(srv.key("runner", name="narrow", skills=["echo"])) as narrow, \
            srv.client(srv.key("viewer", name="wide")) as wide:
        listed = {s["id"] for s in narrow.get("/api/skills").json()["data"]["skills"]}
        assert listed == {"echo"}
        assert narrow.get("/api/skills/echo").status_code == 200
        r = narrow.get("/api/skills/slow")
        assert r.status_code == 404 and "slow" in r.text
        miss = narrow.get("/api/skills/sloww").json()["error"]  # nor named as a suggestion
        assert "did you mean" not in miss["message"] and not miss["details"], miss
        assert {s["id"] for s in narrow.get("/api/v1/skills").json()["skills"]} == {"echo"}
        assert narrow.get("/api/v1/skills/slow").status_code == 404
        # A key with no grants (here a viewer's) sees every skill.
        assert len(wide.get("/api/skills").json()["data"]["skills"]) > 1
