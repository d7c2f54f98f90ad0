"""The SQLite journal holds every call's parameters (a script's files among them) and
results: readable by its owner alone, whatever the umask, its WAL files included."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

from skillexec import SkillExecutionEngine
from tests._isolation import need_sandbox
from tests.conftest import FIXTURES, arun


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_scripts_files_are_journaled_where_only_the_owner_reads(tmp_path: Path) -> None:
    """A key sent with -f was kept, base64, in a journal any local user could read (0644)."""
    need_sandbox()
    data = tmp_path / "d"
    key = b"-----BEGIN PRIVATE KEY-----\nsecret\n"

    async def go() -> None:
        async with SkillExecutionEngine(skills_dir=FIXTURES / "scripts", data_dir=data) as e:
            r = await e.run_script("pdf-forms", "scripts/noop.py", files={"priv.pem": key})
            assert r.ok, r.error
            files = sorted(p.name for p in data.glob("journal.db*"))
            assert "journal.db-wal" in files, files  # checked while the engine runs
            for name in files:
                assert _mode(data / name) == 0o600, (name, oct(_mode(data / name)))
    old = os.umask(0o022)
    try:
        arun(go())
    finally:
        os.umask(old)
    assert base64.b64encode(key)[:20] in (data / "journal.db").read_bytes()  # it is there


def test_a_journal_an_earlier_version_left_open_is_narrowed(tmp_path: Path) -> None:
    data = tmp_path / "d"

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=data):
            pass
    arun(go())
    os.chmod(data / "journal.db", 0o644)
    arun(go())
    assert _mode(data / "journal.db") == 0o600
