"""A data folder this user may not write, as a new user running as ``nobody`` met it: the
command said SQLite's words ("cannot open the data folder ...: unable to open database file")
or a bare "Permission denied: .../sessions". Each now says, in one sentence, that this user
(named, with its uid) may not write the folder (named, with its owner and mode).

Run as root: the folders are made root's, then the command runs as nobody."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a command "
                                 "as another user")]

_OTHER_PYTHON = shutil.which(f"python3.{sys.version_info.minor}", path="/usr/bin:/bin")
NOBODY = 65534


@pytest.fixture()
def home() -> Iterator[Path]:
    """A folder nobody can enter and read (pytest's tmp_path is private to root), with a
    skill of one script; everything in it root's."""
    path = Path(tempfile.mkdtemp(prefix="skillexec-unwritable-"))
    path.chmod(0o755)
    (path / "skills" / "hello" / "scripts").mkdir(parents=True)
    (path / "skills" / "hello" / "SKILL.md").write_text(
        "---\nname: hello\ndescription: Says hello.\n---\nRun scripts/hi.py.\n")
    (path / "skills" / "hello" / "scripts" / "hi.py").write_text("print('hi')\n")
    for p in (path, *path.rglob("*")):
        p.chmod(0o755 if p.is_dir() else 0o644)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _as_nobody(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # This interpreter may live where nobody cannot go (root's home): the system's, same
    # minor version, with this environment's packages.
    python = _OTHER_PYTHON or pytest.skip("no system python3.x for another user")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep
           + sysconfig.get_paths()["purelib"], "COLUMNS": "200"}
    env.pop("SKILLEXEC_SKILLS_DIR", None)
    env.pop("SKILLEXEC_DATA_DIR", None)
    return subprocess.run([python, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120,
                          user=NOBODY, group=NOBODY, extra_groups=[])


def _one_sentence(r: subprocess.CompletedProcess[str], says: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert lines[0] == "skillexec: " + says, lines[0]


def test_a_data_folder_nobody_may_write_is_said_so(home: Path) -> None:
    data = home / "rootonly"
    data.mkdir(mode=0o755)
    who = f"this user (nobody, uid {NOBODY}) may not write in {data} (root's, mode 0755)"
    script = ("script", "hello", "scripts/hi.py", "--skills-dir", "skills")
    _one_sentence(_as_nobody(home, *script, "--data-dir", str(data)),
                  f"cannot open the data folder {data}: {who}; pass --data-dir a folder this "
                  "user may write")
    _one_sentence(_as_nobody(home, "serve", "--port", "0", "--data-dir", str(data)),
                  f"cannot open the data folder {data}: {who}; pass --data-dir a folder this "
                  "user may write")
    _one_sentence(_as_nobody(home, "sessions", "create", "--data-dir", str(data)),
                  f"{data}/sessions: {who}; run as a user who may, or use a folder this user "
                  "may write")
    # One to be made in a folder nobody may write: that folder is named.
    _one_sentence(_as_nobody(home, *script, "--data-dir", str(data / "sub")),
                  f"cannot open the data folder {data / 'sub'}: {who}; pass --data-dir a folder "
                  "this user may write")
    # A folder nobody may write in, holding a journal that is root's alone: the journal is
    # what refuses.
    shared = home / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (shared / "journal.db").write_bytes(b"")
    (shared / "journal.db").chmod(0o600)
    _one_sentence(_as_nobody(home, *script, "--data-dir", str(shared)),
                  f"cannot open the data folder {shared}: this user (nobody, uid {NOBODY}) may "
                  f"not write {shared}/journal.db (root's, mode 0600); pass --data-dir a folder "
                  "this user may write")
    assert list(data.iterdir()) == []
