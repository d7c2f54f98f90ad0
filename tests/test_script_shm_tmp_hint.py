"""A script refused /dev/shm or /tmp is told which, and what to do.

The sandbox lets a script write its workspace alone. ``multiprocessing.Pool``,
``ProcessPoolExecutor`` and ``SharedMemory`` need /dev/shm (a POSIX semaphore or segment),
and many skills write a fixed ``/tmp/...`` path (floor-plan-svg's ``/tmp/bathroom.svg``):
both ended ``PermissionError: [Errno 13]`` with a hint that said only "write only in its
workspace", which names neither (trialA, findings 3 and 12). The hint now names /dev/shm
(threads work; the process level has it) or /tmp (TMPDIR and the workspace are the
script's; a path to write can be given in the workspace).
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests.conftest import arun


def _run(tmp_path: Path, code: str) -> ExecutionResult:
    folder = tmp_path / "skills" / "work"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: work\ndescription: W.\n---\nRun it.\n")
    (folder / "scripts" / "go.py").write_text(code)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            return await e.run_script("work", "scripts/go.py")
    return arun(go())


def _hint(r: ExecutionResult) -> str:
    assert r.error is not None and r.error.code == "script_exit", r.error
    hint = r.error.details["sandbox"]
    assert hint in r.error.message
    return str(hint)


def test_a_process_pool_is_told_of_dev_shm(tmp_path: Path) -> None:
    need_sandbox()
    hint = _hint(_run(tmp_path / "a", "import multiprocessing as mp\n"
                      "def sq(x):\n    return x * x\n"
                      "if __name__ == '__main__':\n"
                      "    with mp.Pool(2) as p:\n        print(sum(p.map(sq, range(9))))\n"))
    assert "/dev/shm" in hint and "multiprocessing" in hint, hint
    assert 'isolation.default_level = "process"' in hint and "threads" in hint, hint


def test_shared_memory_is_told_of_dev_shm(tmp_path: Path) -> None:
    need_sandbox()
    hint = _hint(_run(tmp_path / "b", "from multiprocessing import shared_memory\n"
                      "shared_memory.SharedMemory(create=True, size=10)\n"))
    assert "/dev/shm" in hint, hint


def test_a_fixed_tmp_path_is_told_of_tmp(tmp_path: Path) -> None:
    need_sandbox()
    hint = _hint(_run(tmp_path / "c", "open('/tmp/bathroom.svg', 'w').write('<svg/>')\n"))
    assert "/tmp" in hint and "TMPDIR" in hint and "/dev/shm" not in hint, hint
