"""``sessions show`` counts what the user sees (trialA 19: "a session with 3 files reports
12 entries"): the files and folders its scripts made, not the engine's own folders in it
(each call's TMPDIR, ``.tmp``; HOME's ``.cache``, ``.config``, ``.local``), which the
``sessions.max_files`` quota still counts (``entries``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._isolation import need_sandbox
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)

SCRIPT = """\
import os, tempfile
os.makedirs("out", exist_ok=True)
for name in ("a.txt", "b.txt", "out/c.txt"):
    with open(name, "w") as f:
        f.write("x")
os.makedirs(os.path.expanduser("~/.cache/lib_t3"), exist_ok=True)  # a library's cache
tempfile.mkdtemp()  # in its TMPDIR, left behind
"""


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args,
                           "--data-dir", str(tmp_path / "data")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def test_sessions_show_counts_the_entries_the_scripts_made(tmp_path: Path) -> None:
    need_sandbox()
    folder = tmp_path / "skills" / "writer-t3"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: writer-t3\ndescription: writes.\n---\nUse.\n")
    (folder / "scripts" / "w.py").write_text(SCRIPT)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    sid = cli(tmp_path, "sessions", "create").stdout.strip()
    r = cli(tmp_path, "script", "--skills-dir", str(tmp_path / "skills"), "--session", sid,
            "writer-t3", "scripts/w.py")
    assert r.returncode == 0, r.stderr
    shown = json.loads(cli(tmp_path, "sessions", "show", sid, "--json").stdout)
    assert [f["path"] for f in shown["files"]] == ["a.txt", "b.txt", "out/c.txt"]
    # a.txt, b.txt, out, out/c.txt; the quota's count takes .tmp (and the folder left in
    # it), .cache and .cache/lib_t3 too.
    assert shown["made"] == 4 and shown["entries"] == 8
    text = cli(tmp_path, "sessions", "show", sid).stdout
    assert f"session {sid} of local: 3 files, 3 bytes (4 entries with its folders and " \
        "links)" in " ".join(text.split())
