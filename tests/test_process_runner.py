"""The process runner, end to end with real processes: results, errors, context, lifecycle."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

import skillexec
from skillexec.runtime.runners.process import ProcessRunner
from skillexec.runtime.runners.sandbox import SandboxRunner
from skillexec.security.policy import PermissionPolicy
from skillexec.skills.model import Entry, EntryKind, Permission, Skill
from tests._isolation import (
    NOOP,
    attempt,
    need_sandbox,
    settings,
    skill_processes,
    wait_gone,
    write_skill,
)

pytestmark = pytest.mark.timeout(60)


def _runner(tmp_path: Path, **kw: object) -> ProcessRunner:
    return ProcessRunner(settings=settings(tmp_path, **kw))  # type: ignore[arg-type]


def test_runs_a_skill_with_a_scrubbed_environment(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    skill = write_skill(tmp_path / "s", (
        "import os\n"
        "def execute(input_data, context):\n"
        "    return {'x': input_data['x'], 'env': dict(os.environ), 'cwd': os.getcwd(),\n"
        "            'uid': os.getuid(), 'sid': os.getsid(0) == os.getpid(),\n"
        "            'workdir': str(context.workdir), 'task': context.task_id}\n"))

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            await r.prepare(skill)
            att = attempt(skill, tmp_path, {"x": 41})
            out = await r.run(att)
            assert out.ok, out.error
            o = out.output
            assert o["x"] == 41 and o["task"] == att.context.task_id
            assert "SECRET_TOKEN" not in o["env"] and "hunter2" not in str(o["env"])
            assert o["env"]["HOME"] == o["cwd"] == o["workdir"] == str(att.context.workdir)
            assert o["sid"] is True
            if os.geteuid() == 0:
                assert o["uid"] == r.settings.unprivileged_uid
            for key in ("wall_ms", "cpu_ms", "max_rss_mb", "disk_read_bytes", "disk_write_bytes"):
                assert isinstance(out.metrics[key], int | float), key
        finally:
            await r.close()

    asyncio.run(go())


def test_errors_are_classified(tmp_path: Path) -> None:
    boom = write_skill(tmp_path / "boom", "def execute(d):\n    raise ValueError('bad value')\n")
    transient = write_skill(tmp_path / "tr", (
        "from skillexec.errors import TransientError\n"
        "def execute(d):\n    raise TransientError('try later', code='upstream_busy')\n"))
    envelope = write_skill(tmp_path / "env", (
        "def execute(d):\n    return {'success': False, 'error': 'nope', 'message': 'm'}\n"))
    broken = write_skill(tmp_path / "broken", "import not_a_module_anywhere\n")

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            out = await r.run(attempt(boom, tmp_path))
            assert out.error is not None and out.error.type.value == "execution_error"
            assert out.error.details["exception"] == "ValueError"
            assert "bad value" in out.error.message and "ValueError" in (out.traceback or "")
            out = await r.run(attempt(transient, tmp_path))
            assert out.error is not None and out.error.code == "upstream_busy"
            # (details.retryable: only a retryable its skill gave, which wins over the rule)
            assert out.error.retryable and "retryable" not in out.error.details
            out = await r.run(attempt(envelope, tmp_path))
            assert out.error is not None and out.error.message == "nope"
            out = await r.run(attempt(broken, tmp_path))
            assert out.error is not None and out.error.type.value == "dependency_error"
        finally:
            await r.close()

    asyncio.run(go())


@pytest.mark.parametrize("kind", ["process", "sandbox"])
def test_an_async_skill_ends_as_under_asyncio_run(tmp_path: Path, kind: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The child runs a coroutine on a loop of its own (not asyncio.run, which costs it
    more): what the skill left running is cancelled and its cleanup runs, its async
    generators are closed, its default executor shut down, before the child answers."""
    skill = write_skill(tmp_path / "a", (
        "import asyncio, os\n"
        "async def _left(path):\n"
        "    try:\n"
        "        await asyncio.sleep(60)\n"
        "    finally:\n"
        "        open(path, 'w').write('cancelled')\n"
        "async def _gen(path):\n"
        "    try:\n"
        "        yield 1\n"
        "        yield 2\n"
        "    finally:\n"
        "        open(path, 'w').write('closed')\n"
        "async def execute(input_data, context):\n"
        "    loop = asyncio.get_running_loop()\n"
        "    assert asyncio.get_event_loop() is loop\n"
        "    left = os.path.join(str(context.workdir), 'left')\n"
        "    gen_file = os.path.join(str(context.workdir), 'gen')\n"
        "    asyncio.ensure_future(_left(left))\n"
        "    g = _gen(gen_file)\n"
        "    first = await g.__anext__()\n"
        "    pid = await loop.run_in_executor(None, os.getpid)\n"
        "    return {'first': first, 'pid': pid, 'dir': str(context.workdir)}\n"))

    if kind == "sandbox":
        need_sandbox()
        # As `python -m skillexec worker` from a source checkout: skillexec's own folder is
        # the embedding script's, which the sandbox may not read, so the zygote must have
        # imported all it runs before it confined itself.
        main = Path(skillexec.__file__).parent / "__main__.py"
        monkeypatch.setattr(sys.modules["__main__"], "__file__", str(main), raising=False)

    async def go() -> None:
        r = _runner(tmp_path) if kind == "process" else SandboxRunner(
            settings=settings(tmp_path))
        try:
            for _ in range(2):  # the zygote's own warm-up loop is not the child's
                att = attempt(skill, tmp_path)
                out = await r.run(att)
                assert out.ok, out.error
                assert out.output["first"] == 1 and out.output["pid"] > 0
                wd = Path(out.output["dir"])
                assert (wd / "left").read_text() == "cancelled"
                assert (wd / "gen").read_text() == "closed"
        finally:
            await r.close()

    asyncio.run(go())


