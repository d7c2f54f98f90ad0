"""The hostile corpus: each skill in tests/hostile attacks the runner one way.

Each must be contained with the right error, the runner must still run a normal skill
afterwards, and nothing the hostile skill started may still be running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from skillexec.runtime.capabilities import detect_capabilities
from skillexec.runtime.runners.base import Outcome
from skillexec.runtime.runners.process import ProcessRunner, skill_slot
from skillexec.runtime.runners.sandbox import SandboxRunner
from skillexec.skills.loader import load_skill
from tests._isolation import (
    HOSTILE,
    NOOP,
    attempt,
    need,
    need_sandbox,
    processes_in,
    settings,
    wait_gone,
    write_skill,
)

pytestmark = pytest.mark.timeout(60)

DENIED = ("permission_error", "sandbox_denied")
# name: (expected under sandbox, expected under process or None if not claimed)
EXPECT: dict[str, tuple[tuple[str, str | None] | None, tuple[str, str | None] | None]] = {
    "tcp_connect": (DENIED, None),
    "unix_connect": (DENIED, None),
    "write_outside": (DENIED, None),
    "read_secret_file": (DENIED, None),
    "list_processes": (DENIED, None),
    "env_secret": (("ok", None), ("ok", None)),
    "fork_bomb": (("timeout_error", "execution_timeout"), ("timeout_error", "execution_timeout")),
    "memory_hog": (("resource_error", "memory_limit_exceeded"),) * 2,
    "cpu_spinner": (("resource_error", "cpu_limit_exceeded"),) * 2,
    "sleeper": (("timeout_error", "execution_timeout"),) * 2,
    "daemon": (("ok", None), ("ok", None)),
    "stdout_flood": (("resource_error", "output_too_large"),) * 2,
    "big_result": (("resource_error", "output_too_large"),) * 2,
    # Under process without a PID namespace; with one, see test_hostile_process.
    "kill_parent": (DENIED, ("any_error", None)),
    "ctypes_unshare": (DENIED, None),
    "zygote_import_daemon": (("ok", None), ("ok", None)),
    "zygote_import_noise": (("ok", None), ("ok", None)),
}
# Driven by their own tests below (they need a second skill, a setting or a check of their own).
SPECIAL = {"zygote_engine_killed", "zygote_import_hog", "zygote_import_fails", "zygote_import_slow",
           "zygote_patch_landlock", "zygote_home_writes", "uid_victim", "uid_attacker"}
SECRET = "s3cr3t-token-for-the-hostile-test"


class _Targets:
    """A TCP listener, a Unix socket, a 0600 secret file: things a skill must not reach."""

    def __init__(self, tmp_path: Path) -> None:
        self.received: list[bytes] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.unix_path = str(tmp_path / "host.sock")
        self.unix = socket.socket(socket.AF_UNIX)
        self.unix.bind(self.unix_path)
        os.chmod(self.unix_path, 0o777)
        self.unix.listen()
        self.secret_file = tmp_path / "secret.txt"
        self.secret_file.write_text(SECRET)
        self.secret_file.chmod(0o600)
        self.outside = tmp_path / "outside" / "pwned.txt"
        self.outside.parent.mkdir()
        self.outside.parent.chmod(0o777)
        for s in (self.tcp, self.unix):
            s.settimeout(0.2)
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                conn, _ = s.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(conn.recv(100))

    def params(self, name: str) -> dict[str, Any]:
        return {"tcp_connect": {"port": self.port}, "unix_connect": {"path": self.unix_path},
                "write_outside": {"path": str(self.outside)},
                "read_secret_file": {"path": str(self.secret_file)}}.get(name, {})

    def close(self) -> None:
        self.tcp.close()
        self.unix.close()


def _check(name: str, out: Outcome, expected: tuple[str, str | None], targets: _Targets,
           attempt_workdir: Path) -> None:
    kind, code = expected
    text = repr(out.output) + repr(out.error)
    assert SECRET not in text, f"{name} leaked the secret: {text[:300]}"
    if kind == "ok":
        assert out.ok, out.error
    elif kind == "any_error":
        assert not out.ok
    else:
        assert out.error is not None, f"{name} was not contained: {str(out.output)[:200]}"
        assert out.error.type.value == kind, out.error
        if code is not None:
            assert out.error.code == code, out.error
    assert not targets.received, f"{name} reached a host socket: {targets.received}"
    assert not targets.outside.exists(), f"{name} wrote outside its workdir"
    if name == "daemon" and out.ok:
        # Its pid is the PID namespace's, not the host's: look for it by its folder.
        assert not processes_in(attempt_workdir), "the daemon outlived its attempt"
    if name == "zygote_import_daemon":
        # Started by the skill's import, in the warm parent: gone once no attempt runs.
        assert not processes_in(HOSTILE / name), "the import's daemon outlived the attempt"


def _run(runner_cls: type[ProcessRunner], name: str, tmp_path: Path,
         expected: tuple[str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", SECRET)
    skill = load_skill(HOSTILE / name)
    targets = _Targets(tmp_path)
    normal = write_skill(tmp_path / "normal", NOOP)

    async def go() -> None:
        runner = runner_cls(settings=settings(tmp_path))
        try:
            await runner.prepare(skill)
            att = attempt(skill, tmp_path, targets.params(name))
            out = await runner.run(att)
            _check(name, out, expected, targets, att.context.workdir)
            assert not wait_gone(runner), f"{name} left processes running"
            # Still healthy: the same skill's zygote and a normal skill both still work.
            ok = await runner.run(attempt(normal, tmp_path, {"x": 1}, timeout_s=10))
            assert ok.ok and ok.output == {"ok": True, "x": 1}, ok.error
            again = await runner.run(attempt(skill, tmp_path, targets.params(name)))
            assert again.error is None or again.error.type.value != "resource_error" \
                or again.error.code != "isolation_unavailable"
        finally:
            await runner.close()
            targets.close()
        assert not wait_gone(runner), "processes outlived close()"

    asyncio.run(go())


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_hostile_sandbox(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need_sandbox()
    expected = EXPECT[name][0]
    assert expected is not None
    _run(SandboxRunner, name, tmp_path, expected, monkeypatch)


@pytest.mark.parametrize("name", sorted(k for k, v in EXPECT.items() if v[1] is not None))
def test_hostile_process(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    c = detect_capabilities()
    need(c.linux and c.prctl, "no Linux process control")
    if name == "fork_bomb":
        need(c.cgroup_pids or c.is_root or c.user_namespaces,
             "no pids cgroup, no uid and no user namespace to limit processes")
    expected = EXPECT[name][1]
    if name == "kill_parent" and c.pid_namespaces:
        # Its parent is its zygote, pid 1 of the PID namespace: a SIGKILL from inside is
        # ignored, so the call carries on and answers.
        expected = ("ok", None)
    assert expected is not None
    _run(ProcessRunner, name, tmp_path, expected, monkeypatch)


def test_corpus_is_complete() -> None:
    folders = {p.name for p in HOSTILE.iterdir() if (p / "skill.json").exists()}
    assert folders == set(EXPECT) | SPECIAL


# -- the warm parent (zygote) is confined like an attempt ---------------------------------
def _need_level(runner_cls: type[ProcessRunner]) -> None:
    if runner_cls is SandboxRunner:
        need_sandbox()
    else:
        c = detect_capabilities()
        need(c.linux and c.prctl, "no Linux process control")


LEVELS = [SandboxRunner, ProcessRunner]


@pytest.mark.parametrize("runner_cls", LEVELS)
def test_import_output_never_reaches_the_terminal(runner_cls: type[ProcessRunner],
                                                  tmp_path: Path,
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    _need_level(runner_cls)
    skill = load_skill(HOSTILE / "zygote_import_noise")

    async def go() -> None:
        r = runner_cls(settings=settings(tmp_path))
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
        finally:
            await r.close()

    asyncio.run(go())
    seen = capfd.readouterr()
    assert "zygote-import-noise-marker" not in seen.out + seen.err


@pytest.mark.parametrize("runner_cls", LEVELS)
def test_failed_import_keeps_its_output_for_the_error(runner_cls: type[ProcessRunner],
                                                      tmp_path: Path,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    _need_level(runner_cls)
    skill = load_skill(HOSTILE / "zygote_import_fails")

    async def go() -> None:
        r = runner_cls(settings=settings(tmp_path))
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.error is not None
            assert "zygote-import-fails-marker" in out.error.details.get("output", "")
            assert "cannot be imported" in out.error.message + out.error.details["output"]
        finally:
            await r.close()

    asyncio.run(go())
    seen = capfd.readouterr()
    assert "zygote-import-fails-marker" not in seen.out + seen.err


@pytest.mark.parametrize("runner_cls", LEVELS)
def test_slow_import_fails_that_skill_only(runner_cls: type[ProcessRunner],
                                           tmp_path: Path) -> None:
    _need_level(runner_cls)
    slow = load_skill(HOSTILE / "zygote_import_slow")
    normal = write_skill(tmp_path / "normal", NOOP)

    async def go() -> None:
        r = runner_cls(settings=settings(tmp_path, zygote_import_timeout_s=1.5))
        try:
            t0 = time.monotonic()
            bad, ok = await asyncio.gather(r.run(attempt(slow, tmp_path, timeout_s=60)),
                                           r.run(attempt(normal, tmp_path, {"x": 2})))
            assert ok.ok and ok.output == {"ok": True, "x": 2}, ok.error
            assert bad.error is not None and bad.error.code == "import_timeout", bad.error
            assert bad.error.type.value == "timeout_error"
            assert "zygote_import_timeout_s" in bad.error.message
            assert time.monotonic() - t0 < 15
            again = await r.run(attempt(normal, tmp_path, {"x": 3}))
            assert again.ok, again.error
        finally:
            await r.close()
        assert not processes_in(tmp_path / "work")

    asyncio.run(go())


@pytest.mark.parametrize("runner_cls", LEVELS)
def test_import_is_bounded_like_an_attempt(runner_cls: type[ProcessRunner],
                                           tmp_path: Path) -> None:
    """The zygote's rlimits (and cgroup) hold before the skill's module-level code runs."""
    _need_level(runner_cls)
    c = detect_capabilities()
    need(c.is_root or c.user_namespaces or c.cgroup_pids, "nothing to count processes by")
    skill = load_skill(HOSTILE / "zygote_import_hog")

    async def go() -> None:
        r = runner_cls(settings=settings(tmp_path, zygote_memory_mb=256, max_memory_mb=256,
                                         max_processes=8))
        try:
            out = await r.run(attempt(skill, tmp_path, timeout_s=60))
            assert out.ok, out.error
            assert out.output["mapped"] is False, out.output
            assert out.output["forked"] < 100, out.output
        finally:
            await r.close()

    asyncio.run(go())


def test_patched_engine_reaches_only_its_own_skill(tmp_path: Path) -> None:
    """Module-level code replaces the engine's Landlock calls inside its zygote (it shares
    its address space): its attempts then keep the zygote's layer, which must not cover
    another skill's workdir."""
    need_sandbox()
    hostile = load_skill(HOSTILE / "zygote_patch_landlock")
    other = write_skill(tmp_path / "other", NOOP)

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            await r.prepare(hostile)
            await r.prepare(other)
            assert (await r.run(attempt(other, tmp_path))).ok
            victim_dir = attempt(other, tmp_path).context.workdir
            victim_dir.chmod(0o777)  # file modes allow it: only Landlock stands in the way
            target = victim_dir / "x.txt"
            out = await r.run(attempt(hostile, tmp_path, {"path": str(target)}))
            assert out.ok, out.error
            assert out.output["written"] is False, out.output
            assert not target.exists()
        finally:
            await r.close()

    asyncio.run(go())


