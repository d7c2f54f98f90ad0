"""An install whose process is killed (SIGKILL, a crash): its installer and folder go too.

``kill -9`` on ``skillexec skills install`` left the ``uv pip install --target .tmp-...``
it had started, reparented to init and hanging on its index with no time limit (the
limit was the parent's), and the ``.tmp-<key>-*`` folder, which nothing ever removed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._index import serving
from tests._wheels import make_wheel
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)


def processes_naming(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read() and int(pid) != os.getpid():
                    found.append(int(pid))
        except OSError:
            continue
    return found


def test_a_killed_install_leaves_no_installer_and_its_folder_is_removed_later(
        tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "late-h10", "1.0", "VALUE = 1\n")
    folder = tmp_path / "skills" / "slow"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: slow\ndescription: t.\n---\nRun.\n")
    (folder / "requirements.txt").write_text("late-h10\n")
    envs = tmp_path / "data" / "envs"
    where = ["--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")]
    base = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
            "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
            "SKILLEXEC_ENVIRONMENTS__INSTALLER": "uv",
            "SKILLEXEC_ENVIRONMENTS__INSTALL_TIMEOUT_S": "120"}
    cmd = [sys.executable, "-m", "skillexec", "skills", "install", "slow", *where]
    with serving(wheels, hang=frozenset({"late-h10"})) as index:
        cli = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True,
                               env={**base, "SKILLEXEC_ENVIRONMENTS__INDEX_URL": index.url})
        try:
            deadline = time.monotonic() + 60
            while not any(p.startswith("/simple/late-h10") for p in index.asked):
                assert time.monotonic() < deadline and cli.poll() is None
                time.sleep(0.1)
            [installer] = [p for p in processes_naming(str(envs / ".tmp-")) if p != cli.pid]
            # In a process group of its own, which the CLI's timeout or ^C ends whole.
            assert os.getpgid(installer) == installer != os.getpgid(cli.pid)
            os.kill(cli.pid, signal.SIGKILL)
            cli.wait(10)
            for _ in range(100):
                if not processes_naming(str(envs / ".tmp-")):
                    break
                time.sleep(0.1)
            assert processes_naming(str(envs / ".tmp-")) == []  # was: hanging on, for good
        finally:
            if cli.poll() is None:
                cli.kill()
    assert list(envs.glob(".tmp-*"))  # left by the killed process
    links = {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(wheels)]),
             "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}
    r = subprocess.run(cmd, cwd=tmp_path, env={**base, **links}, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert list(envs.glob(".tmp-*")) == []  # removed under the key's lock; was: for good
