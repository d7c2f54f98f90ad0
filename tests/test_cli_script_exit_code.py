"""``skillexec script`` exits with the script's own code where the script ran and exited
nonzero (a scanner's 2 for "blocked" and argparse's 2 became 1), and with skillexec's own
where it did not: 2 refused before running, 1 timed out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    folder = root / "skills" / "exits"
    if not folder.exists():
        (folder / "scripts").mkdir(parents=True)
        (folder / "SKILL.md").write_text("---\nname: exits\ndescription: Exit as told. Use "
                                         "to probe.\n---\nRun scripts/exit.py CODE.\n")
        (folder / "scripts" / "exit.py").write_text(
            "import argparse, sys, time\n"
            "p = argparse.ArgumentParser()\n"
            "p.add_argument('code', type=int)\n"
            "code = p.parse_args().code\n"
            "print('BLOCKED: 2 findings' if code else 'CLEAN')\n"
            "if code < 0:\n"
            "    time.sleep(60)\n"
            "sys.exit(code)\n")
    env = {k: v for k, v in os.environ.items() if k != "SKILLEXEC_SKILLS_DIR"}
    return subprocess.run([sys.executable, "-m", "skillexec", "script", "--skills-dir",
                           str(root / "skills"), "--data-dir", str(root / "data"), *args],
                          capture_output=True, text=True, timeout=120, cwd=root, env=env,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("code", [0, 1, 2, 3, 77, 255])
def test_the_scripts_own_exit_code_is_the_commands(tmp_path: Path, code: int) -> None:
    p = _cli(tmp_path, "exits", "scripts/exit.py", str(code))
    assert p.returncode == code, p.stderr
    assert p.stdout == ("BLOCKED: 2 findings\n" if code else "CLEAN\n")


def test_argparse_refusing_its_arguments_exits_2_as_plain_python(tmp_path: Path) -> None:
    p = _cli(tmp_path, "exits", "scripts/exit.py", "not-a-number")
    plain = subprocess.run([sys.executable, str(tmp_path / "skills/exits/scripts/exit.py"),
                            "not-a-number"], capture_output=True, text=True, timeout=60)
    assert p.returncode == plain.returncode == 2
    assert "invalid int value" in p.stderr


def test_skillexecs_own_ends_keep_their_codes(tmp_path: Path) -> None:
    refused = _cli(tmp_path, "exits", "scripts/nope.py")
    assert refused.returncode == 2, refused.stderr
    timed_out = _cli(tmp_path, "--timeout", "1", "exits", "scripts/exit.py", "--", "-1")
    assert timed_out.returncode == 1, timed_out.stderr
    assert "timed_out" in timed_out.stderr
