"""The hostile corpus: each skill in tests/hostile attacks the runner one way.

Each must be contained with the right error, the runner must still run a normal skill
afterwards, and nothing the hostile skill started may still be running.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from skillexec.runtime.capabilities import detect_capabilities
from skillexec.runtime.runners.base import Outcome
from skillexec.runtime.runners.process import ProcessRunner
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
    # Under process, the zygote is pid 1 of a PID namespace where one exists (a SIGKILL from
    # inside is ignored) and is killed otherwise: either way the runner carries on.
    "kill_parent": (DENIED, ("any", None)),
    "ctypes_unshare": (DENIED, None),
}
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
    elif kind == "any":
        pass
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
    assert expected is not None
    _run(ProcessRunner, name, tmp_path, expected, monkeypatch)


def test_corpus_is_complete() -> None:
    folders = {p.name for p in HOSTILE.iterdir() if (p / "skill.json").exists()}
    assert folders == set(EXPECT)
