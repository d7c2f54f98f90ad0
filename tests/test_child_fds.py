"""What a zygote prepares for each child: the descriptors it closes, as close_range runs
(``_child.fd_runs``), and the rlimits it sets (those it does not inherit as they are)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import resource
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from skillexec.runtime.runners._child import fd_runs
from skillexec.runtime.runners.sandbox import SandboxRunner
from tests._isolation import HELD_FDS, attempt, need_sandbox, settings, write_skill


@hyp_settings(deadline=None)  # pure, but the machine is shared: no wall-clock deadline
@given(st.lists(st.integers(min_value=0, max_value=300), max_size=60))
def test_runs_cover_exactly_the_descriptors(fds: list[int]) -> None:
    runs = fd_runs(fds)
    covered = [fd for low, high in runs for fd in range(low, high)]
    assert covered == sorted(set(fds))  # nothing more, nothing less, in order
    for (_, high), (low, _) in itertools.pairwise(runs):
        assert high < low  # runs never touch: each one is as long as it can be
    assert all(low < high for low, high in runs)


def test_closing_the_runs_closes_those_descriptors_only() -> None:
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(8)]
    keep = opened[2], opened[5]
    drop = [fd for fd in opened if fd not in keep]
    try:
        for low, high in fd_runs(drop):
            os.closerange(low, high)
        for fd in drop:
            try:
                os.fstat(fd)
            except OSError:
                continue
            raise AssertionError(f"fd {fd} is still open")
        for fd in keep:
            os.fstat(fd)  # still open
    finally:
        for fd in opened:
            try:
                os.close(fd)
            except OSError:
                pass


def test_a_limit_equal_to_the_zygotes_own_is_inherited_not_set_again() -> None:
    """The child's rlimit plan leaves out what it inherits unchanged from its zygote."""
    from skillexec.runtime.runners._child import ChildSetup, prepare

    setup = ChildSetup(invoker=None, sandbox=False, allow_network=True, landlock_rules=None,
                       skill_id="s", log=logging.getLogger("t"), zygote_pid=os.getpid())
    try:
        mb = 1024 * 1024
        setup.own_limits = {**setup.own_limits, resource.RLIMIT_CORE: (0, 0),
                            resource.RLIMIT_FSIZE: (256 * mb, 256 * mb)}
        req = {"workdir": "/nonexistent", "env_extra": {},
               "limits": {"memory_bytes": None, "cpu_seconds": 5, "open_files": 64,
                          "file_size_bytes": 256 * mb, "processes": None}}
        plan = dict(prepare(setup, req, (0, 0)).rlimits)
        assert resource.RLIMIT_CORE not in plan and resource.RLIMIT_FSIZE not in plan
        assert plan[resource.RLIMIT_NOFILE] == (64, 64)  # differs from the zygote's: set
        assert plan[resource.RLIMIT_CPU][0] == 5
    finally:
        os.close(setup.devnull)


def test_a_sandboxed_child_gets_its_limits(tmp_path: Path) -> None:
    """Whatever the plan leaves out, the skill runs under exactly the attempt's limits."""
    need_sandbox()
    code = ("import resource\n"
            "def execute(d):\n"
            "    return {n: list(resource.getrlimit(getattr(resource, 'RLIMIT_' + n)))\n"
            "            for n in ('CORE', 'FSIZE', 'NOFILE', 'AS', 'CPU', 'NPROC')}\n")
    skill = write_skill(tmp_path / "limits", code)
    cfg = settings(tmp_path, max_file_size_mb=3, max_open_files=77, max_processes=5)

    async def go() -> dict[str, list[int]]:
        r = SandboxRunner(settings=cfg)
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
            return dict(out.output)
        finally:
            await r.close()

    got = asyncio.run(go())
    assert got["CORE"] == [0, 0]
    assert got["FSIZE"] == [3 * 1024 * 1024] * 2
    assert got["NOFILE"] == [77, 77]
    assert got["NPROC"] == [40, 40]  # its own uid (root) or user namespace: 8 x per attempt
    assert got["AS"][0] == got["AS"][1] != resource.RLIM_INFINITY
    assert got["CPU"][0] == 60  # the default CPU seconds


def test_a_ruleset_built_ahead_confines_as_one_built_on_the_call(tmp_path: Path) -> None:
    """The zygote builds the next child's ruleset while idle (``build_ahead``), and the call
    adds only its workdir: the child can write there and nowhere else, read what the
    prepared rules allow and nothing else; the one built ahead is used once."""
    need_sandbox()
    from skillexec.security import landlock

    readable, workdir, other = tmp_path / "ro", tmp_path / "work", tmp_path / "other"
    for d in (readable, workdir, other):
        d.mkdir()
    (readable / "r.txt").write_text("r")
    (other / "secret.txt").write_text("s")
    read_fds = landlock.open_rule_fds([str(readable), "/usr", "/lib", "/lib64", "/etc"])
    rules = landlock.PreparedRuleset(landlock.LandlockRules(), read_fds)
    rules.build_ahead()
    ahead = rules.ahead_fd
    assert ahead >= 0
    wfds = landlock.open_rule_fds([str(workdir)])
    ruleset = rules.build(wfds)
    assert ruleset == ahead and rules.ahead_fd == -1  # taken, and only once
    pid = os.fork()
    if pid == 0:  # the child: confine, then try each access; the exit code says which held
        code = 0
        try:
            from skillexec.security.privileges import set_no_new_privs

            set_no_new_privs()
            landlock.enforce(ruleset)
            with open(workdir / "w.txt", "w") as f:
                f.write("ok")
            code |= 1 if (readable / "r.txt").read_text() == "r" else 0
            for denied in (lambda: (readable / "x.txt").write_text("no"),
                           lambda: (other / "secret.txt").read_text(),
                           lambda: (other / "y.txt").write_text("no")):
                try:
                    denied()
                except PermissionError:
                    code |= 0
                else:
                    code |= 2
        except BaseException:
            code = 4
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    fresh = rules.build(wfds)  # none ahead: built now
    for fd in (ruleset, fresh, *(fd for fd, _ in (*read_fds, *wfds))):
        os.close(fd)
    assert fresh != ruleset and rules.ahead_fd == -1
    assert os.waitstatus_to_exitcode(status) == 1, status
    assert (workdir / "w.txt").read_text() == "ok"


@pytest.mark.parametrize("spare", [False, True])
def test_sequential_children_hold_no_ruleset_built_ahead(spare: bool, tmp_path: Path) -> None:
    """Between calls the zygote holds the next child's ruleset; no child may keep it (nor
    any descriptor but its channel), a spare forked while it is held included."""
    need_sandbox()
    skill = write_skill(tmp_path / "ahead", HELD_FDS)

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, zygote_spare=spare))
        try:
            for _ in range(4):
                out = await r.run(attempt(skill, tmp_path))
                assert out.ok, out.error
                assert out.output == {"sock": 1}, out.output
                await asyncio.sleep(0.05)  # the zygote idles: it builds the next ruleset
        finally:
            await r.close()

    asyncio.run(go())
