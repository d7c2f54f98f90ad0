"""The hostile corpus: each skill in tests/hostile attacks the runner one way.

Each must be contained with the right error, the runner must still run a normal skill
afterwards, and nothing the hostile skill started may still be running.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
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
from skillexec.security.policy import PermissionPolicy
from skillexec.skills.loader import load_skill
from skillexec.skills.model import Entry, EntryKind, Permission, Skill
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
    "chan_unix_dgram": (DENIED, None),
    "chan_vsock": (DENIED, None),
    "chan_packet_raw": (DENIED, None),
    "chan_netlink_diag": (DENIED, None),
    "chan_db_udp": (DENIED, None),
    "chan_db_mptcp": (DENIED, None),
    "chan_db_port": (DENIED, None),
    # The process runner has no Landlock, but its uid has no capability either now.
    "read_private_files": (DENIED, ("any_error", None)),
    "read_engine_files": (DENIED, None),
    "zygote_import_daemon": (("ok", None), ("ok", None)),
    "zygote_import_noise": (("ok", None), ("ok", None)),
}
# Driven by their own tests below (they need a second skill, a setting or a check of their own).
SPECIAL = {"zygote_engine_killed", "zygote_import_hog", "zygote_import_fails", "zygote_import_slow",
           "zygote_patch_landlock", "zygote_home_writes", "uid_victim", "uid_attacker",
           "script_reader", "workspace_planter",  # bundled scripts: test_scripts_hostile.py
           "zygote_home_nested"}
SECRET = "s3cr3t-token-for-the-hostile-test"
_ROOT = Path(__file__).resolve().parent.parent


class _Targets:
    """A TCP listener, a Unix socket, a 0600 secret file: things a skill must not reach.

    Also a UDP socket and a Unix datagram socket (the /dev/log kind) in a folder every uid
    can reach, so that only the sandbox, not file modes, stands between them and a skill.
    """

    def __init__(self, tmp_path: Path) -> None:
        self.received: list[bytes] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp_port = self.udp.getsockname()[1]
        self.open_dir = tempfile.mkdtemp(prefix="skillexec-hostile-")
        os.chmod(self.open_dir, 0o755)
        self.dgram_path = os.path.join(self.open_dir, "log.sock")
        self.dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dgram.bind(self.dgram_path)
        os.chmod(self.dgram_path, 0o777)
        # An allowed tree (extra_read_paths) with a private folder and key inside it.
        self.tree = Path(self.open_dir) / "tree"
        (self.tree / "private").mkdir(parents=True)
        self.key = self.tree / "private" / "key.pem"
        self.key.write_text(SECRET)
        self.key.chmod(0o600)
        (self.tree / "private").chmod(0o710)
        self.tmp_path = tmp_path
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
        for s in (self.udp, self.dgram):
            s.settimeout(0.2)
            threading.Thread(target=self._receive, args=(s,), daemon=True).start()

    def _accept(self, s: socket.socket) -> None:
        while True:
            try:
                conn, _ = s.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.received.append(conn.recv(100))

    def _receive(self, s: socket.socket) -> None:
        while True:
            try:
                self.received.append(s.recv(100))
            except TimeoutError:
                continue
            except OSError:
                return

    def params(self, name: str) -> dict[str, Any]:
        return {"tcp_connect": {"port": self.port}, "unix_connect": {"path": self.unix_path},
                "write_outside": {"path": str(self.outside)},
                "read_secret_file": {"path": str(self.secret_file)},
                "chan_unix_dgram": {"dgram_path": self.dgram_path},
                "chan_db_udp": {"udp_port": self.udp_port},
                "chan_db_mptcp": {"port": self.port},
                "chan_db_port": {"port": self.port},
                # Root's private files; the key only when the skill runs as another uid
                # (as an ordinary user the skill is the key's owner, and may read it).
                "read_private_files": {"paths": [
                    *((str(self.key), str(self.key.parent)) if os.geteuid() == 0 else ()),
                    *(p for p in ("/etc/ssl/private", "/root/.profile", "/root/.bashrc")
                      if os.path.exists(p))]},
                # The engine's working directory and data directory (work_root's parent),
                # and the project folder pytest puts on sys.path (pythonpath = ["."]).
                "read_engine_files": {"paths": [os.getcwd(), str(self.tmp_path),
                                                str(_ROOT / "pyproject.toml")]},
                }.get(name, {})

    def close(self) -> None:
        for s in (self.tcp, self.unix, self.udp, self.dgram):
            s.close()
        shutil.rmtree(self.open_dir, ignore_errors=True)


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


LEAVE_PROCESSES = {"daemon", "fork_bomb", "zygote_import_daemon"}


async def _spare_placed(zyg: Any, timeout_s: float = 3.0) -> bool:
    """Whether the zygote has a spare placed within ``timeout_s`` (none if spares went off,
    or the zygote is gone)."""
    deadline = time.monotonic() + timeout_s
    while zyg.spare is None:
        if zyg.spares_off or zyg.dead or zyg.retired or time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def _run(runner_cls: type[ProcessRunner], name: str, tmp_path: Path,
         expected: tuple[str, str | None], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_TOKEN", SECRET)
    skill = load_skill(HOSTILE / name)
    targets = _Targets(tmp_path)
    normal = write_skill(tmp_path / "normal", NOOP)

    async def go() -> None:
        # The policy grants what the skill asks for: the sandbox, not the policy, is tested.
        policy = PermissionPolicy(per_skill={skill.id: skill.permissions})
        runner = runner_cls(settings=settings(tmp_path, permission_policy=policy,
                                              extra_read_paths=(targets.tree,)))
        nonlocal expected
        try:
            await runner.prepare(skill)
            att = attempt(skill, tmp_path, targets.params(name))
            out = await runner.run(att)
            if name == "fork_bomb" and (pool := runner.zygotes.cgroups) is not None \
                    and pool.has_pids:
                # Where a pids cgroup counts what it refused, a fork loop is told apart
                # from a slow skill (and not retried as a timeout is).
                expected = ("resource_error", "process_limit_exceeded")
            _check(name, out, expected, targets, att.context.workdir)
            assert not wait_gone(runner), f"{name} left processes running"
            # Again, from a spare: forked ahead, it confines itself once its call comes.
            # (What a call leaves running may be swept with the spare, which turns spares
            # off for that zygote: then there is none.)
            zyg = runner.zygotes.live.get(skill.key)
            placed = zyg is not None and await _spare_placed(zyg)
            assert placed or name in LEAVE_PROCESSES, f"{name}: no spare"
            if placed and zyg is not None:
                spare = zyg.spare
                att = attempt(skill, tmp_path, targets.params(name))
                out = await runner.run(att)
                assert zyg.spare is not spare, "the spare did not serve the call"
                _check(name, out, expected, targets, att.context.workdir)
                assert not wait_gone(runner), f"{name} left processes running (spare)"
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
    folders = {p.name for p in HOSTILE.iterdir() if (p / "skill.json").exists()
               and not p.name.startswith("quota_")}  # quota_*: tests/test_quotas.py
    assert folders == set(EXPECT) | SPECIAL


_CHANNELS_NEEDED = """
import asyncio, multiprocessing, socket