@pytest.mark.parametrize("runner_cls", LEVELS)
def test_private_home_and_tmp_leave_nothing_behind(runner_cls: type[ProcessRunner],
                                                   tmp_path: Path) -> None:
    _need_level(runner_cls)
    skill = load_skill(HOSTILE / "zygote_home_writes")
    host_tmp = {d: set(os.listdir(d)) for d in {"/tmp", tempfile.gettempdir()}}

    async def go() -> dict[str, Any]:
        r = runner_cls(settings=settings(tmp_path))
        try:
            att = attempt(skill, tmp_path)
            out = await r.run(att)
            assert out.ok, out.error
            workdir = str(att.context.workdir)
            # An attempt's HOME, TMPDIR and XDG folders are its workdir.
            assert all(p.startswith(workdir + "/") for p in out.output["call"]), out.output
            # The import's were the zygote's own, inside the skill's work root.
            root = str(tmp_path / "work" / skill_slot(skill.id)) + "/"
            assert all(p.startswith(root) for p in out.output["import"]), out.output
            return dict(out.output)
        finally:
            await r.close()

    output = asyncio.run(go())
    for p in output["import"]:
        assert not os.path.exists(p), f"{p} outlived the engine"
    for d, before in host_tmp.items():
        new = set(os.listdir(d)) - before
        assert {n for n in new if "home-writes" in n or n.startswith(".zygote-")} == set(), d
    left = [str(p) for p in (tmp_path / "work").rglob(".zygote-*")]
    assert not left, left


