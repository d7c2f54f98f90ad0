"""What a zygote prepares for each child: the descriptors it closes, as close_range runs
(``_child.fd_runs``), and the rlimits it sets (those it does not inherit as they are)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import resource
from pathlib import Path

from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from skillexec.runtime.runners._child import fd_runs
from skillexec.runtime.runners.sandbox import SandboxRunner
from tests._isolation import attempt, need_sandbox, settings, write_skill


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
        plan = dict(prepare(setup, req, 0).rlimits)
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
