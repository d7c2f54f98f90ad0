"""``skillexec serve`` answers while a skill's import hangs at its warm-up: /health and the
other skills at once, that skill's calls with the warm-up's outcome (it was unreachable,
not even listening, for the whole ``zygote.import_timeout_s``)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests._isolation import need_sandbox
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(120)
IMPORT_TIMEOUT_S = 16.0


def skill(root: Path, sid: str, code: str) -> None:
    folder = root / sid
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(code)
    (folder / "skill.json").write_text(json.dumps({
        "id": sid, "version": "1.0.0", "entry_point": "main:execute",
        "execution": {"timeout": 60}}))


def test_serve_answers_while_a_skills_import_hangs(tmp_path: Path) -> None:
    need_sandbox()
    skill(tmp_path / "skills", "hangs", "import time\ntime.sleep(600)\n"
          "def execute(data):\n    return 1\n")
    skill(tmp_path / "skills", "fine", "def execute(data):\n    return {'ok': True}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_ZYGOTE__IMPORT_TIMEOUT_S": str(IMPORT_TIMEOUT_S)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "skillexec", "serve", "--port", "0", "--insecure-no-auth",
         "--skills-dir", "skills", "--data-dir", "data"],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        line = ""
        while "serving http://" not in line:
            line = proc.stderr.readline()
            assert line or proc.poll() is None, "serve ended before it listened"
        url = re.search(r"http://\S+", line).group(0)  # type: ignore[union-attr]
        with httpx.Client(base_url=url, timeout=60) as c:
            health = c.get("/health")
            assert health.status_code == 200, health.text
            fine = c.post("/api/skills/fine/execute", json={"parameters": {}})
            fine_s = time.monotonic()
            assert fine.status_code == 200, fine.text
            assert fine.json()["data"]["output"] == {"ok": True}
            hangs = c.post("/api/skills/hangs/execute", json={"parameters": {}})
            hangs_s = time.monotonic()
            data = hangs.json()["data"]
            assert data["status"] == "timed_out", data
            assert data["error"]["code"] == "import_timeout", data
            assert "zygote_import_timeout_s" in data["error"]["message"]
        # The other skill answered while the import still hung; the hanging skill's call
        # waited for its warm-up and answered with its outcome. (Before, the service only
        # listened once the warm-up had ended: both answered at once.)
        assert hangs_s - fine_s > IMPORT_TIMEOUT_S / 2, (hangs_s - fine_s)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
