"""A zygote's spare: a child forked before its call and put in its call's cgroup slot while
no call runs, holding nothing of any call while it waits, used for one call, and gone
with its zygote (see runners/_spare.py and runners/_spare_engine.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from skillexec.runtime.limits import CgroupSlot
from skillexec.runtime.runners import _spare_engine
from skillexec.runtime.runners._zygote_handle import ZygoteHandle
from skillexec.runtime.runners.sandbox import SandboxRunner
from tests._isolation import attempt, need_sandbox, settings, write_skill

# The call's own pid (as its PID namespace numbers it), and the workdir it ran in.
CODE = ("import os, time\n"
        "def execute(d):\n"
        "    time.sleep(d.get('sleep', 0))\n"
        "    return {'pid': os.getpid(), 'cwd': os.getcwd()}\n")


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(x) for x in f.read().split()]


async def _placed(zyg: ZygoteHandle, *, timeout_s: float = 10.0) -> _spare_engine.ReadySpare:
    """The zygote's spare once the engine has placed it (made while no call runs)."""
    deadline = time.monotonic() + timeout_s
    while zyg.spare is None:
        assert not zyg.spares_off, "spares went off"
        assert time.monotonic() < deadline, "no spare was placed"
        await asyncio.sleep(0.01)
    spare: _spare_engine.ReadySpare = zyg.spare
    return spare


async def _gone(pid: int, *, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True  # dead, not reaped yet by whoever now owns it
        except (FileNotFoundError, ProcessLookupError):  # reaped (before or while read)
            return True
        await asyncio.sleep(0.01)
    return False


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)


def _cgroups(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/cgroup") as f:
        return {ctl: path for _h, ctls, path in (line.split(":", 2)
                                                 for line in f.read().splitlines())
                for ctl in ctls.split(",")}


def test_a_spare_is_the_zygotes_own_waits_in_its_slot_with_nothing_of_a_call(
        tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="spare")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            first = await r.run(attempt(skill, tmp_path))
            assert first.ok, first.error
            zyg = r.zygotes.live[skill.key]
            spare = await _placed(zyg)
            assert _children(zyg.pid) == [spare.host]
            # Its uid, seccomp filter and namespaces are the zygote's.
            mine, its = _status(spare.host), _status(zyg.pid)
            for key in ("Uid", "Gid", "Seccomp", "NoNewPrivs", "CapEff"):
                assert mine[key] == its[key], key
            for ns in ("net", "pid", "user", "mnt", "ipc", "uts"):
                assert os.readlink(f"/proc/{spare.host}/ns/{ns}") == \
                    os.readlink(f"/proc/{zyg.pid}/ns/{ns}"), ns
            # In a cgroup slot of its own before any call names it (not its zygote's).
            if spare.slot is not None:
                assert spare.host in spare.slot.pids()
                assert _cgroups(spare.host)["pids"] != _cgroups(zyg.pid)["pids"]
            # While it waits: none of a call's workdir, environment or files.
            workdir = first.output["cwd"]
            assert os.readlink(f"/proc/{spare.host}/cwd") != workdir
            with open(f"/proc/{spare.host}/environ", "rb") as f:
                assert workdir.encode() not in f.read()
            held = [os.readlink(f"/proc/{spare.host}/fd/{fd}")
                    for fd in os.listdir(f"/proc/{spare.host}/fd")]
            assert not [t for t in held if t.startswith(str(tmp_path))], held
            # stdio, /dev/null, its socket to the zygote, its call's socket and pipes, its
            # Landlock ruleset (not enforced yet: its call's workdir is still to be added).
            assert len(held) <= 9, held
            assert held.count("anon_inode:[landlock-ruleset]") <= 1, held
            second = await r.run(attempt(skill, tmp_path))
            assert second.ok, second.error
            assert second.output["pid"] == spare.pid  # it served this call ...
            assert second.output["cwd"] != workdir  # ... confined to its own workdir
            assert await _gone(spare.host)  # ... and that one only
            assert (await _placed(zyg)).host != spare.host
        finally:
            await r.close()

    asyncio.run(go())


def test_spares_are_made_only_while_no_call_runs(tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="busy")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            await _placed(zyg)
            slow = asyncio.ensure_future(r.run(attempt(skill, tmp_path, {"sleep": 1.0})))
            while zyg.spare is not None:  # the slow call took it
                await asyncio.sleep(0.01)
            for _ in range(3):  # calls beside a running one fork as before ...
                out = await r.run(attempt(skill, tmp_path))
                assert out.ok, out.error
                await asyncio.sleep(0.05)
                assert zyg.spare is None and not zyg.spare_making
            assert (await slow).ok
            await _placed(zyg)  # ... and one is made once none runs
        finally:
            await r.close()

    asyncio.run(go())


def test_a_spare_that_cannot_be_placed_is_killed_and_calls_fork_as_before(
        tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="unplaced")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=False))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            released: list[CgroupSlot] = []
            # A slot whose cgroup does not exist: the attach fails.
            await _spare_engine.make(zyg, lambda: CgroupSlot(
                index=-1, pids_dir=tmp_path / "no-such-cgroup", memory_dir=None),
                released.append)
            assert zyg.spare is None and zyg.spares_off
            deadline = time.monotonic() + 10
            while _children(zyg.pid) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert _children(zyg.pid) == []  # killed, never named by a call
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
        finally:
            await r.close()

    asyncio.run(go())


