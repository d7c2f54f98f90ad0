"""A zygote's spare: a child forked before its call, used for one call, holding nothing of
any call while it waits, and gone with its zygote (see runners/_spare.py)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from skillexec.runtime.runners.sandbox import SandboxRunner
from tests._isolation import attempt, need_sandbox, settings, write_skill

# The call's own pid, and the workdir it ran in, as the skill sees them.
CODE = ("import os\n"
        "def execute(d):\n"
        "    return {'pid': os.getpid(), 'cwd': os.getcwd()}\n")


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


def _spare_of(zygote: int, *, timeout_s: float = 5.0) -> int:
    """The zygote's only child once no call runs: its spare."""
    deadline = time.monotonic() + timeout_s
    while True:
        kids = _children(zygote)
        if len(kids) == 1 or time.monotonic() > deadline:
            assert len(kids) == 1, f"the zygote's children: {kids}"
            return kids[0]
        time.sleep(0.02)


def _gone(pid: int, *, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True  # dead, not reaped yet by whoever now owns it
        except FileNotFoundError:
            return True
        time.sleep(0.02)
    return False


def _settled_fds(pid: int, *, timeout_s: float = 5.0) -> list[str]:
    """What ``pid`` holds once it has closed the zygote's descriptors: a spare is found
    as soon as it is forked, and may still be closing them (see _child.detach)."""
    deadline = time.monotonic() + timeout_s
    while True:
        held = []
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                held.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except FileNotFoundError:
                pass  # closed between the listing and the read
        if len(held) <= 5 or time.monotonic() > deadline:
            return held
        time.sleep(0.02)


def test_a_spare_waits_with_nothing_of_a_call_and_serves_one_call(tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="spare")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            first = await r.run(attempt(skill, tmp_path))
            assert first.ok, first.error
            zygote = r.zygotes.live[skill.key].pid
            spare = _spare_of(zygote)
            # While it waits: none of the call's descriptors, cwd or environment.
            workdir = first.output["cwd"]
            assert os.readlink(f"/proc/{spare}/cwd") != workdir
            with open(f"/proc/{spare}/environ", "rb") as f:
                assert workdir.encode() not in f.read()
            held = _settled_fds(spare)
            for target in held:
                assert not target.startswith(workdir), target
            assert len(held) <= 5, held  # stdio, /dev/null, its socket
            second = await r.run(attempt(skill, tmp_path))
            assert second.ok, second.error
            assert second.output["cwd"] != workdir  # confined to its own call's workdir
            # Used once, never again: the next call gets the spare forked after it.
            assert _gone(spare)
            assert _spare_of(zygote) != spare
        finally:
            await r.close()
        assert _gone(spare)

    asyncio.run(go())


def test_without_spares_no_child_waits(tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="nospare")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=False))
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
            zygote = r.zygotes.live[skill.key].pid
            time.sleep(0.2)
            assert _children(zygote) == []
        finally:
            await r.close()

    asyncio.run(go())


def test_a_spare_is_not_swept_and_leftovers_still_are(tmp_path: Path) -> None:
    """A daemon a call leaves behind dies once no call runs; the spare waiting beside it
    is not taken for one while nothing else is left."""
    need_sandbox()
    code = ("import os, time\n"
            "def execute(d):\n"
            "    if d.get('daemon') and os.fork() == 0:\n"
            "        os.setsid()\n"
            "        if os.fork() == 0:\n"
            "            time.sleep(60)\n"
            "        os._exit(0)\n"
            "    return os.getpid()\n")
    skill = write_skill(tmp_path / "d", code, skill_id="daemon")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zygote = r.zygotes.live[skill.key].pid
            spare = _spare_of(zygote)
            time.sleep(0.3)
            assert _children(zygote) == [spare]  # still waiting: nothing to sweep
            out = await r.run(attempt(skill, tmp_path, {"daemon": True}))
            assert out.ok, out.error
            assert _gone(spare)  # it served that call
            # The daemon (reparented to the zygote) is swept; a new spare waits alone.
            _spare_of(zygote)
            assert (await r.run(attempt(skill, tmp_path))).ok
        finally:
            await r.close()

    asyncio.run(go())
