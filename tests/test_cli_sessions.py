"""``skillexec sessions show`` and ``sessions rm`` refuse an id alike: one sentence, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def cli(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args, "--data-dir", str(data)],
                          capture_output=True, text=True, timeout=60, cwd=data.parent)


@pytest.mark.parametrize(("session_id", "says"), [
    ("s_" + "0" * 24, "session 's_000000000000000000000000' is not open (it was closed, "
                      "or never existed)"),
    ("nope", "'nope' is not a session id (they look like s_ and 24 hex digits)"),
])
def test_show_and_rm_word_an_unknown_id_the_same(tmp_path: Path, session_id: str,
                                                 says: str) -> None:
    data = tmp_path / "data"
    shown, removed = cli(data, "sessions", "show", session_id), \
        cli(data, "sessions", "rm", session_id)
    for p in (shown, removed):  # rm said "no open session 'nope'" for both
        assert (p.returncode, p.stdout, p.stderr) == (2, "", f"skillexec: {says}\n")


def test_rm_of_a_removed_session_says_it_is_not_open(tmp_path: Path) -> None:
    data = tmp_path / "data"
    sid = cli(data, "sessions", "create").stdout.strip()
    assert cli(data, "sessions", "rm", sid).stdout == f"removed session {sid}\n"
    again = cli(data, "sessions", "rm", sid)
    assert again.returncode == 2
    assert again.stderr == cli(data, "sessions", "show", sid).stderr == (
        f"skillexec: session {sid!r} is not open (it was closed, or never existed)\n")


@pytest.mark.parametrize("ttl", ["-5", "0", "99999999"])
def test_create_names_the_option_the_user_gave(tmp_path: Path, ttl: str) -> None:
    p = cli(tmp_path / "data", "sessions", "create", "--ttl", ttl)
    # was: "a session's ttl_s must be ... (got -5.0)": the API's field, not the option
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == f"skillexec: --ttl {ttl}: must be over 0 and at most 86400 seconds\n"


def test_a_sessions_file_count_is_what_its_listing_shows(tmp_path: Path) -> None:
    """``files`` (list, show) counted every entry, folders and links too: 5 "files" beside a
    listing of 2. Now ``files`` and ``bytes`` are the listed files' (hidden ones too), and
    ``entries`` is everything, what the ``sessions.max_files`` quota counts."""
    import json
    import os

    from skillexec.config import EngineConfig

    data = tmp_path / "data"
    sid = cli(data, "sessions", "create").stdout.strip()
    folder = EngineConfig(data_dir=data).session_store().root / sid
    (folder / ".hidden").write_bytes(b"12345")
    (folder / "d").mkdir()
    (folder / "d" / "a.txt").write_bytes(b"abc")
    (folder / "empty").mkdir()
    os.symlink("d/a.txt", folder / "link")
    shown = json.loads(cli(data, "sessions", "show", sid, "--json").stdout)
    listed = json.loads(cli(data, "sessions", "list", "--json").stdout)
    assert [f["path"] for f in shown["files"]] == [".hidden", "d/a.txt"]
    assert listed[0]["files"] == len(shown["files"]) == 2
    assert listed[0]["bytes"] == sum(f["size"] for f in shown["files"]) == 8
    assert listed[0]["entries"] == 5
    text = cli(data, "sessions", "show", sid).stdout
    assert f"session {sid} of local: 2 files, 8 bytes (5 entries" in text


def test_a_script_in_a_session_of_another_data_dir_says_where_it_looked(
        tmp_path: Path) -> None:
    """A session opened in another folder (its own .skillexec) was 'not open (it was
    closed, or never existed)', with nothing of where sessions are kept."""
    import os
    skills = tmp_path / "skills" / "s"
    (skills / "scripts").mkdir(parents=True)
    (skills / "SKILL.md").write_text("---\nname: s\ndescription: S.\n---\nGo.\n")
    (skills / "scripts" / "a.py").write_text("print(1)\n")
    data = tmp_path / "here"
    r = subprocess.run([sys.executable, "-m", "skillexec", "script", "s", "scripts/a.py",
                        "--session", "s_" + "0" * 24, "--skills-dir", str(tmp_path / "skills"),
                        "--data-dir", str(data)], capture_output=True, text=True, timeout=60,
                       cwd=tmp_path, env={**os.environ})
    assert r.returncode == 2, r.stderr
    assert (f"sessions are kept in the data dir, here {data} (one opened elsewhere: pass its "
            "--data-dir); open one with: skillexec sessions create") in r.stderr, r.stderr