def test_progress_artifacts_and_async(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "a", (
        "import asyncio\n"
        "async def execute(input_data, context):\n"
        "    await asyncio.sleep(0.01)\n"
        "    context.progress(0.5, 'half')\n"
        "    ref = context.save_artifact('r.txt', b'hello', 'text/plain')\n"
        "    return {'ref': ref.id, 'size': ref.size}\n"))
    progress: list[object] = []
    artifacts: list[object] = []

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            out = await r.run(attempt(skill, tmp_path, progress=progress, artifacts=artifacts))
            assert out.ok, out.error
            assert out.output == {"ref": "a0", "size": 5}
            assert progress == [(0.5, "half")]
            assert artifacts == [("r.txt", b"hello", "text/plain")]
        finally:
            await r.close()

    asyncio.run(go())


def test_cancel_kills_the_child(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "slow", "import time\ndef execute(d):\n    time.sleep(30)\n")

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            await r.prepare(skill)
            task = asyncio.ensure_future(r.run(attempt(skill, tmp_path, timeout_s=30)))
            await asyncio.sleep(0.5)
            assert skill_processes(r)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not wait_gone(r)
        finally:
            await r.close()

    asyncio.run(go())


def test_cooperative_cancel_sets_context_cancelled(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "coop", (
        "import time\n"
        "def execute(d, context):\n"
        "    for _ in range(300):\n"
        "        if context.cancelled:\n"
        "            return {'stopped': True}\n"
        "        time.sleep(0.01)\n"
        "    return {'stopped': False}\n"))

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            await r.prepare(skill)
            att = attempt(skill, tmp_path)
            task = asyncio.ensure_future(r.run(att))
            await asyncio.sleep(0.3)
            att.context.cancel()
            out = await task
            assert out.output == {"stopped": True}
        finally:
            await r.close()

    asyncio.run(go())


def test_concurrent_attempts(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "nap", "import time\ndef execute(d):\n    time.sleep(0.3)\n"
                                          "    return d['i']\n")

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            await r.prepare(skill)
            t0 = time.perf_counter()
            outs = await asyncio.gather(*[r.run(attempt(skill, tmp_path, {"i": i}))
                                          for i in range(50)])
            assert [o.output for o in outs] == list(range(50))
            assert time.perf_counter() - t0 < 3.0
        finally:
            await r.close()

    asyncio.run(go())


def test_zygote_lifecycle(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "n", NOOP)

    async def go() -> None:
        r = _runner(tmp_path, zygote_max_attempts=3, zygote_idle_s=0.3)
        try:
            await r.prepare(skill)
            first = r.zygotes.live[skill.key].pid
            os.kill(first, signal.SIGKILL)  # dies: restarted on the next attempt
            await asyncio.sleep(0.1)
            assert (await r.run(attempt(skill, tmp_path))).ok
            second = r.zygotes.live[skill.key].pid
            assert second != first
            for _ in range(3):
                assert (await r.run(attempt(skill, tmp_path))).ok
            live = r.zygotes.live
            assert skill.key not in live or live[skill.key].pid != second  # recycled
            assert (await r.run(attempt(skill, tmp_path))).ok
            await asyncio.sleep(1.0)  # idle: evicted, costs nothing
            assert skill.key not in r.zygotes.live
            assert (await r.run(attempt(skill, tmp_path))).ok
        finally:
            await r.close()

    asyncio.run(go())


