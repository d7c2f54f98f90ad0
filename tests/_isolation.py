"""Helpers shared by the isolation tests (process runner, sandbox, hostile corpus)."""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from skillexec.runtime.capabilities import detect_capabilities
from skillexec.runtime.context import SkillContext
from skillexec.runtime.entry import build_input
from skillexec.runtime.runners.base import Attempt, AttemptLimits
from skillexec.runtime.runners.process import ProcessRunner, skill_slot
from skillexec.runtime.runners.settings import IsolationSettings
from skillexec.skills.model import Entry, EntryKind, Permission, Skill

HOSTILE = Path(__file__).resolve().parent / "hostile"
REQUIRE = os.environ.get("SKILLEXEC_REQUIRE_SANDBOX") == "1"


def need(condition: bool, reason: str) -> None:
    """Skip a test of a mechanism this machine lacks — or fail, when CI requires it."""
    if condition:
        return
    if REQUIRE:
        pytest.fail(f"SKILLEXEC_REQUIRE_SANDBOX=1 but {reason}")
    pytest.skip(reason)


def need_sandbox() -> None:
    c = detect_capabilities()
    need(c.linux, "not Linux")
    need(c.landlock_abi >= 1, "Landlock is not available")
    need(c.seccomp, "seccomp-bpf is not available")
    need(c.network_namespaces, "network namespaces are not available")


def settings(tmp_path: Path, **kw: Any) -> IsolationSettings:
    # A uid range of its own per test: the leftover checks look for processes by uid, and
    # must not see another test's (or a developer's engine's) skills.
    kw.setdefault("unprivileged_uid", random.randrange(200_000, 2_000_000_000))
    kw.setdefault("unprivileged_uid_count", 100)
    return IsolationSettings(work_root=tmp_path / "work", **kw)


def write_skill(folder: Path, code: str, *, skill_id: str | None = None,
                permissions: frozenset[Permission] = frozenset(), **execution: Any) -> Skill:
    from skillexec.skills.model import ExecutionSettings

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.py").write_text(code)
    return Skill(id=skill_id or folder.name, version="1.0.0",
                 entry=Entry(kind=EntryKind.PYTHON, file=folder / "main.py"), path=folder,
                 permissions=permissions, execution=ExecutionSettings(**execution))


_counter = [0]


def attempt(skill: Skill, tmp_path: Path, params: dict[str, Any] | None = None, *,
            timeout_s: float | None = None, progress: list[Any] | None = None,
            artifacts: list[Any] | None = None, config: dict[str, Any] | None = None,
            ) -> Attempt:
    _counter[0] += 1
    n = _counter[0]
    timeout = timeout_s or skill.execution.timeout_s or 10.0

    def save(name: str, data: bytes, mime: str | None) -> Any:
        from skillexec.task import ArtifactRef

        ref = ArtifactRef(id=f"a{len(artifacts or [])}", name=name, mime=mime or "", size=len(data),
                          sha256="0" * 64)
        if artifacts is not None:
            artifacts.append((name, data, mime))
        return ref

    ctx = SkillContext(
        task_id=f"task{n}", skill_id=skill.id, attempt=1,
        workdir=tmp_path / "work" / skill_slot(skill.id) / f"t{n}",
        config=config or {}, deadline=time.time() + timeout, log=logging.getLogger("test"),
        progress_sink=(lambda f, m: progress.append((f, m))) if progress is not None else None,
        artifact_sink=save)
    return Attempt(skill=skill, input_data=build_input(params or {}, config or {}), context=ctx,
                   limits=AttemptLimits(timeout_s=timeout))


def _cwd(p: psutil.Process) -> str:
    try:
        return p.cwd() or ""
    except (psutil.Error, OSError):  # OSError: e.g. a cwd too long to read (ENAMETOOLONG)
        return ""


def _spares(zygotes: set[int], root: str | None) -> set[int]:
    """Each live zygote's spare (runners/_spare.py): its child when that is its only one
    and it is in no workdir (a call's child works in its own). Anything else left beside
    a spare makes two, and neither is excused; and a zygote sweeps a lone leftover before
    it forks a spare (see runners/_reaper.py)."""
    out = set()
    for z in zygotes:
        try:
            with open(f"/proc/{z}/task/{z}/children") as f:
                kids = f.read().split()
        except OSError:
            continue
        if len(kids) == 1:
            try:
                cwd = os.readlink(f"/proc/{kids[0]}/cwd")
            except OSError:
                continue
            if root is None or not (cwd + "/").startswith(root):
                out.add(int(kids[0]))
    return out


def skill_processes(runner: ProcessRunner) -> list[psutil.Process]:
    """Processes still running as one of the runner's skill uids, or (as a user without
    root, where skills keep the user's uid) in one of its workdirs; zygotes and the spare
    child each one keeps waiting for its next call excepted."""
    s = runner.settings
    lo, hi = s.unprivileged_uid, s.unprivileged_uid + s.unprivileged_uid_count
    root = str(s.work_root) + "/" if s.work_root is not None else None
    zygotes = {z.pid for z in runner.zygotes.live.values()}
    if s.zygote_spare:  # without spares a zygote's only child is a call's
        zygotes |= _spares(zygotes, root)
    out = []
    for p in psutil.process_iter():
        try:
            if p.pid in zygotes or p.status() == psutil.STATUS_ZOMBIE:
                continue
            if lo <= p.uids().real < hi or (root is not None and _cwd(p).startswith(root)):
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


def processes_in(folder: Path, *, timeout_s: float = 3.0) -> list[psutil.Process]:
    """Live processes whose working directory is ``folder`` or beneath it (any uid, any
    PID namespace), after waiting up to ``timeout_s`` for them to go."""
    root = str(folder)
    deadline = time.monotonic() + timeout_s
    while True:
        left = []
        for p in psutil.process_iter():
            cwd = _cwd(p)
            try:
                if (cwd == root or cwd.startswith(root + "/")) \
                        and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(p)
            except (psutil.Error, OSError):
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def wait_gone(runner: ProcessRunner, *, timeout_s: float = 3.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    left = skill_processes(runner)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = skill_processes(runner)
    return left


# A skill that answers what its child holds above stdio, by kind (after a pause, so that
# concurrent children overlap).
HELD_FDS = ("import os, stat, time\n"
            "def execute(d):\n"
            "    kinds = {}\n"
            "    for fd in range(3, 1024):\n"
            "        try:\n"
            "            mode = os.fstat(fd).st_mode\n"
            "        except OSError:\n"
            "            continue\n"
            "        k = 'sock' if stat.S_ISSOCK(mode) else 'fifo' if stat.S_ISFIFO(mode) \\\n"
            "            else 'dir' if stat.S_ISDIR(mode) else 'other'\n"
            "        kinds[k] = kinds.get(k, 0) + 1\n"
            "    time.sleep(0.05)\n"
            "    return kinds\n")
NOOP = "def execute(input_data):\n    return {'ok': True, 'x': input_data.get('x')}\n"
