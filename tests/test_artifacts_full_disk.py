"""A full disk while saving an artifact is the resource error that names it (retryable:
space may be freed), whatever the skill does with the exception: a forked skill saw a
RuntimeError and the call ended execution_error ("[Errno 28]" in a skill_raised); an inline
one could catch the OSError and succeed without its file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillContext, SkillExecutionEngine, skill
from skillexec.errors import ErrorType
from skillexec.task import TaskStatus
from tests._isolation import need_sandbox

SAVER = '''
def execute(params, context):
    try:
        context.save_artifact("big.bin", b"x" * 200_000)
    except Exception as exc:
        if not params.get("catch"):
            raise
        return "caught: " + str(exc)
    return "saved"
'''


@skill(id="inline-saver", timeout=20, max_retries=0)
def inline_saver(context: SkillContext, catch: bool = False) -> str:
    try:
        context.save_artifact("big.bin", b"x" * 200_000)
    except Exception as exc:
        if not catch:
            raise
        return f"caught: {exc}"
    return "saved"


@pytest.fixture()
def data_on_small_disk(tmp_path: Path) -> Iterator[Path]:
    """A data folder whose artifacts are on a 64 KiB tmpfs (the journal is not)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    small = Path(tempfile.mkdtemp(prefix="skillexec-full-"))
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)],
                      capture_output=True).returncode != 0:
        small.rmdir()
        pytest.skip("tmpfs cannot be mounted here")
    small.chmod(0o755)
    data = tmp_path / "data"
    data.mkdir()
    (data / "artifacts").symlink_to(small)
    try:
        yield data
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
        small.rmdir()


def _is_the_full_disk(result: object, data: Path) -> None:
    error = getattr(result, "error", None)
    assert getattr(result, "status", None) is TaskStatus.FAILED, result
    assert error is not None and error.type is ErrorType.RESOURCE, error
    assert error.code == "disk_full" and error.retryable
    assert error.message.startswith(
        f"artifact 'big.bin' (200000 bytes) was not saved: the disk holding "
        f"{data / 'artifacts'} is full (")


@pytest.mark.parametrize("catch", [False, True])
def test_inline_a_full_disk_ends_the_call_as_a_resource_error(
        data_on_small_disk: Path, catch: bool) -> None:
    async def go() -> None:
        async with SkillExecutionEngine(data_dir=data_on_small_disk) as engine:
            result = await engine.execute(inline_saver, {"catch": catch})
            _is_the_full_disk(result, data_on_small_disk)
            assert not result.artifacts

    asyncio.run(go())


@pytest.mark.parametrize("catch", [False, True])
def test_forked_a_full_disk_ends_the_call_as_a_resource_error(
        data_on_small_disk: Path, tmp_path: Path, catch: bool) -> None:
    need_sandbox()
    folder = tmp_path / "skills" / "saver"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text(SAVER)
    (folder / "skill.json").write_text(json.dumps({
        "id": "saver", "version": "1.0.0", "entry_point": "main:execute",
        "execution": {"timeout": 30, "max_retries": 0},
        "parameters_schema": {"type": "object",
                              "properties": {"catch": {"type": "boolean"}}}}))
    for p in (tmp_path, tmp_path / "skills", folder):
        p.chmod(0o755)

    async def go() -> None:
        async with SkillExecutionEngine(data_dir=data_on_small_disk,
                                        skills_dir=tmp_path / "skills") as engine:
            _is_the_full_disk(await engine.execute("saver", {"catch": catch}),
                              data_on_small_disk)

    asyncio.run(go())
