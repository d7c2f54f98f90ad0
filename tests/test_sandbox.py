"""The sandbox runner and its mechanisms, against the real kernel: grants are enforced."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from skillexec.errors import SkillPermissionError
from skillexec.runtime.capabilities import detect_capabilities, doctor_rows, missing_for
from skillexec.runtime.runners.sandbox import SandboxRunner
from skillexec.security import seccomp
from skillexec.security.policy import PermissionPolicy
from skillexec.skills.model import Entry, EntryKind, Permission, Skill
from tests._isolation import (
    HELD_FDS,
    REQUIRE,
    attempt,
    need,
    need_sandbox,
    settings,
    wait_gone,
    write_skill,
)

pytestmark = pytest.mark.timeout(60)
ALL = frozenset(Permission)


def _listener() -> tuple[socket.socket, int, list[bytes]]:
    srv = socket.create_server(("127.0.0.1", 0))
    got: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            got.append(conn.recv(10))
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1], got


CONNECT = ("import socket\n"
           "def execute(d):\n"
           "    s = socket.create_connection(('127.0.0.1', d['port']), timeout=2)\n"
           "    s.sendall(b'hi')\n"
           "    s.close()\n"
           "    return 'sent'\n")


def test_this_machine_has_what_the_sandbox_needs() -> None:
    c = detect_capabilities()
    if REQUIRE:
        assert c.landlock_abi >= 1 and c.seccomp and c.network_namespaces
    rows = doctor_rows()
    levels = {r["mechanism"]: r for r in rows if r["section"] == "level"}
    assert set(levels) == {"inline", "process", "sandbox"}
    assert levels["sandbox"]["available"] == (not missing_for("sandbox", c, network=False))
    assert all(set(r) == {"section", "mechanism", "available", "detail"} for r in rows)


def test_network_is_granted_only_when_asked(tmp_path: Path) -> None:
    need_sandbox()
    denied = write_skill(tmp_path / "nonet", CONNECT)
    allowed = write_skill(tmp_path / "net", CONNECT,
                          permissions=frozenset({Permission.NETWORK_ACCESS}))
    srv, port, got = _listener()

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, permission_policy=PermissionPolicy(
            allowed=ALL)))
        try:
            out = await r.run(attempt(denied, tmp_path, {"port": port}))
            assert out.error is not None and out.error.code == "sandbox_denied", out
            assert out.metrics.get("net_tx_bytes") == 0
            out = await r.run(attempt(allowed, tmp_path, {"port": port}))
            assert out.ok, out.error
        finally:
            await r.close()
            srv.close()

    asyncio.run(go())
    assert got == [b"hi"]


def test_network_counters_come_through_one_descriptor_per_zygote(tmp_path: Path) -> None:
    # Read before and after every attempt: the zygote's /proc/<pid>/net/dev is opened
    # once, read again from its start each time, and closed with the zygote (an open
    # file of it keeps the network namespace alive).
    need_sandbox()
    skill = write_skill(tmp_path / "quiet", "def execute(d):\n    return 1\n")

    def held() -> list[str]:
        out = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/self/fd/{fd}")
                if target.startswith("/proc/") and target.endswith("/net/dev"):
                    out.append(target)
        return out

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            for _ in range(3):
                out = await r.run(attempt(skill, tmp_path, {}))
                assert out.ok, out.error
                assert out.metrics.get("net_rx_bytes") == 0, out.metrics
                assert out.metrics.get("net_tx_bytes") == 0, out.metrics
            assert len(held()) == 1, held()
        finally:
            await r.close()
        assert held() == []

    asyncio.run(go())


def test_database_access_opens_only_database_ports(tmp_path: Path) -> None:
    need_sandbox()
    need(detect_capabilities().landlock_abi >= 4, "Landlock ABI < 4 has no TCP rules")
    skill = write_skill(tmp_path / "db", CONNECT,
                        permissions=frozenset({Permission.DATABASE_ACCESS}))
    srv, port, got = _listener()
    other, other_port, other_got = _listener()

    async def go() -> None:
        policy = PermissionPolicy(allowed=ALL, database_ports=(port,))
        r = SandboxRunner(settings=settings(tmp_path, permission_policy=policy))
        try:
            assert (await r.run(attempt(skill, tmp_path, {"port": port}))).ok
            out = await r.run(attempt(skill, tmp_path, {"port": other_port}))
            assert out.error is not None and out.error.code == "sandbox_denied"
        finally:
            await r.close()
            srv.close()
            other.close()

    asyncio.run(go())
    assert got == [b"hi"] and not other_got


def test_file_grants(tmp_path: Path) -> None:
    need_sandbox()
    shared_in = tmp_path / "shared_in"
    shared_in.mkdir()
    (shared_in / "data.txt").write_text("payload")
    shared_out = tmp_path / "shared_out"
    shared_out.mkdir()
    # The one uid this test's runners hand out: from a random range of its own, not the
    # default one, which the engines of other tests (other workers) draw from meanwhile.
    uid = settings(tmp_path).unprivileged_uid
    os.chown(shared_out, uid, uid) if os.geteuid() == 0 else None
    code = ("def execute(d):\n"
            "    text = open(d['src']).read()\n"
            "    open(d['dst'], 'w').write(text.upper())\n"
            "    return text\n")
    granted = write_skill(tmp_path / "rw", code, skill_id="rw",
                          permissions=frozenset({Permission.FILE_READ, Permission.FILE_WRITE}))
    plain = write_skill(tmp_path / "plain", code, skill_id="plain")
    params = {"src": str(shared_in / "data.txt"), "dst": str(shared_out / "o.txt")}

    async def go() -> None:
        policy = PermissionPolicy(allowed=ALL, file_read_paths=(shared_in,),
                                  file_write_paths=(shared_out,))
        # One uid to hand out: each skill gets a runner of its own, one after the other.
        for skill, ok in ((plain, False), (granted, True)):
            r = SandboxRunner(settings=settings(tmp_path, permission_policy=policy,
                                                unprivileged_uid=uid, unprivileged_uid_count=1))
            try:
                out = await r.run(attempt(skill, tmp_path, params))
                if ok:
                    assert out.ok and out.output == "payload", out.error
                else:
                    assert out.error is not None and out.error.code == "sandbox_denied"
            finally:
                await r.close()

    asyncio.run(go())
    assert (shared_out / "o.txt").read_text() == "PAYLOAD"


def test_system_info_and_lazy_imports(tmp_path: Path) -> None:
    need_sandbox()
    code = ("import os\n"
            "def execute(d):\n"
            "    import decimal, sqlite3, json  # not imported by the zygote: read now\n"
            "    return len([p for p in os.listdir('/proc') if p.isdigit()])\n")
    info = write_skill(tmp_path / "info", code, permissions=frozenset({Permission.SYSTEM_INFO}))

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path, permission_policy=PermissionPolicy(
            allowed=ALL)))
        try:
            out = await r.run(attempt(info, tmp_path))
            assert out.ok and out.output > 0, out.error
        finally:
            await r.close()

    asyncio.run(go())


def test_asyncio_and_workdir_writes_work_in_the_sandbox(tmp_path: Path) -> None:
    need_sandbox()
    code = ("import asyncio\n"
            "async def execute(d, context):\n"
            "    await asyncio.sleep(0.01)\n"
            "    r, w = await asyncio.open_connection(sock=None) if False else (None, None)\n"
            "    (context.workdir / 'f.txt').write_text('ok')\n"
            "    import tempfile\n"
            "    with tempfile.NamedTemporaryFile() as f:\n"
            "        f.write(b'x')\n"
            "    return (context.workdir / 'f.txt').read_text()\n")
    skill = write_skill(tmp_path / "aio", code)

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            out = await r.run(attempt(skill, tmp_path))
            assert out.ok and out.output == "ok", (out.error, out.traceback)
        finally:
            await r.close()

    asyncio.run(go())


def test_command_skill_in_the_sandbox(tmp_path: Path) -> None:
    need_sandbox()
    folder = tmp_path / "cmd"
    folder.mkdir()
    (folder / "run.py").write_text(
        "import json, sys\n"
        "p = json.load(sys.stdin)\n"
        "try:\n"
        "    open('/etc/shadow').read()\n"
        "    leaked = True\n"
        "except OSError:\n"
        "    leaked = False\n"
        "print(json.dumps({'n': p['n'] * 2, 'leaked': leaked}))\n")
    skill = Skill(id="cmd", version="1.0.0", path=folder,
                  entry=Entry(kind=EntryKind.COMMAND, command=("python", "run.py")))

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            out = await r.run(attempt(skill, tmp_path, {"n": 21}))
            assert out.ok, out.error
            assert out.output == {"n": 42, "leaked": False}
        finally:
            await r.close()

    asyncio.run(go())


def test_fails_closed_without_a_mechanism(tmp_path: Path) -> None:
    skill = write_skill(tmp_path / "n", "def execute(d):\n    return 1\n")

    async def go(allow: bool) -> None:
        r = SandboxRunner(settings=settings(tmp_path, allow_weaker_isolation=allow))
        # The machine as it would be without Landlock or seccomp.
        r._caps = dataclasses.replace(r._caps, landlock_abi=0, seccomp=False)
        try:
            out = await r.run(attempt(skill, tmp_path))
            if allow:
                assert out.ok, out.error
            else:
                assert out.error is not None and out.error.code == "isolation_unavailable"
                assert "Landlock" in out.error.message and not r.zygotes.live
        finally:
            await r.close()

    asyncio.run(go(False))
    asyncio.run(go(True))


def test_permission_policy() -> None:
    s = Skill(id="x", version="1.0.0", entry=Entry(kind=EntryKind.NONE),
              permissions=frozenset({Permission.NETWORK_ACCESS, Permission.FILE_READ}))
    p = PermissionPolicy(allowed=frozenset({Permission.FILE_READ}))
    with pytest.raises(SkillPermissionError) as exc:
        p.check(s)
    assert exc.value.code == "permission_not_granted" and "network_access" in str(exc.value)
    assert exc.value.details["refused"] == ["network_access"]
    p2 = PermissionPolicy(allowed=frozenset({Permission.FILE_READ}),
                          per_skill={"x": frozenset({Permission.NETWORK_ACCESS})})
    assert p2.check(s) == s.permissions


def test_seccomp_program_shape() -> None:
    need(seccomp.supported(), "seccomp filter is x86_64 only")
    prog = seccomp.build_filter()
    assert prog.length * 8 == len(prog.code) and prog.length < 255
    assert seccomp.build_filter(tcp_only=True).length < prog.length


def test_hundred_concurrent_sandboxed_calls(tmp_path: Path) -> None:
    """A hundred calls in flight at once: some moment when every one of them is running
    (the last started before the first ended). Each naps 3 s, so that starting a hundred
    sandboxed children on a loaded two-core CI box (2.5 s there) does not decide it, as
    a bound on the wall time did (3.02 s against 3.0)."""
    need_sandbox()
    skill = write_skill(tmp_path / "nap", "import time\ndef execute(d):\n"
                                          "    t0 = time.time()\n    time.sleep(d['nap_s'])\n"
                                          "    return [d['i'], t0, time.time()]\n")

    async def go() -> float:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            await r.prepare(skill)
            await r.run(attempt(skill, tmp_path, {"i": -1, "nap_s": 0}))
            t0 = time.perf_counter()
            outs = await asyncio.gather(*[r.run(attempt(skill, tmp_path, {"i": i, "nap_s": 3}))
                                          for i in range(100)])
            took = time.perf_counter() - t0
            assert [o.output[0] for o in outs if o.output] == list(range(100)), \
                [o.error for o in outs][:3]
            last_start = max(o.output[1] for o in outs if o.output)
            first_end = min(o.output[2] for o in outs if o.output)
            assert last_start < first_end, (last_start, first_end)
            return took
        finally:
            await r.close()
            assert not wait_gone(r)

    took = asyncio.run(go())
    assert took < 30, took  # one after another: 300 s


def test_concurrent_children_hold_no_sibling_descriptors(tmp_path: Path) -> None:
    # The zygote forks queued requests back to back; each child must close the other
    # requests' sockets, pipes and Landlock rulesets before the skill runs.
    need_sandbox()
    skill = write_skill(tmp_path / "fds", HELD_FDS)

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            await r.prepare(skill)
            outs = await asyncio.gather(*[r.run(attempt(skill, tmp_path)) for _ in range(24)])
            for out in outs:
                assert out.ok, out.error
                # Its own channel only; no pipes; no O_PATH directory fds (Landlock rules).
                assert out.output.get("sock") == 1, out.output
                assert "fifo" not in out.output and "dir" not in out.output, out.output
        finally:
            await r.close()

    asyncio.run(go())


PROBE = """
import ctypes, errno, os, socket
libc = ctypes.CDLL(None, use_errno=True)
def execute(d):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # needs a route: none in an empty network namespace
        routed = True
    except OSError:
        routed = False
    s.close()
    return {"uid": os.getuid(), "ppid": os.getppid(), "routed": routed,
            "no_new_privs": libc.prctl(39, 0, 0, 0, 0), "seccomp": libc.prctl(21, 0, 0, 0, 0)}
