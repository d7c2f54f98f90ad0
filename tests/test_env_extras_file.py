"""``extras.json`` (the packages added with ``skills install ID PKG``) shared by processes.

It was read once, written whole before the install (so a running engine took up a set
that had not installed), and written back as it was first read when the install failed:
a ``skills install c hpkg`` that succeeded meanwhile in another process was wiped out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._index import serving
from tests._wheels import make_wheel
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)


def test_a_failed_install_keeps_what_another_process_added_meanwhile(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "fine-e5", "1.0", "VALUE = 1\n")
    for sid in ("a", "c"):
        folder = tmp_path / "skills" / sid
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: {sid}\ndescription: t.\n---\nRun.\n")
    extras = tmp_path / "data" / "envs" / "extras.json"
    with serving(wheels, hang=frozenset({"hang-e5"})) as index:
        env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
               "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
               "SKILLEXEC_ENVIRONMENTS__INDEX_URL": index.url,
               "SKILLEXEC_ENVIRONMENTS__INSTALLER": "uv",
               "SKILLEXEC_ENVIRONMENTS__INSTALL_TIMEOUT_S": "8"}
        where = ["--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")]
        cmd = [sys.executable, "-m", "skillexec", "skills", "install"]
        slow = subprocess.Popen([*cmd, "a", "hang-e5", *where], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while not any(p.startswith("/simple/hang-e5") for p in index.asked):
                assert time.monotonic() < deadline and slow.poll() is None
                time.sleep(0.1)
            # Not recorded while it installs: a running engine would take it up.
            assert not extras.exists() or "a" not in json.loads(extras.read_text())
            quick = subprocess.run([*cmd, "c", "fine-e5==1.0", *where], cwd=tmp_path, env=env,
                                   capture_output=True, text=True, timeout=120)
            assert quick.returncode == 0, quick.stderr
            assert json.loads(extras.read_text()) == {"c": ["fine-e5==1.0"]}
            assert slow.poll() is None  # still installing
            _, err = slow.communicate(timeout=120)
        finally:
            if slow.poll() is None:
                slow.kill()
        assert slow.returncode == 2, err
        assert "hang-e5 not added" in err
        assert json.loads(extras.read_text()) == {"c": ["fine-e5==1.0"]}  # was: {}
