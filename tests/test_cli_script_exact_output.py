"""``skillexec script`` into a pipe or a file prints the script's streams exactly.

The command escaped every control character and dropped colour codes whether or not it
printed to a terminal: a CSV written by Python's csv module (lines end ``\\r\\n``) arrived
in ``> out.csv`` as ``...,status\\u000d`` (six characters of text), and ``| less -R`` lost
a script's colours. On a terminal the escaping stays (a script may not move the cursor,
retitle the window or forge the CLI's own lines there); elsewhere the bytes are the
script's, as ``artifacts get`` already gives them.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

SCRIPT = (
    "import sys\n"
    "sys.stdout.buffer.write(b'channel,spend\\r\\nads,10\\r\\n\\x1b[31mred\\x1b[0m\\tx\\x07\\n')\n"
    "sys.stderr.buffer.write(b'warn\\r\\n\\x1b[33mcareful\\x1b[0m\\x00\\n')\n"
)


def _skill(root: Path) -> Path:
    folder = root / "skills" / "csvout"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: csvout\ndescription: Writes CSV.\n---\nRun scripts/out.py.\n")
    (folder / "scripts" / "out.py").write_text(SCRIPT)
    return root / "skills"


def _argv(root: Path) -> list[str]:
    return [sys.executable, "-m", "skillexec", "script", "csvout", "scripts/out.py",
            "--skills-dir", str(_skill(root)), "--data-dir", str(root / "data")]


def test_piped_streams_are_the_scripts_bytes(tmp_path: Path) -> None:
    p = subprocess.run(_argv(tmp_path), capture_output=True, timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"channel,spend\r\nads,10\r\n\x1b[31mred\x1b[0m\tx\x07\n"
    assert p.stderr == b"warn\r\n\x1b[33mcareful\x1b[0m\x00\n"


def test_a_file_gets_the_scripts_bytes(tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    with out.open("wb") as sink:
        p = subprocess.run(_argv(tmp_path), stdout=sink, stderr=subprocess.PIPE,
                           timeout=120, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert out.read_bytes().startswith(b"channel,spend\r\nads,10\r\n")


def test_a_terminal_still_gets_them_made_safe(tmp_path: Path) -> None:
    """On a terminal (a pty here) controls are escaped and colours dropped, as before."""
    argv = _argv(tmp_path)
    leader, follower = pty.openpty()
    try:
        p = subprocess.run(argv, stdout=follower, stderr=subprocess.PIPE, timeout=120,
                           cwd=tmp_path)
        os.close(follower)
        got = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the other end is closed and all was read
                break
            if not chunk:
                break
            got += chunk
    finally:
        os.close(leader)
    assert p.returncode == 0, p.stderr
    text = got.decode().replace("\r\n", "\n")  # the pty's own line discipline adds \r
    assert text == "channel,spend\\u000d\nads,10\\u000d\nred\tx\\u0007\n", got
    assert b"\x1b" not in got and b"\x07" not in got