async def _ping():
    await asyncio.sleep(0)
    return True

def execute(input_data):
    a, b = multiprocessing.Pipe()  # a stream socketpair
    a.send_bytes(b"x")
    s = socket.create_connection(("127.0.0.1", int(input_data["port"])), timeout=2)
    s.sendall(b"db-hello")
    s.close()
    return {"async": asyncio.run(_ping()), "pipe": b.recv_bytes().decode(),
            "addr": len(socket.getaddrinfo("localhost", 80, proto=socket.IPPROTO_TCP,
                                           flags=socket.AI_ADDRCONFIG)) > 0}
"""


def test_sandbox_keeps_granted_channels(tmp_path: Path) -> None:
    """What the socket allowlist must still let through: asyncio's self-pipe, a duplex
    multiprocessing Pipe, getaddrinfo (netlink route), and TCP to a database port."""
    need_sandbox()
    need(detect_capabilities().landlock_abi >= 4, "Landlock has no TCP rules (ABI < 4)")
    targets = _Targets(tmp_path)
    skill = write_skill(tmp_path / "dbskill", _CHANNELS_NEEDED,
                        permissions=frozenset({Permission.DATABASE_ACCESS}))
    policy = PermissionPolicy(per_skill={skill.id: skill.permissions},
                              database_ports=(targets.port,))

    async def go() -> None:
        runner = SandboxRunner(settings=settings(tmp_path, permission_policy=policy))
        try:
            out = await runner.run(attempt(skill, tmp_path, {"port": targets.port}))
            assert out.ok, out.error
            assert out.output == {"async": True, "pipe": "x", "addr": True}
        finally:
            await runner.close()

    try:
        asyncio.run(go())
        deadline = time.monotonic() + 2
        while not targets.received and time.monotonic() < deadline:
            time.sleep(0.02)
        assert targets.received == [b"db-hello"]
    finally:
        targets.close()


_APP = """
import asyncio, json, sys
from skillexec import SkillExecutionEngine

