"""Agent Skills over HTTP: a skill's instructions, resources and scripts in GET
/api/skills/{id}, and POST /api/skills/{id}/scripts through the engine's run_script."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests._http import running
from tests._isolation import need_sandbox
from tests.conftest import FIXTURES

pytestmark = pytest.mark.timeout(180)


def test_skill_bundle_and_script_runs(tmp_path: Path) -> None:
    need_sandbox()
    with running(tmp_path, skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("runner")) as c:
        detail = c.get("/api/skills/pdf-forms").json()["data"]
        assert detail["instructions"] and "scripts/echo_args.py" in detail["scripts"]
        assert all(set(r) == {"path", "size", "mime"} for r in detail["resources"])
        assert "script" in detail["offers"]
        r = c.post("/api/skills/pdf-forms/scripts", json={
            "script": "scripts/echo_args.py", "args": ["a", "b c"], "stdin": "from stdin",
            "files": {"in.txt": base64.b64encode(b"hello").decode()}})
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["status"] == "succeeded", data
        seen = json.dumps(data["output"])
        assert "b c" in seen and "from stdin" in seen
        r = c.post("/api/skills/pdf-forms/scripts", json={"script": "../outside.py"})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["engine_code"] == "script_outside_skill"
        r = c.post("/api/skills/pdf-forms/scripts",
                   json={"script": "scripts/noop.py", "files": {"x": "%%%"}})
        assert r.status_code == 422 and r.json()["error"]["field"] == "files.x"
        r = c.post("/api/skills/nope/scripts", json={"script": "scripts/noop.py"})
        assert r.status_code == 404
    with running(tmp_path / "v", skills_dir=FIXTURES / "scripts") as srv, \
            srv.client(srv.key("viewer")) as c:
        r = c.post("/api/skills/pdf-forms/scripts", json={"script": "scripts/noop.py"})
        assert r.status_code == 403