def test_refusals_before_running(tmp_path: Path) -> None:
    net = write_skill(tmp_path / "net", NOOP, permissions=frozenset({Permission.NETWORK_ACCESS}))
    fn = Skill(id="fn", version="1.0.0", entry=Entry(kind=EntryKind.CALLABLE, func=lambda: 1))
    none = Skill(id="none", version="1.0.0", entry=Entry(kind=EntryKind.NONE, reason="docs"))

    async def go() -> None:
        r = _runner(tmp_path, permission_policy=PermissionPolicy(allowed=frozenset()))
        try:
            out = await r.run(attempt(net, tmp_path))
            assert out.error is not None and out.error.type.value == "permission_error"
            assert out.error.code == "permission_not_granted"
            assert "network_access" in out.error.message and "net" in out.error.message
            assert not r.zygotes.live  # refused before anything started
            out = await r.run(attempt(fn, tmp_path))
            assert out.error is not None and out.error.code == "entry_not_isolatable"
            out = await r.run(attempt(none, tmp_path))
            assert out.error is not None and out.error.code == "no_entry_point"
        finally:
            await r.close()

    asyncio.run(go())


def _command_skill(folder: Path, script: str, argv: tuple[str, ...]) -> Skill:
    (folder / "scripts").mkdir(parents=True, exist_ok=True)
    (folder / "scripts" / "run.py").write_text(script)
    return Skill(id=folder.name, version="1.0.0", path=folder,
                 entry=Entry(kind=EntryKind.COMMAND, command=argv))


def test_command_skills(tmp_path: Path) -> None:
    ok = _command_skill(tmp_path / "cmd", (
        "import json, os, sys\n"
        "p = json.load(sys.stdin)\n"
        "print(json.dumps({'sum': p['a'] + p['b'], 'cwd': os.getcwd()}))\n"),
        ("python", "scripts/run.py"))
    bad = _command_skill(tmp_path / "bad", "print('not json')\n", ("python", "scripts/run.py"))
    fails = _command_skill(tmp_path / "fails", "import sys\nsys.exit(3)\n",
                           ("python", "scripts/run.py"))

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            att = attempt(ok, tmp_path, {"a": 2, "b": 3})
            out = await r.run(att)
            assert out.ok, out.error
            assert out.output == {"sum": 5, "cwd": str(att.context.workdir)}
            out = await r.run(attempt(bad, tmp_path))
            assert out.error is not None and out.error.code == "output_not_json"
            out = await r.run(attempt(fails, tmp_path))
            assert out.error is not None and out.error.code == "command_failed"
            assert out.error.details["exit_code"] == 3
        finally:
            await r.close()

    asyncio.run(go())


def test_children_reseed_random_and_run_the_skills_fork_hooks(tmp_path: Path) -> None:
    # The zygote forks without os.fork()'s hook machinery (see _fork): random must still
    # be reseeded per child, and hooks a skill's module registers must still run.
    code = ("import os, random\n"
            "_seen = []\n"
            "os.register_at_fork(after_in_child=lambda: _seen.append(os.getpid()))\n"
            "def execute(d):\n"
            "    return {'r': random.random(), 'hooked': _seen == [os.getpid()]}\n")
    skill = write_skill(tmp_path / "rnd", code)

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            outs = [await r.run(attempt(skill, tmp_path)) for _ in range(4)]
            outs += await asyncio.gather(*[r.run(attempt(skill, tmp_path)) for _ in range(8)])
            assert all(o.ok for o in outs), [o.error for o in outs]
            assert all(o.output["hooked"] for o in outs), [o.output for o in outs]
            values = [o.output["r"] for o in outs]
            assert len(set(values)) == len(values), values
        finally:
            await r.close()

    asyncio.run(go())


def test_a_zygote_with_threads_forks_the_safe_way(tmp_path: Path) -> None:
    # A thread started by the skill's import could hold a lock at a fork: the zygote then
    # falls back to os.fork(), whose hooks re-create those locks in the child.
    code = ("import threading, time, logging\n"
            "threading.Thread(target=time.sleep, args=(3600,), daemon=True).start()\n"
            "def execute(d):\n"
            "    logging.getLogger('x').warning('still works')\n"
            "    return threading.active_count()\n")
    skill = write_skill(tmp_path / "thr", code)

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            outs = await asyncio.gather(*[r.run(attempt(skill, tmp_path)) for _ in range(4)])
            assert all(o.ok and o.output == 1 for o in outs), [(o.output, o.error) for o in outs]
        finally:
            await r.close()

    asyncio.run(go())