async def main():
    async with SkillExecutionEngine(skills_dir="skills") as engine:
        # A first call puts another caller's secret in the journal.
        first = await engine.execute("read-engine-files", {"paths": [], "note": sys.argv[1]})
        probe = await engine.execute("read-engine-files", {"paths": json.loads(sys.argv[2])})
    print(json.dumps({"first": first.status.value, "status": probe.status.value,
                      "output": probe.output, "error": probe.error}, default=repr))

asyncio.run(main())
"""


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
        r = runner_cls(settings=settings(tmp_path, zygote_import_timeout_s=5.0))
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
def test_a_failed_warm_up_is_the_next_calls_answer_not_a_second_import(
        runner_cls: type[ProcessRunner], tmp_path: Path) -> None:
    """A skill whose import timed out at its warm-up (prepare) is not imported again by the
    call right after: that call ends import_timeout at once (`skillexec run` of a hanging
    skill took twice zygote_import_timeout_s); the call after it tries the import again."""
    _need_level(runner_cls)
    slow = load_skill(HOSTILE / "zygote_import_slow")

    async def go() -> None:
        r = runner_cls(settings=settings(tmp_path, zygote_import_timeout_s=2))
        try:
            await r.prepare(slow)
            t0 = time.monotonic()
            first = await r.run(attempt(slow, tmp_path, timeout_s=60))
            took = time.monotonic() - t0
            assert first.error is not None and first.error.code == "import_timeout"
            assert took < 1.5, took  # the warm-up's answer, not another 2 s import
            t0 = time.monotonic()
            second = await r.run(attempt(slow, tmp_path, timeout_s=60))
            assert second.error is not None and second.error.code == "import_timeout"
            assert time.monotonic() - t0 >= 2  # imported again
            # A call that waited on the warm-up itself had its answer: the next one imports.
            r2 = runner_cls(settings=settings(tmp_path, zygote_import_timeout_s=2))
            try:
                _, waited = await asyncio.gather(
                    r2.prepare(slow), r2.run(attempt(slow, tmp_path, timeout_s=60)))
                assert waited.error is not None and waited.error.code == "import_timeout"
                t0 = time.monotonic()
                after = await r2.run(attempt(slow, tmp_path, timeout_s=60))
                assert after.error is not None and time.monotonic() - t0 >= 2
            finally:
                await r2.close()
        finally:
            await r.close()
        assert not processes_in(tmp_path / "work")

    asyncio.run(go())


def test_skills_warm_up_side_by_side_so_hanging_imports_do_not_add_up(tmp_path: Path) -> None:
    """An engine's start waits for its skills' warm-ups together: three skills whose import
    hangs cost one zygote_import_timeout_s, not three (`skillexec serve` answered nothing
    until each had timed out in turn), and the good skill beside them runs."""
    need_sandbox()
    skills = tmp_path / "skills"
    for n in range(3):
        shutil.copytree(HOSTILE / "zygote_import_slow", skills / f"slow{n}")
        manifest = skills / f"slow{n}" / "skill.json"
        manifest.write_text(manifest.read_text().replace('"zygote-import-slow"', f'"slow{n}"'))
    (skills / "normal").mkdir()
    (skills / "normal" / "main.py").write_text(NOOP)
    (skills / "normal" / "skill.json").write_text(json.dumps(
        {"id": "normal", "version": "1.0.0", "entry_point": "main:execute"}))
    from skillexec import SkillExecutionEngine
    from skillexec.config import EngineConfig

    async def go() -> tuple[float, Any]:
        engine = SkillExecutionEngine(config=EngineConfig(
            skills_dir=skills, data_dir=tmp_path / "data", zygote={"import_timeout_s": 3}))
        t0 = time.monotonic()
        async with engine:
            took = time.monotonic() - t0
            return took, await engine.execute("normal", {"x": 1})
    took, ok = asyncio.run(go())
    assert ok.status.value == "succeeded", ok.error
    assert took < 7, took  # one after the other: at least 9 s


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


@pytest.mark.deep_tree
@pytest.mark.parametrize("runner_cls", LEVELS)
def test_a_home_nested_past_the_recursion_limit_is_removed(runner_cls: type[ProcessRunner],
                                                            tmp_path: Path) -> None:
    """The import nests 1,100 folders in the zygote's HOME: the runner still closes, and
    leaves nothing behind."""
    _need_level(runner_cls)
    skill = load_skill(HOSTILE / "zygote_home_nested")

    async def go() -> str:
        r = runner_cls(settings=settings(tmp_path))
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok, out.error
            return str(out.output["home"])
        finally:
            await r.close()

    home = asyncio.run(go())
    assert not os.path.exists(home), f"{home} outlived the engine"
    assert not list((tmp_path / "work").rglob(".zygote-*"))


def test_read_only_folders_do_not_hide_a_workspace_from_its_quota(tmp_path: Path) -> None:
    """The skill makes files past the quota, then its folders and the workspace itself
    read-only (0500). As an ordinary user the engine could unlink nothing there: the
    workspace stayed on disk for good, counted as empty (no quota error past the running
    check's second). The call must end with the quota named and leave nothing behind."""
    need_sandbox()
    from skillexec import SkillExecutionEngine
    from skillexec.config import EngineConfig

    async def go() -> None:
        async with SkillExecutionEngine(config=EngineConfig(
                data_dir=tmp_path / "d", work_dir=tmp_path / "d" / "work",
                max_workspace_files=100)) as engine:
            engine.register(HOSTILE / "quota_locked_folders")
            # Warm first: the second call is over long before the running check's first look.
            first = await engine.execute("quota-locked-folders", {"files": 0})
            assert first.ok, first.error
            r = await engine.execute("quota-locked-folders", {"files": 200})
            assert r.error is not None, r.output
            assert (r.error.type.value, r.error.code) == ("resource_error",
                                                           "workspace_quota_exceeded")
    asyncio.run(go())
    work = tmp_path / "d" / "work"
    left = [str(p) for p in work.rglob("*") if p.parent != work] if work.exists() else []
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


def test_sandbox_reads_nothing_of_an_embedding_script(tmp_path: Path) -> None:
    """A script that embeds the engine: its folder (on sys.path), skillexec.toml, the
    journal, the data directory, and a private key in the skill's own folder stay unread."""
    need_sandbox()
    base = Path(tempfile.mkdtemp(prefix="skillexec-app-"))
    try:
        base.chmod(0o755)  # reachable by any uid: only the sandbox stands in the way
        app = base / "app"
        app.mkdir(mode=0o755)
        (app / "main.py").write_text(_APP)
        (app / "skillexec.toml").write_text(f"# {SECRET}\nmax_concurrency = 2\n")
        skill_dir = app / "skills" / "read_engine_files"
        shutil.copytree(HOSTILE / "read_engine_files", skill_dir)
        private = skill_dir / "private"
        private.mkdir()
        (private / "key.pem").write_text(SECRET)
        (private / "key.pem").chmod(0o600)
        private.chmod(0o710)
        data = app / ".skillexec"
        paths = [str(p) for p in (app / "skillexec.toml", data / "journal.db", app / "main.py",
                                  app, data)]
        if os.geteuid() == 0:  # as an ordinary user, the skill would be the key's owner
            paths.append(str(private / "key.pem"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")}
        res = subprocess.run([sys.executable, str(app / "main.py"), SECRET, json.dumps(paths)],
                             cwd=app, env=env, capture_output=True, text=True, timeout=120,
                             check=False)
        assert res.returncode == 0, res.stderr[-2000:]
        assert (data / "journal.db").exists()
        out = json.loads(res.stdout.strip().splitlines()[-1])
        assert SECRET not in res.stdout, f"the skill read the engine's files: {out}"
        assert out["first"] == "succeeded", out
        assert out["status"] == "failed" and "sandbox_denied" in str(out["error"]), out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_command_program_does_not_open_its_folder(tmp_path: Path) -> None:
    """A command skill's argv[0] outside its folder: the program file is readable, the
    folder it sits in (and so its neighbours) is not."""
    need_sandbox()
    base = Path(tempfile.mkdtemp(prefix="skillexec-bin-"))
    try:
        base.chmod(0o755)  # reachable by any uid: only Landlock stands in the way
        prog = base / "tool"
        prog.write_text(
            f"#!{sys.executable}\n"
            "import json, os, sys\n"
            "json.load(sys.stdin)\n"
            "here = os.path.dirname(os.path.abspath(sys.argv[0]))\n"
            "try:\n"
            "    leaked = open(os.path.join(here, 'neighbour.txt')).read()\n"
            "except OSError:\n"
            "    leaked = None\n"
            "print(json.dumps({'leaked': leaked}))\n")
        prog.chmod(0o755)
        (base / "neighbour.txt").write_text(SECRET)
        folder = tmp_path / "cmdskill"
        folder.mkdir()
        skill = Skill(id="cmdskill", version="1.0.0", path=folder,
                      entry=Entry(kind=EntryKind.COMMAND, command=(str(prog),)))

        async def go() -> None:
            runner = SandboxRunner(settings=settings(tmp_path))
            try:
                out = await runner.run(attempt(skill, tmp_path, {}))
                assert out.ok, out.error
                assert out.output == {"leaked": None}
            finally:
                await runner.close()

        asyncio.run(go())
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_data_dir_inside_the_skill_folder_stays_hidden(tmp_path: Path) -> None:
    """The engine run from inside a skill's folder: its data directory (journal, artifacts)
    lies in a tree the skill may read, and is hidden from it all the same; its workspace,
    in the same folder, still works."""
    need_sandbox()
    if os.geteuid() != 0:  # a documented limit without root (README, Isolation), not a gap
        pytest.skip("hiding a folder inside a readable tree takes root's mount namespace")
    base = Path(tempfile.mkdtemp(prefix="skillexec-inside-"))
    try:
        base.chmod(0o755)
        folder = base / "probe"
        shutil.copytree(HOSTILE / "read_engine_files", folder)
        data = folder / ".skillexec"
        data.mkdir()
        (data / "journal.db").write_text(SECRET)
        (data / "artifacts").mkdir()
        skill = load_skill(folder)

        async def go() -> None:
            runner = SandboxRunner(settings=settings(data))
            try:
                out = await runner.run(attempt(skill, data, {"paths": [
                    str(data / "journal.db"), str(data / "artifacts"), str(data)]}))
                assert SECRET not in repr(out.output), out.output
                assert out.error is not None and out.error.code == "sandbox_denied", out
                mine = await runner.run(attempt(skill, data, {"paths": [str(folder / "main.py")]}))
                assert mine.ok and "def execute" in str(mine.output), mine.error
            finally:
                await runner.close()

        asyncio.run(go())
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_engine_cwd_inside_a_readable_tree_stays_hidden(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's working directory inside a tree the skill may read (as /usr/src/app is
    under /usr): hidden, except what the skill needs beneath it (a library folder there)."""
    need_sandbox()
    if os.geteuid() != 0:  # a documented limit without root (README, Isolation), not a gap
        pytest.skip("hiding a folder inside a readable tree takes root's mount namespace")
    base = Path(tempfile.mkdtemp(prefix="skillexec-cwd-"))
    try:
        base.chmod(0o755)
        app = base / "app"
        (app / "lib").mkdir(parents=True)
        (app / "lib" / "data.txt").write_text("library data")
        (app / "skillexec.toml").write_text(f"# {SECRET}\n")
        monkeypatch.chdir(app)
        skill = load_skill(HOSTILE / "read_engine_files")

        async def go() -> None:
            runner = SandboxRunner(settings=settings(tmp_path,
                                                     extra_read_paths=(base, app / "lib")))
            try:
                out = await runner.run(attempt(skill, tmp_path, {"paths": [
                    str(app / "skillexec.toml"), str(app)]}))
                assert SECRET not in repr(out.output), out.output
                assert out.error is not None and out.error.code == "sandbox_denied", out
                lib = await runner.run(attempt(skill, tmp_path, {"paths": [
                    str(app / "lib" / "data.txt")]}))
                assert lib.ok and "library data" in str(lib.output), lib.error
            finally:
                await runner.close()

        asyncio.run(go())
    finally:
        shutil.rmtree(base, ignore_errors=True)


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
            # The killed engine's uid lock is free once its zygote is gone too (it dies
            # with the engine, a moment later on a loaded box), but its file stays: take
            # and drop it.
            from skillexec.errors import ResourceError
            from skillexec.security.uids import lease_uid

            freed_by = time.monotonic() + 15
            while True:
                try:
                    lease_uid(uid, 1).release()
                    break
                except ResourceError:
                    if time.monotonic() > freed_by:
                        raise
                    time.sleep(0.05)
    assert not left, f"outlived the engine: {left}"


def test_a_skills_error_reaches_python_m_skillexec(tmp_path: Path) -> None:
    """``python -m skillexec``: its __main__ lies in skillexec's own package folder, which
    was hidden as an embedding script's folder where the source is outside the
    interpreter's prefix (an editable install, as here); a sandboxed skill that raised then
    crashed its child (exit 71, retried) instead of failing with its own error."""
    need_sandbox()
    folder = tmp_path / "raiser"
    folder.mkdir()
    (folder / "skill.json").write_text(json.dumps(
        {"id": "raiser", "version": "1.0.0", "entry_point": "main:execute"}))
    (folder / "main.py").write_text("def execute(data):\n    raise RuntimeError('the skill "
                                    "says no')\n")
    done = subprocess.run(
        [sys.executable, "-m", "skillexec", "run", str(folder), "--json",
         "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    result = json.loads(done.stdout)
    assert result["error"]["code"] == "skill_raised", result["error"]
    assert "the skill says no" in result["error"]["message"]
    assert result["attempts"] == 1


# A skill's failure whose report raised in the child: it died without an answer
# (child_crashed, retryable, so the call ran three times) instead of failing once.
REPORT_BREAKERS = {
    "str_raises": ("class Weird(Exception):\n"
                   "    def __str__(self):\n"
                   "        raise ValueError('no str for you')\n"
                   "def execute(data):\n"
                   "    raise Weird()\n", "skill_raised", "Weird"),
    "details_not_json": ("from skillexec.errors import ExecutionError\n"
                         "def execute(data):\n"
                         "    raise ExecutionError('own words', code='own_code',\n"
                         "                         details={'x': object()})\n",
                         "own_code", "own words"),
    "result_unreadable": ("class D(dict):\n"
                          "    def keys(self):\n"
                          "        raise RuntimeError('keys')\n"
                          "    def values(self):\n"
                          "        raise RuntimeError('values')\n"
                          "def execute(data):\n"
                          "    return D(a=1)\n", "output_not_json", "RuntimeError"),
}


@pytest.mark.parametrize("case", sorted(REPORT_BREAKERS))
@pytest.mark.parametrize("runner_cls", LEVELS)
def test_a_failure_whose_report_raises_is_still_answered(
        runner_cls: type[ProcessRunner], case: str, tmp_path: Path) -> None:
    _need_level(runner_cls)
    code, expected, said = REPORT_BREAKERS[case]
    skill = write_skill(tmp_path / "breaker", code)

    async def go() -> None:
        r = runner_cls(settings=settings(tmp_path))
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.error is not None
            assert out.error.code == expected, out.error
            assert not out.error.retryable
            assert said in out.error.message
        finally:
            await r.close()

    asyncio.run(go())
