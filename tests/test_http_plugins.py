"""The HTTP API on a Claude Code marketplace: a plugin's skill, ``<plugin>:<skill>``, is
listed, shown and run by that name (here, not in test_plugins: the tests as nobody have no
HTTP client installed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests._http import running
from tests._isolation import need_sandbox
from tests.test_plugins import marketplace

pytestmark = pytest.mark.timeout(120)


def test_the_http_api_serves_and_runs_a_plugins_skill(tmp_path: Path) -> None:
    need_sandbox()
    root = marketplace(tmp_path / "market")
    with running(tmp_path, skills_dir=root) as srv, srv.client(srv.key("runner")) as c:
        listed = c.get("/api/skills", params={"search": "beta:"}).json()["data"]
        assert [s["id"] for s in listed["skills"]] == ["beta:health", "beta:setup"]
        for path in ("/api/skills/beta:setup", "/api/skills/beta%3Asetup"):
            detail = c.get(path).json()["data"]
            assert detail["id"] == "beta:setup" and detail["scripts"] == ["scripts/hello.py"]
        r = c.post("/api/skills/gamma:setup/scripts",
                   json={"script": "scripts/hello.py", "args": ["web"]})
        assert r.status_code == 200, r.text
        out = r.json()["data"]["output"]
        assert json.loads(out["stdout"]) == {"plugin": "gamma", "argv": ["web"]}
        assert c.get("/api/skills/gamma").status_code == 404