def test_a_call_whose_spare_died_is_forked_afresh(tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="died")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            spare = await _placed(zyg)
            os.kill(spare.host, signal.SIGKILL)
            # Reaped by its zygote, while the engine (its loop blocked here) has not heard
            # yet: the call finds its socket closed, and is forked afresh.
            deadline = time.monotonic() + 10
            while os.path.exists(f"/proc/{spare.host}") and time.monotonic() < deadline:
                time.sleep(0.005)
            assert not spare.exit_fut.done()
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
            assert out.output["pid"] != spare.pid
            assert zyg.spares_off  # one died waiting: no more for this zygote
            await asyncio.sleep(0.1)
            assert zyg.spare is None and not zyg.spare_making
            assert (await r.run(attempt(skill, tmp_path))).ok
        finally:
            await r.close()

    asyncio.run(go())


def test_a_spare_that_died_waiting_is_not_named(tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="dead")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            spare = await _placed(zyg)
            os.kill(spare.host, signal.SIGKILL)
            await asyncio.wait_for(asyncio.shield(spare.exit_fut), 10)
            assert zyg.spare is None and zyg.spares_off
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
            assert out.output["pid"] != spare.pid
        finally:
            await r.close()

    asyncio.run(go())


def test_a_spare_asked_for_is_declined_when_a_call_comes_first(tmp_path: Path) -> None:
    """The zygote forks a spare only with no child alive; a call that comes before it
    did takes the moment instead (the spare would compete with it), and spares stay on."""
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="busy2")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            await _placed(zyg)
            slow = asyncio.ensure_future(r.run(attempt(skill, tmp_path, {"sleep": 0.5})))
            while zyg.spare is not None:  # the slow call took it
                await asyncio.sleep(0.01)
            cgroups = r.zygotes.cgroups
            making = asyncio.ensure_future(_spare_engine.make(
                zyg, r.zygotes.slot, cgroups.release if cgroups else lambda _s: None))
            await asyncio.sleep(0.1)  # asked for, held by the zygote: a call runs
            assert zyg.spare_making and len(_children(zyg.pid)) == 1
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
            await asyncio.wait_for(making, 10)
            assert zyg.spare is None and not zyg.spares_off
            assert (await slow).ok
        finally:
            await r.close()

    asyncio.run(go())


def test_a_spare_dies_with_its_zygote_and_when_it_retires(tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="dies")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            spare = await _placed(zyg)
            r.zygotes.drop(skill, zyg)  # retired with no call running: stopped now
            assert await _gone(spare.host)
            assert zyg.spare is None
            assert (await r.run(attempt(skill, tmp_path))).ok  # a new zygote
            zyg = r.zygotes.live[skill.key]
            spare = await _placed(zyg)
            os.kill(zyg.pid, signal.SIGKILL)  # its parent-death signal
            assert await _gone(spare.host)
        finally:
            await r.close()

    asyncio.run(go())


def test_without_spares_no_child_waits(tmp_path: Path) -> None:
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="nospare")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=False))
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
            zyg = r.zygotes.live[skill.key]
            await asyncio.sleep(0.2)
            assert _children(zyg.pid) == []
            assert zyg.spare is None and not zyg.spare_making
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
            zyg = r.zygotes.live[skill.key]
            spare = await _placed(zyg)
            await asyncio.sleep(0.3)
            assert _children(zyg.pid) == [spare.host]  # still waiting: nothing to sweep
            out = await r.run(attempt(skill, tmp_path, {"daemon": True}))
            assert out.ok, out.error
            assert out.output == spare.pid  # it served that call
            assert await _gone(spare.host)
            # The daemon is gone (killed with its slot, or swept); a new spare waits alone.
            new = await _placed(zyg)
            deadline = time.monotonic() + 10
            while _children(zyg.pid) != [new.host] and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            assert _children(zyg.pid) == [new.host]
            assert (await r.run(attempt(skill, tmp_path))).ok
        finally:
            await r.close()

    asyncio.run(go())


def test_a_call_a_spare_serves_costs_its_zygote_nothing(tmp_path: Path) -> None:
    """The call goes straight to the spare: its zygote, which would take a copy-on-write
    fault for every page it wrote while the spare shares them, does nothing meanwhile."""
    need_sandbox()
    code = "import time\ndef execute(d):\n    time.sleep(0.2)\n    return 1\n"
    skill = write_skill(tmp_path / "s", code, skill_id="faults")

    def faults(pid: int) -> int:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[7])

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            counts = []
            for _ in range(5):
                spare = await _placed(zyg)
                await asyncio.sleep(0.05)  # its fork's own faults are behind us
                before = faults(zyg.pid)
                call = asyncio.ensure_future(r.run(attempt(skill, tmp_path)))
                await asyncio.sleep(0.1)  # the call runs (for 0.2 s)
                counts.append(faults(zyg.pid) - before)
                assert not spare.exit_fut.done()
                assert (await call).ok
            assert sorted(counts)[2] == 0, counts
        finally:
            await r.close()

    asyncio.run(go())