"""


def test_doctor_tells_what_a_sandboxed_skill_gets(tmp_path: Path) -> None:
    """What ``doctor`` says, as whoever runs the tests (root, or nobody in scripts/test.sh),
    is what a sandboxed skill really gets."""
    c = detect_capabilities()
    rows = {r["mechanism"]: r for r in doctor_rows()}
    skill = write_skill(tmp_path / "probe", PROBE)

    async def go() -> None:
        r = SandboxRunner(settings=settings(tmp_path))
        try:
            out = await r.run(attempt(skill, tmp_path))
        finally:
            await r.close()
        assert out.ok == bool(rows["sandbox"]["available"]), (rows["sandbox"], out.error)
        if not out.ok:
            return
        got = out.output
        assert got["no_new_privs"] == 1 and got["seccomp"] == 2
        assert got["routed"] is False  # doctor: network namespace
        assert rows["PID namespaces"]["available"] == (got["ppid"] == 1)
        if rows["running as root"]["available"]:
            assert got["uid"] != 0 and got["uid"] >= r.settings.unprivileged_uid
        else:
            assert got["uid"] == os.getuid()
        assert "user namespace" in str(rows["running as root"]["detail"]) or c.is_root

    asyncio.run(go())


def test_engine_gives_each_skill_its_own_work_root(tmp_path: Path) -> None:
    """Through the engine: a skill's workdirs live in ``<work_root>/<skill>/``, and a skill
    whose import disabled its attempts' own Landlock layer still cannot write where another
    skill's workdirs are (its warm parent's layer covers its own folder only)."""
    import shutil

    from skillexec import SkillExecutionEngine
    from tests._isolation import HOSTILE

    need_sandbox()
    skills = tmp_path / "skills"
    shutil.copytree(HOSTILE / "zygote_patch_landlock", skills / "patcher")
    victim = skills / "victim"
    victim.mkdir()
    (victim / "skill.json").write_text(
        '{"id": "victim", "name": "victim", "version": "1.0.0", "description": "v",'
        ' "entry_point": "main:execute", "main_file": "main.py"}')
    (victim / "main.py").write_text(
        "def execute(input_data, context):\n    return str(context.workdir)\n")

    async def main() -> None:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            r = await e.execute("victim")
            assert r.error is None, r.error
            folder = Path(r.output).parent
            assert folder.name == "victim", r.output
            folder.chmod(0o777)  # file modes allow it: only Landlock stands in the way
            out = await e.execute("zygote-patch-landlock", {"path": str(folder / "x.txt")})
            assert out.error is None, out.error
            assert out.output["written"] is False, out.output
            assert not (folder / "x.txt").exists()

    asyncio.run(main())


MATPLOTLIB = """
import io
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

