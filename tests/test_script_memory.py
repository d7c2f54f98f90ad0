"""A Python script's memory where no memory cgroup bounds it (a user without root): what
it writes is bounded, what its libraries and threads only reserve is not.

As ``nobody`` a matplotlib script failed at the default 512 MB with "failed to map segment
from shared object" (fontTools' compiled module could not be mapped under RLIMIT_AS), read
as a broken wheel. Its memory is now RLIMIT_DATA (what it writes), its address space a
command's; a script that really allocates past memory_mb is still refused, and says so.
"""

from __future__ import annotations

import os
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.script_stderr import address_space_hint
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

# Reserves 768 MiB as a JVM, OpenBLAS or glibc's per-thread arenas do (PROT_NONE: no memory
# is written), then writes what it is told to (MiB).
_SCRIPT = """\
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
p = libc.mmap(None, 3 << 28, 0, 0x22, -1, 0)  # PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS
assert p not in (None, ctypes.c_void_p(-1).value), ctypes.get_errno()
block = bytearray(int(sys.argv[1]) << 20)
print("ok", len(block) >> 20)
"""


def _runs(tmp_path: Path, mib: int) -> tuple[ExecutionResult, bool]:
    folder = tmp_path / "skills" / "mem"
    if not folder.exists():
        (folder / "scripts").mkdir(parents=True)
        (folder / "SKILL.md").write_text("---\nname: mem\ndescription: M.\n---\nRun it.\n")
        (folder / "scripts" / "use.py").write_text(_SCRIPT)
        os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> tuple[ExecutionResult, bool]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("mem", "scripts/use.py", args=[str(mib)])
            cgroups = getattr(e._pipeline.runners["sandbox"], "zygotes").cgroups
            return r, cgroups is not None and cgroups.has_memory
    return arun(go())


def test_reservations_are_not_memory(tmp_path: Path) -> None:
    need_sandbox()
    r, _ = _runs(tmp_path, 64)
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert r.output["stdout"] == "ok 64\n"


def test_writing_past_memory_mb_is_refused_and_said(tmp_path: Path) -> None:
    need_sandbox()
    r, memory_cgroup = _runs(tmp_path, 900)  # over the default 512 MB
    assert r.status is not TaskStatus.SUCCEEDED, r.output
    assert r.error is not None
    if not memory_cgroup:  # RLIMIT_DATA: a MemoryError, and the hint
        assert r.error.code == "script_exit", r.error
        assert "MemoryError" in r.error.details["stderr"]
        assert r.error.details["memory"].startswith("its memory is limited to 512 MB")


def test_shared_memory_is_bounded_all_the_same(tmp_path: Path) -> None:
    """Shared anonymous memory, which RLIMIT_DATA does not count, is bounded by the address
    space: memory_mb and 1 GB more (4x + 1 GB let a script touch 1.8 GiB at 512 MB)."""
    need_sandbox()
    folder = tmp_path / "skills" / "shm"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: shm\ndescription: S.\n---\nRun it.\n")
    (folder / "scripts" / "grab.py").write_text(
        "import mmap\nm = mmap.mmap(-1, 1800 << 20)\nm[::4096] = b'x' * len(m[::4096])\n"
        "print('grabbed')\n")
    os.chmod(tmp_path, 0o755)

    async def go() -> tuple[ExecutionResult, bool]:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            r = await e.run_script("shm", "scripts/grab.py")
            cgroups = getattr(e._pipeline.runners["sandbox"], "zygotes").cgroups
            return r, cgroups is not None and cgroups.has_memory
    r, _memory_cgroup = arun(go())
    assert r.status is not TaskStatus.SUCCEEDED, r.output  # a cgroup, or the rlimit


def test_a_library_that_cannot_be_mapped_is_named_a_memory_limit() -> None:
    stderr = ("ImportError: /env/fontTools/varLib/iup.cpython-311-x86_64-linux-gnu.so: "
              "failed to map segment from shared object\n")
    hint = address_space_hint(stderr, limit_mb=512)
    assert hint is not None and hint.startswith("its memory is limited to 512 MB")
