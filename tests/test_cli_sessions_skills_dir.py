"""``skillexec sessions`` takes ``--skills-dir`` as ``script`` beside it does: a command line
copied from one to the other (``SID=$(skillexec sessions create --skills-dir S --data-dir
D)``) was refused, and the refusal's text became the session id of the next call."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], capture_output=True,
                          text=True, timeout=60, cwd=cwd)


def test_sessions_take_skills_dir_beside_data_dir(tmp_path: Path) -> None:
    skills, data = tmp_path / "skills-elsewhere", tmp_path / "data"
    skills.mkdir()
    where = ("--skills-dir", str(skills), "--data-dir", str(data))
    made = cli(tmp_path, "sessions", "create", *where)
    assert (made.returncode, made.stderr) == (0, "")
    sid = made.stdout.strip()
    assert re.fullmatch(r"s_[0-9a-f]{24}", sid)
    assert sid in cli(tmp_path, "sessions", "list", "--json", *where).stdout
    assert cli(tmp_path, "sessions", "show", sid, *where).returncode == 0
    assert cli(tmp_path, "sessions", "rm", sid, *where).stdout == f"removed session {sid}\n"


def test_a_skills_dir_that_is_not_there_is_refused_in_one_sentence(tmp_path: Path) -> None:
    p = cli(tmp_path, "sessions", "create", "--skills-dir", str(tmp_path / "nope"),
            "--data-dir", str(tmp_path / "data"))
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == f"skillexec: --skills-dir {tmp_path / 'nope'}: no such folder\n"