# -- unique identities: skills, runners and engines cannot reach each other ---------------
@pytest.mark.parametrize("where", ["one engine", "two engines", "a process engine"])
def test_skills_cannot_reach_each_other(where: str, tmp_path: Path) -> None:
    need_sandbox()
    c = detect_capabilities()
    victim = load_skill(HOSTILE / "uid_victim")
    attacker = load_skill(HOSTILE / "uid_attacker")
    # One uid range for every runner: as every engine on a host has by default.
    s = settings(tmp_path)

    async def go() -> None:
        r1 = SandboxRunner(settings=s)
        r2: ProcessRunner = r1 if where == "one engine" else (
            SandboxRunner(settings=s) if where == "two engines" else ProcessRunner(settings=s))
        try:
            va = attempt(victim, tmp_path, {"seconds": 20}, timeout_s=30)
            vdir = va.context.workdir
            task = asyncio.ensure_future(r1.run(va))
            for _ in range(200):
                if (vdir / "victim.txt").exists():
                    break
                await asyncio.sleep(0.05)
            found = processes_in(vdir, timeout_s=0)
            assert found, "the victim is not running"
            pid = found[0].pid
            nice, cpus = found[0].nice(), found[0].cpu_affinity()
            out = await r2.run(attempt(attacker, tmp_path,
                                       {"pid": pid, "path": str(vdir / "victim.txt")}))
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
            assert out.ok, out.error
            results = dict(out.output)
            shared_uid = not isinstance(r2, SandboxRunner) and not c.is_root
            if shared_uid:
                # Without root the process level keeps the user's uid and has no Landlock:
                # only the PID namespace separates it (files are the sandbox's to guard).
                results.pop("write")
            assert all(v != "ok" for v in results.values()), results
            assert found[0].nice() == nice and found[0].cpu_affinity() == cpus
            (vdir / "done").touch()
            vout = await task
            assert vout.ok, vout.error
            if not shared_uid:
                assert vout.output == {"content": "intact"}
        finally:
            await r1.close()
            if r2 is not r1:
                await r2.close()

    asyncio.run(go())


