"""A child's environment, written by its zygote just before the fork (``_child_env``): the
child inherits exactly the attempt's environment, in ``os.environ`` and in the C
environment its own children get, and the zygote's is its own again once it has forked."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
from pathlib import Path

import orjson

from skillexec.runtime.runners._child import ChildSetup, prepare
from skillexec.runtime.runners._child_env import env_ahead, env_back
from skillexec.runtime.runners.sandbox import SandboxRunner
from tests._isolation import attempt, need_sandbox, settings, write_skill

_REQ = {"workdir": "/nonexistent",
        "limits": {"memory_bytes": None, "cpu_seconds": 5, "open_files": 64,
                   "file_size_bytes": 1 << 20, "processes": None}}


def _env_skill(*, sleep_s: float) -> str:
    """A skill that reports its cwd, its workdir, and HOME and TMPDIR as Python and as C
    (a program it starts) see them, after ``sleep_s``."""
    return ("import ctypes, os, time\n"
            "libc = ctypes.CDLL(None)\n"
            "libc.getenv.restype = ctypes.c_char_p\n"
            "def execute(d, context):\n"
            f"    time.sleep({sleep_s})\n"
            "    return {'cwd': os.getcwd(), 'workdir': str(context.workdir),\n"
            "            'py': [os.environ.get('HOME'), os.environ.get('TMPDIR')],\n"
            "            'c': [libc.getenv(b'HOME').decode(), libc.getenv(b'TMPDIR').decode()]}\n")


def _c_getenv(name: str) -> str | None:
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    value = libc.getenv(name.encode())
    return None if value is None else value.decode()


def test_the_child_inherits_the_attempts_environment_and_the_zygote_keeps_its_own() -> None:
    os.environ["SKILLEXEC_T_KEEP"] = "zygote"
    os.environ["SKILLEXEC_T_GONE"] = "zygote only"
    os.environ.pop("SKILLEXEC_T_NEW", None)
    setup = ChildSetup(invoker=None, sandbox=False, allow_network=True, landlock_rules=None,
                       skill_id="s", log=logging.getLogger("t"), zygote_pid=os.getpid())
    before = dict(os.environ)
    try:
        env = {k: v for k, v in before.items() if k != "SKILLEXEC_T_GONE"}
        env.update(SKILLEXEC_T_KEEP="attempt", SKILLEXEC_T_NEW="new")
        prep = prepare(setup, {**_REQ, "env": env}, (0, 0))
        undo = env_ahead(setup, prep)
        assert undo is not None and prep.env_in_place
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: what it inherited, as Python and as C see it
            os.close(r)
            names = ("SKILLEXEC_T_KEEP", "SKILLEXEC_T_GONE", "SKILLEXEC_T_NEW")
            os.write(w, orjson.dumps({"py": {n: os.environ.get(n) for n in names},
                                      "c": {n: _c_getenv(n) for n in names},
                                      "all": dict(os.environ)}))
            os._exit(0)
        env_back(undo)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            got = orjson.loads(f.read())
        os.waitpid(pid, 0)
        want = {"SKILLEXEC_T_KEEP": "attempt", "SKILLEXEC_T_GONE": None,
                "SKILLEXEC_T_NEW": "new"}
        assert got["py"] == want and got["c"] == want
        assert got["all"] == env  # exactly the attempt's environment, nothing more
        # The zygote's own again, in Python and in C.
        assert dict(os.environ) == before
        assert _c_getenv("SKILLEXEC_T_KEEP") == "zygote"
        assert _c_getenv("SKILLEXEC_T_GONE") == "zygote only"
        assert _c_getenv("SKILLEXEC_T_NEW") is None
    finally:
        os.close(setup.devnull)
        for k in ("SKILLEXEC_T_KEEP", "SKILLEXEC_T_GONE", "SKILLEXEC_T_NEW"):
            os.environ.pop(k, None)


def test_each_sandboxed_attempt_sees_its_own_folders_in_its_environment(
        tmp_path: Path) -> None:
    """Through a zygote, attempt after attempt: HOME and TMPDIR are that attempt's workdir
    in os.environ and in the C environment a program it starts inherits."""
    need_sandbox()
    skill = write_skill(tmp_path / "envs", _env_skill(sleep_s=0.0))

    async def go() -> list[dict[str, object]]:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            outs = []
            for _ in range(3):
                out = await r.run(attempt(skill, tmp_path))
                assert out.ok, out.error
                outs.append(dict(out.output))
            return outs
        finally:
            await r.close()

    outs = asyncio.run(go())
    for o in outs:
        assert o["py"] == o["c"] == [o["workdir"], f"{o['workdir']}/.tmp"]
        assert o["cwd"] == o["workdir"]
    assert len({str(o["cwd"]) for o in outs}) == 3  # each its own, none left from the last


def test_the_zygote_takes_a_childs_writes_over_only_while_calls_come_one_at_a_time() -> None:
    """With several calls waiting or running, the zygote (one process, one core) is what
    they queue on: their children write their own environments, side by side."""
    from skillexec.runtime.runners._child_env import worth_ahead

    assert worth_ahead(waiting=1, running=0)
    assert worth_ahead(waiting=1, running=1)  # the call before, still exiting
    assert not worth_ahead(waiting=2, running=0)
    assert not worth_ahead(waiting=1, running=2)


def test_concurrent_sandboxed_attempts_each_see_their_own_environment(tmp_path: Path) -> None:
    """Forked in batches, their environments written by the children themselves: each
    attempt's HOME and TMPDIR are still its own, in os.environ and the C environment."""
    need_sandbox()
    skill = write_skill(tmp_path / "envs", _env_skill(sleep_s=0.05))

    async def go() -> list[dict[str, object]]:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            await r.prepare(skill)

            async def one() -> dict[str, object]:
                out = await r.run(attempt(skill, tmp_path))
                assert out.ok, out.error
                return dict(out.output)
            return list(await asyncio.gather(*[one() for _ in range(8)]))
        finally:
            await r.close()

    outs = asyncio.run(go())
    for o in outs:
        assert o["py"] == o["c"] == [o["workdir"], f"{o['workdir']}/.tmp"]
        assert o["cwd"] == o["workdir"]
    assert len({str(o["cwd"]) for o in outs}) == 8
