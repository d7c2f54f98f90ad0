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


def test_a_callers_file_that_meets_a_full_disk_is_the_disks_fault(small_disk: Path) -> None:
    """A call's file written into a workspace on a full disk was the caller's error
    (parameter_error/file_not_written); it is the machine's state (resource_error/disk_full,
    retryable once space is freed)."""
    import base64

    from skillexec.errors import ResourceError
    from skillexec.runtime.runners._script_files import write_inputs

    work = small_disk / "work"
    work.mkdir()
    with pytest.raises(ResourceError) as caught:
        write_inputs(str(work), {"big.bin": base64.b64encode(b"\0" * (1 << 20)).decode()},
                     uid=None)
    assert caught.value.code == "disk_full" and caught.value.retryable
    assert "could not be written into the workspace: the disk holding" in str(caught.value)