ENGINE = """
import asyncio, sys
sys.path.insert(0, {repo!r})
from pathlib import Path
from skillexec.runtime.runners.{module} import {cls}
from skillexec.skills.loader import load_skill
from tests._isolation import attempt, settings

async def main():
    tmp = Path({tmp!r})
    r = {cls}(settings=settings(tmp, unprivileged_uid={uid}))
    await r.run(attempt(load_skill(Path({skill!r})), tmp, timeout_s=60))

asyncio.run(main())
"""


# Stands in for a host's init (here the VM's pid 1 kills what it adopts, systemd does not):
# a subreaper that adopts orphans and lets them live, reaping only what exits.
HOST_INIT = """
import ctypes, os, subprocess, sys, time
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
engine = subprocess.Popen([sys.executable, "-c", sys.argv[1]])
print(engine.pid, flush=True)
while True:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        time.sleep(0.1)
"""


@pytest.mark.parametrize("runner_cls", LEVELS)
def test_nothing_outlives_a_killed_engine(runner_cls: type[ProcessRunner],
                                          tmp_path: Path) -> None:
    """The engine is SIGKILLed while an attempt runs whose daemon escaped its session: no
    engine is left to kill its cgroup slot, yet the daemon dies (the zygote's PID
    namespace dies with it, and the zygote with the engine)."""
    import subprocess
    import sys

    _need_level(runner_cls)
    repo = str(Path(__file__).resolve().parent.parent)
    uid = settings(tmp_path).unprivileged_uid  # a random range of its own
    code = ENGINE.format(repo=repo, tmp=str(tmp_path), uid=uid,
                         skill=str(HOSTILE / "zygote_engine_killed"),
                         module="sandbox" if runner_cls is SandboxRunner else "process",
                         cls=runner_cls.__name__)
    init = subprocess.Popen([sys.executable, "-c", HOST_INIT, code], cwd=tmp_path,
                            stdout=subprocess.PIPE, text=True)
    work = tmp_path / "work"
    left: list[psutil.Process] = []
    try:
        assert init.stdout is not None
        engine_pid = int(init.stdout.readline())
        deadline = time.monotonic() + 30
        while not list(work.rglob("daemon.started")) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert list(work.rglob("daemon.started")), "the daemon never started"
        assert processes_in(work, timeout_s=0)
        os.kill(engine_pid, signal.SIGKILL)
        left = processes_in(work, timeout_s=5)
    finally:
        for p in processes_in(work, timeout_s=0):  # leave nothing to the next test
            with contextlib.suppress(Exception):
                p.kill()
        init.kill()
        init.wait()
        if detect_capabilities().is_root:
            # The killed engine's uid lock is free but its file stays: take and drop it.
            from skillexec.security.uids import lease_uid

            lease_uid(uid, 1).release()
    assert not left, f"outlived the engine: {left}"
