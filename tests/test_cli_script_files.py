"""``skillexec script -f``: two files for one destination were one file (the later replaced
the earlier, silently); the command now refuses them, naming both, before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", "script", "s", "run.py", *args,
                           "--data-dir", str(cwd / "data"), "--skills-dir", str(cwd)],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.mark.parametrize(("files", "says"), [
    (("a/x.txt", "b/x.txt"), "--file b/x.txt: x.txt is given twice (--file a/x.txt first)"),
    (("./y.txt=a/x.txt", "y.txt=b/x.txt"),
     "--file y.txt=b/x.txt: y.txt is given twice (--file ./y.txt=a/x.txt first)"),
])
def test_two_files_for_one_destination_are_refused(tmp_path: Path, files: tuple[str, ...],
                                                    says: str) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.txt").write_text(d)
    args = [a for f in files for a in ("-f", f)]
    p = cli(tmp_path, *args)
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == (f"skillexec: {says}; name another destination with DEST=PATH\n")
    assert not (tmp_path / "data").exists()  # refused before an engine was made