def test_uid_leases_are_host_wide_and_die_with_their_holder(tmp_path: Path) -> None:
    """Two holders never get the same uid, in one process or in two; a holder's death
    frees its uid without any cleanup."""
    import random
    import subprocess
    import sys

    from skillexec.errors import ResourceError
    from skillexec.security.uids import lease_uid

    base = random.randrange(200_000, 2_000_000_000)
    lock_dir = str(tmp_path / "uids")
    a = lease_uid(base, 3, lock_dir=lock_dir)
    b = lease_uid(base, 3, lock_dir=lock_dir)
    assert {a.uid, b.uid} == {base, base + 1}
    other = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\n"
         "from skillexec.security.uids import lease_uid\n"
         f"lease = lease_uid({base}, 3, lock_dir={lock_dir!r})\n"
         "print(lease.uid, flush=True)\n"
         "time.sleep(60)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None
        assert int(other.stdout.readline()) == base + 2
        with pytest.raises(ResourceError) as err:
            lease_uid(base, 3, lock_dir=lock_dir)
        assert err.value.code == "isolation_unavailable"
    finally:
        other.kill()
        other.wait()
    c = lease_uid(base, 3, lock_dir=lock_dir)
    assert c.uid == base + 2
    a.release()
    assert not os.path.exists(f"{lock_dir}/{base}.lock")  # no litter once released
    d = lease_uid(base, 3, lock_dir=lock_dir)
    assert d.uid == base
    for lease in (b, c, d):
        lease.release()
    assert os.listdir(lock_dir) == []
    assert oct(os.stat(lock_dir).st_mode & 0o777) == "0o700"


def test_a_killed_engines_private_folders_are_swept(tmp_path: Path) -> None:
    """A SIGKILLed engine cannot remove its zygotes' private HOME folders: the next runner
    to use that work root does, and leaves a live engine's alone."""
    import subprocess
    import sys

    from skillexec.runtime.runners.process import skill_slot

    skill = write_skill(tmp_path / "s", NOOP)
    root = tmp_path / "work" / skill_slot(skill.id)
    root.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = root / f".zygote-{dead.pid}-abc"
    (stale / ".cache").mkdir(parents=True)
    live = root / f".zygote-{os.getppid()}-def"  # pytest's parent: alive
    live.mkdir()

    async def go() -> None:
        r = _runner(tmp_path)
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
        finally:
            await r.close()

    asyncio.run(go())
    assert not stale.exists()
    assert live.exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".zygote-")] == [live.name]


def test_uid_leases_stay_exclusive_while_released_and_taken_in_a_race(tmp_path: Path) -> None:
    """Four processes take and release the one uid of a range as fast as they can; a
    released lease unlinks its file, and no two holders may ever overlap."""
    import random
    import subprocess
    import sys

    base = random.randrange(200_000, 2_000_000_000)
    lock_dir = str(tmp_path / "uids")
    holder = tmp_path / "holder"
    code = (
        "import os, time\n"
        "from skillexec.errors import ResourceError\n"
        "from skillexec.security.uids import lease_uid\n"
        f"holder = {str(holder)!r}\n"
        "me = str(os.getpid()).encode()\n"
        "taken = 0\n"
        "deadline = time.monotonic() + 20\n"
        "while taken < 150 and time.monotonic() < deadline:\n"
        "    try:\n"
        f"        lease = lease_uid({base}, 1, lock_dir={lock_dir!r})\n"
        "    except ResourceError:\n"
        "        continue\n"
        "    fd = os.open(holder, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)\n"
        "    os.write(fd, me)\n"
        "    os.close(fd)\n"
        "    time.sleep(0.0005)\n"
        "    with open(holder, 'rb') as f:\n"
        "        assert f.read() == me, 'two holders at once'\n"
        "    lease.release()\n"
        "    taken += 1\n"
        "print(taken)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sum(int(o) for o, _ in outs) > 0
    assert os.listdir(lock_dir) == []


@pytest.mark.parametrize("kind", ["process", "sandbox"])
def test_a_sync_skills_zygote_does_not_carry_asyncio(tmp_path: Path, kind: str) -> None:
    """asyncio (with ssl, ~3 MB of a zygote's anonymous memory) is imported by a zygote only
    for an async skill: every fork copies the page tables of what the zygote holds."""
    sync = write_skill(tmp_path / "s", (
        "import sys\n"
        "def execute(input_data, context):\n"
        "    return {m: m in sys.modules for m in ('asyncio', 'ssl', 'yaml', 'packaging',\n"
        "                                           'pydantic', 'skillexec.skills.manifest')}\n"))
    if kind == "sandbox":
        need_sandbox()

    async def go() -> None:
        r = _runner(tmp_path) if kind == "process" else SandboxRunner(
            settings=settings(tmp_path))
        try:
            out = await r.run(attempt(sync, tmp_path))
            assert out.ok, out.error
            # Nor the skill loaders (YAML, packaging, pydantic: ~3 MB more), which the
            # security package's policy brought in through its __init__ until it was lazy.
            assert out.output == {"asyncio": False, "ssl": False, "yaml": False,
                                  "packaging": False, "pydantic": False,
                                  "skillexec.skills.manifest": False}
        finally:
            await r.close()

    asyncio.run(go())
