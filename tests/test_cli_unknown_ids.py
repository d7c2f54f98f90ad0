"""An id the journal does not know is bad input: exit 2 and one sentence naming it, whichever
command was given it (``keys revoke`` exited 1, as if a call had failed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args,
                           "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.fixture()
def journal(tmp_path: Path) -> Path:
    made = cli(tmp_path, "keys", "create", "--name", "someone")  # a journal, with a key
    assert made.returncode == 0, made.stderr
    return tmp_path


@pytest.mark.parametrize(("args", "says"), [
    (("keys", "revoke", "key_nope"), "no valid key with id 'key_nope'"),
    (("tasks", "show", "nope"), "no task with id 'nope'"),
    (("artifacts", "get", "nope"), "no artifact with id 'nope'"),
    (("report", "task", "nope"), "no task with id 'nope' in the journal"),
])
def test_an_unknown_id_is_bad_input(journal: Path, args: tuple[str, ...], says: str) -> None:
    p = cli(journal, *args)
    assert (p.returncode, p.stdout, p.stderr) == (2, "", f"skillexec: {says}\n")