def execute(d):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return {"png_bytes": len(buf.getvalue()), "configdir": matplotlib.get_configdir(),
            "cachedir": matplotlib.get_cachedir()}
"""


@pytest.mark.parametrize("level", ["sandbox", "process"])
def test_matplotlib_imports_and_plots(level: str, tmp_path: Path) -> None:
    """matplotlib needs a writable config and cache folder at import: the warm parent's
    private HOME/XDG folders give it one, inside the skill's work root, and nothing is
    left in the host's /tmp."""
    from skillexec.runtime.runners.process import ProcessRunner

    if level == "sandbox":
        need_sandbox()
    skill = write_skill(tmp_path / "plot", MATPLOTLIB, timeout_s=60)
    before = set(os.listdir("/tmp"))

    async def go() -> None:
        cls = SandboxRunner if level == "sandbox" else ProcessRunner
        r = cls(settings=settings(tmp_path))
        try:
            out = await r.run(attempt(skill, tmp_path, timeout_s=60))
            assert out.ok, out.error
            assert out.output["png_bytes"] > 1000
            root = str(tmp_path / "work") + "/"
            assert out.output["configdir"].startswith(root), out.output
            assert out.output["cachedir"].startswith(root), out.output
        finally:
            await r.close()

    asyncio.run(go())
    assert not {n for n in set(os.listdir("/tmp")) - before if "matplotlib" in n}