def test_a_spare_serves_its_call_in_the_calls_workdir_and_writes_nowhere_else(
        tmp_path: Path) -> None:
    """The spare adds its call's workdir to the Landlock ruleset it was forked with, and
    enforces it before any of the skill's code runs: the call writes there, and not in a
    sibling's folder."""
    need_sandbox()
    code = ("import os\n"
            "def execute(d):\n"
            "    open('mine', 'w').write('x')\n"
            "    try:\n"
            "        open(os.path.join(d['sibling'], 'theirs'), 'w').write('x')\n"
            "        wrote = 'allowed'\n"
            "    except OSError:\n"
            "        wrote = 'refused'\n"
            "    return {'pid': os.getpid(), 'cwd': os.getcwd(), 'sibling': wrote,\n"
            "            'home': os.environ['HOME']}\n")
    skill = write_skill(tmp_path / "s", code, skill_id="own-dir")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            first_att = attempt(skill, tmp_path, {"sibling": str(tmp_path)})
            first = await r.run(first_att)
            assert first.ok, first.error
            assert first.output["sibling"] == "refused"  # a forked child's layer
            zyg = r.zygotes.live[skill.key]
            for _ in range(2):
                spare = await _placed(zyg)
                att = attempt(skill, tmp_path, {"sibling": str(first_att.context.workdir)})
                out = await r.run(att)
                assert out.ok, out.error
                assert out.output["pid"] == spare.pid
                assert out.output["cwd"] == out.output["home"] == str(att.context.workdir)
                assert (att.context.workdir / "mine").read_text() == "x"
                assert out.output["sibling"] == "refused"
                assert not (first_att.context.workdir / "theirs").exists()
        finally:
            await r.close()

    asyncio.run(go())


def test_a_retiring_zygote_leaves_its_spare_to_the_engine(tmp_path: Path) -> None:
    """A call may have taken the spare (its request sent) when the engine retires the
    zygote, before the spare could say so to its zygote: the zygote kills no spare then
    (the engine stops one it still holds) and exits once the spare is gone."""
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="retired")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            await _placed(zyg)
            taken = _spare_engine.take(zyg)  # as a call takes it, a moment before it says
            assert taken is not None
            zyg.active += 1  # that call runs
            r.zygotes.drop(skill, zyg)  # retired: told to the zygote
            await asyncio.sleep(0.3)
            assert not taken.exit_fut.done(), "the zygote killed a spare a call had taken"
            assert _children(zyg.pid) == [taken.host]
            zyg.active -= 1
            taken.discard()  # the call's end (here: it never came)
            await asyncio.wait_for(asyncio.shield(taken.exit_fut), 10)
            deadline = time.monotonic() + 10
            while os.path.exists(f"/proc/{zyg.pid}") and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert not os.path.exists(f"/proc/{zyg.pid}")  # then it exited
        finally:
            await r.close()

    asyncio.run(go())


def test_a_call_whose_spare_dies_before_taking_it_is_forked_afresh(tmp_path: Path) -> None:
    """The call was sent to the spare, which died before it said it had it (a sweep of
    what an earlier call left, say): none of the skill ran, so the call is forked afresh
    rather than failed."""
    need_sandbox()
    skill = write_skill(tmp_path / "s", CODE, skill_id="unclaimed")

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=True))
        try:
            assert (await r.run(attempt(skill, tmp_path))).ok
            zyg = r.zygotes.live[skill.key]
            spare = await _placed(zyg)
            os.kill(spare.host, signal.SIGSTOP)  # it cannot read its call, nor take it
            call = asyncio.ensure_future(r.run(attempt(skill, tmp_path)))
            while zyg.spare is spare:  # the call took it and sent it its request
                await asyncio.sleep(0.001)
            await asyncio.sleep(0.05)
            os.kill(spare.host, signal.SIGKILL)
            out = await asyncio.wait_for(call, 20)
            assert out.ok, out.error
            assert out.output["pid"] != spare.pid
        finally:
            await r.close()

    asyncio.run(go())


def test_a_spare_killed_with_the_leftovers_is_no_descriptor_of_a_child() -> None:
    """A spare the leftover sweep killed stays listed until it is reaped, its socket closed:
    a call forked meanwhile is not told to close it (closing -1 failed that call's
    confinement as "the sandbox could not be applied: Bad file descriptor")."""
    import socket
    import subprocess

    from skillexec.runtime.runners import _spare

    proc = subprocess.Popen(["sleep", "30"])
    mine, theirs = socket.socketpair()
    try:
        spare = _spare.Spare(proc.pid, mine)
        r, w = os.pipe()
        pending: list[tuple[dict[str, object], list[int]]] = [({"t": "spare"}, [r, w])]
        assert _spare.held([spare], pending) == (mine.fileno(), r, w)
        spare.kill()
        assert _spare.held([spare], pending) == (r, w)
        os.close(r)
        os.close(w)
    finally:
        proc.kill()
        proc.wait()
        theirs.close()
