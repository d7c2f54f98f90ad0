"""``skillexec script`` sends stdin with ``--stdin -`` only; piped data it did not send
gets a note (``echo hi | skillexec script ...`` gave the script an empty stdin in
silence), and a stdin with nothing waiting is never waited for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

NOTE = ("note: stdin holds data that was not sent to the script (its stdin was empty): send "
        "it with --stdin -\n")


def _setup(root: Path) -> list[str]:
    folder = root / "skills" / "probe"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: probe\ndescription: Count stdin. Use to "
                                     "probe.\n---\nRun scripts/count.py.\n")
    (folder / "scripts" / "count.py").write_text(
        "import sys\nprint(len(sys.stdin.buffer.read()))\n")
    return [sys.executable, "-m", "skillexec", "script", "--skills-dir", str(root / "skills"),
            "--data-dir", str(root / "data")]


def _run(cmd: list[str], root: Path, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SKILLEXEC_SKILLS_DIR"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=root, env=env,
                          **kw)


def test_piped_data_not_sent_is_noted(tmp_path: Path) -> None:
    cmd = _setup(tmp_path)
    p = _run([*cmd, "probe", "scripts/count.py"], tmp_path, input="hi\n")
    assert (p.returncode, p.stdout) == (0, "0\n"), p.stderr
    assert p.stderr.endswith(NOTE), p.stderr

    (tmp_path / "in.txt").write_text("hello\n")
    with open(tmp_path / "in.txt") as f:  # `< in.txt`: a file with bytes past its offset
        redirected = _run([*cmd, "probe", "scripts/count.py"], tmp_path, stdin=f)
    assert redirected.stderr.endswith(NOTE), redirected.stderr

    sent = _run([*cmd, "--stdin", "-", "probe", "scripts/count.py"], tmp_path, input="hi\n")
    assert (sent.returncode, sent.stdout) == (0, "3\n"), sent.stderr
    assert "note:" not in sent.stderr


def test_no_note_and_no_wait_where_nothing_is_waiting(tmp_path: Path) -> None:
    cmd = _setup(tmp_path)
    quiet = _run([*cmd, "probe", "scripts/count.py"], tmp_path, stdin=subprocess.DEVNULL)
    assert (quiet.returncode, quiet.stdout) == (0, "0\n"), quiet.stderr
    assert "note:" not in quiet.stderr

    # a pipe kept open with nothing in it: the command ends without reading or waiting
    env = {k: v for k, v in os.environ.items() if k != "SKILLEXEC_SKILLS_DIR"}
    proc = subprocess.Popen([*cmd, "probe", "scripts/count.py"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
                            env=env)
    try:
        assert proc.wait(timeout=120) == 0
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.kill()
    assert proc.stderr is not None and b"note:" not in proc.stderr.read()
