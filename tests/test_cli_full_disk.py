"""A full disk under the data folder is named as such: SQLite says only "disk I/O error"
when it cannot grow its shared-memory file, which sent a user looking for a broken disk."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.test_cli_errors import cli, inline_skill, one_sentence


@pytest.fixture()
def small_disk() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    where = Path(tempfile.mkdtemp(prefix="skillexec-full-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", str(where)],
                      capture_output=True).returncode != 0:
        where.rmdir()
        pytest.skip("tmpfs cannot be mounted here")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)
        where.rmdir()


def test_a_full_disk_is_said_to_be_full(small_disk: Path, tmp_path: Path) -> None:
    inline_skill(tmp_path)
    data = str(small_disk / "data")
    r = cli(tmp_path, "run", "one", "--data-dir", data)
    assert r.returncode == 0, r.stderr
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)  # the rest of the disk
    try:
        while os.write(fd, b"\0" * 4096):
            pass
    except OSError:
        pass
    finally:
        os.close(fd)
    for args in (("tasks", "list"), ("run", "one")):
        one_sentence(cli(tmp_path, *args, "--data-dir", data), 2,
                     f"(the disk holding {data} is full: ")
