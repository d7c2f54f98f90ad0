"""Sessions (DESIGN §3.5): a workspace that persists across script calls, one call at a
time in submit order, removed after its TTL, bounded by quotas; in the sandbox a script
writes only its own session's folder."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import FIXTURES, arun

SKILLS = FIXTURES / "scripts"
PDF = "pdf-forms"

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    need_sandbox()


def engine(tmp_path: Path, **sessions: Any) -> SkillExecutionEngine:
    config = EngineConfig(skills_dir=SKILLS, data_dir=tmp_path / "data",
                          sessions=sessions) if sessions else None
    if config is not None:
        return SkillExecutionEngine(config=config)
    return SkillExecutionEngine(skills_dir=SKILLS, data_dir=tmp_path / "data")


def test_create_list_files_close(tmp_path: Path) -> None:
    async def go() -> None:
        async with engine(tmp_path) as e:
            a = e.sessions.create(ttl_s=60)
            b = e.sessions.create()
            assert [s.id for s in e.sessions.list()] == [a, b]
            assert e.sessions.get(a).ttl_s == 60
            r = await e.run_script(PDF, "scripts/noop.py", files={"d/x.txt": b"abc"},
                                   session=a)
            assert r.status is TaskStatus.SUCCEEDED, r.error
            assert [(f["path"], f["size"]) for f in e.sessions.files(a)] == [("d/x.txt", 3)]
            assert e.sessions.files(b) == []
            assert e.sessions.close(a) is True
            assert e.sessions.close(a) is False
            assert [s.id for s in e.sessions.list()] == [b]
            gone = await e.run_script(PDF, "scripts/noop.py", session=a)
            assert gone.status is TaskStatus.REJECTED and gone.error is not None
            assert gone.error.code == "session_not_found"
            bad = await e.run_script(PDF, "scripts/noop.py", session="../../etc")
            assert bad.error is not None and bad.error.code == "invalid_session_id"
            odd = await e.run_script(PDF, "scripts/noop.py",
                                     session=["s_0"])  # type: ignore[arg-type]
            assert odd.error is not None and odd.error.code == "invalid_session_id"
    arun(go())


def test_calls_in_one_session_run_one_at_a_time_in_submit_order(tmp_path: Path) -> None:
    async def go() -> tuple[list[ExecutionResult], str]:
        async with engine(tmp_path) as e:
            sid = e.sessions.create()
            calls = [e.run_script(PDF, "scripts/slow.py", args=[tag, "0.3"], session=sid)
                     for tag in ("a", "b", "c", "d")]
            results = await asyncio.gather(*calls)
            out = await e.run_script(PDF, "scripts/echo_args.py", session=sid)
            text = (Path(out.output["stdout"].split('"cwd": "')[1].split('"')[0])
                    / "order.txt").read_text()
            return list(results), text
    results, order = arun(go())
    assert all(r.status is TaskStatus.SUCCEEDED for r in results), [r.error for r in results]
    assert order == "a><a\nb><b\nc><c\nd><d\n"  # never interleaved, in submit order


def test_other_sessions_run_side_by_side(tmp_path: Path) -> None:
    async def go() -> float:
        async with engine(tmp_path) as e:
            await e.run_script(PDF, "scripts/noop.py")  # the warm parent is up
            ids = [e.sessions.create() for _ in range(3)]
            t0 = time.monotonic()
            await asyncio.gather(*(e.run_script(PDF, "scripts/slow.py", args=["x", "0.5"],
                                                session=s) for s in ids))
            return time.monotonic() - t0
    assert arun(go()) < 1.4


_LATE_READER = """import os, sys, time
end = time.monotonic() + float(sys.argv[1])
i = 0
while time.monotonic() < end:  # files made all along, at the session's top
    with open(f"f{i}", "w") as f:
        f.write("x")
    i += 1
    time.sleep(0.01)  # under the session's file quota
print(open("in.txt").read())
"""


@pytest.mark.parametrize("off_loop", [False, True], ids=["close", "aclose"])
def test_closing_a_session_in_use_waits_for_its_call(tmp_path: Path, off_loop: bool) -> None:
    """Closed while a call ran in it, a session's folder was removed under the call (its
    script lost its files: a FileNotFoundError of its own) and, as the script made files
    meanwhile, often left behind for good: its record gone, never listed nor swept. Now
    the session is closed at once (no other call gets in) and its folder removed when
    the call ends. ``aclose`` (its removal in a thread) keeps that."""
    skills = tmp_path / "skills"
    (skills / "late" / "scripts").mkdir(parents=True)
    (skills / "late" / "SKILL.md").write_text("---\nname: late\ndescription: reads late"
                                              "\n---\nRun scripts/late.py\n")
    (skills / "late" / "scripts" / "late.py").write_text(_LATE_READER)

    async def go() -> tuple[ExecutionResult, ExecutionResult, Path]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "data") as e:
            sid = e.sessions.create()
            folder = e.sessions.path(sid)
            call = asyncio.ensure_future(e.run_script(
                "late", "scripts/late.py", args=["1.5"], files={"in.txt": b"kept"},
                session=sid))
            while not (folder / "f0").exists():
                await asyncio.sleep(0.02)
            if off_loop:
                assert await e.sessions.aclose(sid) is True
                assert await e.sessions.alist() == []
                assert await e.sessions.aclose(sid) is False
            else:
                assert e.sessions.close(sid) is True
                assert e.sessions.list() == [] and e.sessions.close(sid) is False
            refused = await e.run_script("late", "scripts/late.py", args=["0"], session=sid)
            r = await call
            assert not folder.exists(), "the folder outlived the call of a closed session"
            assert not any((tmp_path / "data" / "sessions").glob(f"{sid}*"))
            return r, refused, folder
    r, refused, _ = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert r.output["stdout"] == "kept\n"
    assert refused.error is not None and refused.error.code == "session_not_found"


def test_a_folder_left_without_its_record_is_swept(tmp_path: Path) -> None:
    """A session closed by another process (skillexec sessions rm) while this one ran a
    call in it: its record is gone, its folder is this engine's to remove, at the next
    sweep."""
    async def go() -> None:
        async with engine(tmp_path) as e:
            sid = e.sessions.create()
            r = await e.run_script(PDF, "scripts/noop.py", files={"a": b"1"}, session=sid)
            assert r.status is TaskStatus.SUCCEEDED, r.error
            folder = e.sessions.path(sid)
            (tmp_path / "data" / "sessions" / f"{sid}.json").unlink()
            assert e.sessions.list() == []
            assert not folder.exists()
    arun(go())


def test_a_listing_walks_only_the_folders_it_shows(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A principal's listing counted the files of every session, anyone's, before
    keeping its own: one caller's thousand sessions of ten thousand files each held the
    server's loop for every other caller's GET /sessions (30 of 9,000: 0.7 s)."""
    from skillexec import _session_folder
    walked: list[str] = []
    real = _session_folder.tree

    def spy(root: str) -> Any:
        walked.append(Path(root).name)
        return real(root)

    async def go() -> None:
        async with engine(tmp_path) as e:
            theirs = [e.sessions.create(principal="alice") for _ in range(3)]
            mine = e.sessions.create(principal="bob")
            monkeypatch.setattr(_session_folder, "tree", spy)  # as usage() looks it up
            assert [s.id for s in e.sessions.list(principal="bob")] == [mine]
            assert walked == [mine]
            walked.clear()
            assert {s.id for s in e.sessions.list()} == {*theirs, mine}
            assert sorted(walked) == sorted([*theirs, mine])
    arun(go())


def test_ttl_expiry_removes_the_session(tmp_path: Path) -> None:
    async def go() -> None:
        async with engine(tmp_path) as e:
            sid = e.sessions.create(ttl_s=0.3)
            r = await e.run_script(PDF, "scripts/noop.py", files={"a": b"1"}, session=sid)
            assert r.status is TaskStatus.SUCCEEDED
            folder = e.sessions.path(sid)
            await asyncio.sleep(0.5)
            assert e.sessions.list() == []
            assert not folder.exists()
            late = await e.run_script(PDF, "scripts/noop.py", session=sid)
            assert late.status is TaskStatus.REJECTED and late.error is not None
            assert late.error.code == "session_not_found"
            with pytest.raises(Exception, match="ttl_s"):
                e.sessions.create(ttl_s=10 ** 9)
    arun(go())


def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    async def first() -> str:
        async with engine(tmp_path) as e:
            sid = e.sessions.create()
            await e.run_script(PDF, "scripts/noop.py", files={"kept.txt": b"k"}, session=sid)
            return sid

    async def second(sid: str) -> list[dict[str, Any]]:
        async with engine(tmp_path) as e:
            return e.sessions.files(sid)
    sid = arun(first())
    assert [f["path"] for f in arun(second(sid))] == ["kept.txt"]


def test_file_count_quota(tmp_path: Path) -> None:
    async def go() -> ExecutionResult:
        async with engine(tmp_path, max_files=20) as e:
            sid = e.sessions.create()
            return await e.run_script(PDF, "scripts/make_files.py", args=["50", "1"],
                                      session=sid)
    r = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "session_quota_exceeded"
    assert "more than 20 files, sessions.max_files" in r.error.message


def test_size_quota(tmp_path: Path) -> None:
    """A call that takes its session's folder over the quota ends with the quota named, and
    the session is closed, its folder removed: left open, each next call ran and grew it
    further (58, 115, 172 MB against a 1 MiB quota), the quota bounding nothing."""
    async def go() -> tuple[ExecutionResult, ExecutionResult, Path, list[str]]:
        async with engine(tmp_path, max_bytes=1 << 20) as e:
            sid = e.sessions.create()
            folder = e.sessions.path(sid)
            r = await e.run_script(PDF, "scripts/make_files.py", args=["3", str(600_000)],
                                   session=sid)
            again = await e.run_script(PDF, "scripts/make_files.py", args=["3", "600000"],
                                       session=sid)
            return r, again, folder, [s.id for s in e.sessions.list()]
    r, again, folder, listed = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "session_quota_exceeded", r.error
    assert f"more than {1 << 20} bytes, sessions.max_bytes): the session was closed" in (
        r.error.message)
    assert r.artifacts  # what it made is kept, as its artifacts
    assert again.error is not None and again.error.code == "session_not_found", again.error
    assert listed == [] and not folder.exists()


def test_a_script_cannot_write_another_sessions_folder(tmp_path: Path) -> None:
    async def go() -> tuple[ExecutionResult, Path]:
        async with engine(tmp_path) as e:
            mine, theirs = e.sessions.create(), e.sessions.create()
            target = e.sessions.path(theirs) / "planted.txt"
            r = await e.run_script(PDF, "scripts/write_outside.py", args=[str(target)],
                                   session=mine)
            return r, target
    r, target = arun(go())
    assert r.status is TaskStatus.FAILED and r.error is not None
    assert r.error.code == "script_exit"
    assert not target.exists()


def test_links_a_script_left_are_never_followed_by_the_engine(tmp_path: Path) -> None:
    """A session's folder is the script's to shape: the engine writes the next call's files
    and reads artifacts without following a link out of it (it may run as root)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("the engine's secret")

    async def go() -> tuple[ExecutionResult, ExecutionResult, ExecutionResult]:
        async with engine(tmp_path) as e:
            sid = e.sessions.create()
            planted = await e.run_script(PDF, "scripts/plant_links.py",
                                         args=[str(outside), str(secret)], session=sid)
            through = await e.run_script(PDF, "scripts/noop.py", session=sid,
                                         files={"evil_dir/x.txt": b"escaped"})
            over = await e.run_script(PDF, "scripts/noop.py", session=sid,
                                      files={"evil_file.txt": b"replaced"})
            return planted, through, over
    planted, through, over = arun(go())
    assert planted.status is TaskStatus.SUCCEEDED, planted.error
    assert planted.artifacts == ()  # links are not files: the secret was not read
    assert through.status is TaskStatus.FAILED and through.error is not None
    assert through.error.code == "file_not_written"
    assert list(outside.iterdir()) == []
    assert over.status is TaskStatus.SUCCEEDED, over.error  # the link itself was replaced
    assert secret.read_text() == "the engine's secret"


def test_a_session_is_its_principals(tmp_path: Path) -> None:
    """Another principal's session is "not found" to it, exactly as an unknown id is: it
    cannot run a call in it (through run_script or the script skill itself), see, list or
    close it; an operator sees and may close every one, as it does tasks."""
    from skillexec.security.principals import Principal, Role
    from skillexec.sessions import SessionInfo

    operator = Principal("op", Role.OPERATOR)

    async def go() -> None:
        async with engine(tmp_path) as e:
            a = e.sessions.create(principal="alice")
            b = e.sessions.create(principal="bob")
            mine = await e.run_script(PDF, "scripts/noop.py", files={"a.txt": b"secret"},
                                      session=a, principal="alice")
            assert mine.status is TaskStatus.SUCCEEDED, mine.error
            theirs = await e.run_script(PDF, "scripts/noop.py", session=a, principal="bob")
            unknown_id = "s_" + "0" * 24
            unknown = await e.run_script(PDF, "scripts/noop.py", session=unknown_id,
                                         principal="bob")
            assert theirs.status is TaskStatus.REJECTED and theirs.error is not None
            assert unknown.error is not None
            assert theirs.error.code == unknown.error.code == "session_not_found"
            assert theirs.error.message.replace(a, "?") == \
                unknown.error.message.replace(unknown_id, "?")
            # the script skill called directly: the sandbox's side checks the owner too
            direct = await e.execute(f"{PDF}:scripts/noop.py", {
                "args": [], "session": a, "stdin": None, "files": {}}, principal="bob")
            assert direct.status is not TaskStatus.SUCCEEDED
            assert direct.error is not None and direct.error.code == "session_not_found"

            def ids(listed: list[SessionInfo]) -> list[str]:
                return [s.id for s in listed]
            assert ids(e.sessions.list(principal="alice")) == [a]
            assert ids(e.sessions.list(principal="bob")) == [b]
            assert ids(e.sessions.list(principal=operator)) == [a, b]
            assert ids(e.sessions.list()) == [a, b]
            assert [s.principal for s in e.sessions.list()] == ["alice", "bob"]
            for peek in (e.sessions.get, e.sessions.files):
                with pytest.raises(Exception, match="is not open") as err:
                    peek(a, principal="bob")  # type: ignore[operator]
                assert getattr(err.value, "code", None) == "session_not_found"
            assert [f["path"] for f in e.sessions.files(a, principal=operator)] == ["a.txt"]
            assert e.sessions.get(a, principal="alice").principal == "alice"
            assert e.sessions.close(a, principal="bob") is False
            assert e.sessions.get(a).id == a  # still open
            # an operator may close any, as it may cancel any task
            assert e.sessions.close(b, principal=operator) is True
    arun(go())

    async def after_restart() -> None:
        async with engine(tmp_path) as e:
            a = e.sessions.list(principal="alice")[0].id
            assert e.sessions.list(principal="bob") == []
            refused = await e.run_script(PDF, "scripts/noop.py", session=a, principal="bob")
            assert refused.error is not None and refused.error.code == "session_not_found"
            assert e.sessions.close(a, principal="alice") is True
    arun(after_restart())


def test_a_call_keeps_its_session_alive(tmp_path: Path) -> None:
    """A session's TTL runs from its last use: a call made before it ran out restarts it
    (the use is marked on the session's record, also for another engine reading it)."""
    async def go() -> tuple[float, float, list[str], float]:
        async with engine(tmp_path) as e:
            sid = e.sessions.create(ttl_s=1.0)
            created = e.sessions.get(sid).last_used_at
            await asyncio.sleep(0.6)
            r = await e.run_script(PDF, "scripts/noop.py", session=sid)
            assert r.status is TaskStatus.SUCCEEDED, r.error
            used = e.sessions.get(sid).last_used_at
            await asyncio.sleep(0.6)  # past created + ttl_s, within used + ttl_s
            alive = [s.id for s in e.sessions.list()]
            assert sid in alive
            r = await e.run_script(PDF, "scripts/noop.py", session=sid)
            assert r.status is TaskStatus.SUCCEEDED, r.error
        async with engine(tmp_path) as again:  # as a later engine reads the record
            later = again.sessions.get(sid).last_used_at
        return created, used, alive, later
    created, used, _alive, later = arun(go())
    assert used >= created + 0.5 and later >= used + 0.5


def test_a_session_passes_between_skills_and_back(tmp_path: Path) -> None:
    """One session used by two skills in turn (each its own uid when the engine runs as
    root): each call may read and change what the other skill's calls made there, and two
    calls of one skill in a row find it as the last one left it."""
    skills = tmp_path / "skills"
    script = ("import sys\nfor p in sys.argv[1:]:\n"
              "    with open(p, 'a') as f:\n        f.write('+')\n")
    for name in ("alpha", "beta"):
        _script_skill(skills, name, "append.py", script)

    async def go() -> tuple[list[ExecutionResult], dict[str, int]]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            sid = e.sessions.create()
            runs = []
            for skill, paths in (("alpha", ["a.txt", "d/x.txt"]), ("beta", ["a.txt", "b.txt"]),
                                 ("alpha", ["b.txt", "d/x.txt"]), ("alpha", ["a.txt"]),
                                 ("beta", ["d/x.txt", "d/y.txt"])):
                runs.append(await e.run_script(skill, "scripts/append.py", args=paths,
                                               session=sid,
                                               files={"d/x.txt": b""} if not runs else None))
            return runs, {f["path"]: f["size"] for f in e.sessions.files(sid)}
    runs, sizes = arun(go())
    for r in runs:
        assert r.status is TaskStatus.SUCCEEDED, (r.error, r.output)
    assert sizes == {"a.txt": 3, "b.txt": 2, "d/x.txt": 3, "d/y.txt": 1}


@pytest.mark.deep_tree
def test_folders_nested_past_pythons_recursion_limit(tmp_path: Path) -> None:
    """A script may nest folders deeper than Python's recursion limit: the engine's walks
    (the session handed over and noted, the artifacts looked for, the files listed) go
    through them all, where they used to end the call with an internal error."""
    skills = tmp_path / "skills"
    _script_skill(
        skills, "deep", "nest.py",
        "import os\nfor _ in range(1100):\n    os.makedirs('d', exist_ok=True)\n"
        "    os.chdir('d')\n"
        "with open('bottom.txt', 'w') as f:\n    f.write('x')\n")

    async def go() -> tuple[list[ExecutionResult], list[str], tuple[int, int]]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            sid = e.sessions.create()
            runs = [await e.run_script("deep", "scripts/nest.py", session=sid),
                    await e.run_script("deep", "scripts/nest.py", session=sid),
                    await e.run_script("deep", "scripts/nest.py")]
            listed = [f["path"] for f in e.sessions.files(sid)]
            info = e.sessions.get(sid)
            count = (info.files, info.entries)
            assert e.sessions.close(sid)  # the engine removes it, however deep
            return runs, listed, count
    runs, listed, count = arun(go())  # the tree goes after the test (deep_tree), pass or fail
    for r in runs:
        assert r.status is TaskStatus.SUCCEEDED, r.error
    bottom = "d/" * 1100 + "bottom.txt"
    assert listed == [bottom]
    assert count == (1, 1100 + 1 + 1)  # one file; with its folders and .tmp, the entries
    assert [a.name.endswith("d/bottom.txt") for a in runs[2].artifacts] == [True]


def test_a_file_name_that_is_not_utf8_is_listed(tmp_path: Path) -> None:
    """A script may name a file with bytes that are not UTF-8: the session's listing shows
    them escaped (it carried lone surrogates, which JSON and the terminal refuse: the
    HTTP route answered 500 and `sessions show` failed)."""
    skills = tmp_path / "skills"
    _script_skill(
        skills, "odd", "make.py",
        "import os\nos.mkdir(b'dir\\xff')\nwith open(b'dir\\xff/a\\xfe.txt', 'wb') as f:\n"
        "    f.write(b'x')\n")
    data = tmp_path / "d"

    async def go() -> tuple[ExecutionResult, str, list[dict[str, Any]]]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=data) as e:
            sid = e.sessions.create()
            r = await e.run_script("odd", "scripts/make.py", session=sid)
            return r, sid, e.sessions.files(sid)
    r, sid, files = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert [f["path"] for f in files] == ["dir\\xff/a\\xfe.txt"]
    orjson.dumps(files)
    shown = subprocess.run([sys.executable, "-m", "skillexec", "sessions", "show", sid,
                            "--data-dir", str(data)], capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "dir\\xff/a\\xfe.txt" in shown.stdout


def test_a_hard_link_to_somebody_elses_file_is_never_handed_over(tmp_path: Path) -> None:
    """Where fs.protected_hardlinks is off, a script may hard-link a file it does not own
    into its session: when the session passes to another skill, only what the last skill
    owned is handed over, never that file (chowning the link, as root, would give the other
    file away), and a call's file of that name replaces the link (writing through it would
    overwrite the other file)."""
    if os.geteuid() != 0:
        pytest.skip("skills have users of their own only when the engine runs as root")
    skills = tmp_path / "skills"
    for name in ("alpha", "beta"):
        _script_skill(skills, name, "noop.py", "")
    outside = tmp_path / "outside.txt"
    outside.write_text("root's")
    outside.chmod(0o600)

    async def go() -> list[ExecutionResult]:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            sid = e.sessions.create()
            first = await e.run_script("alpha", "scripts/noop.py", session=sid)
            # As a script could where hard links are not protected (the test is root).
            os.link(outside, e.sessions.path(sid) / "linked.txt")
            second = await e.run_script("beta", "scripts/noop.py", session=sid)
            # A call's file of that name replaces the link, never writes through it.
            third = await e.run_script("beta", "scripts/noop.py", session=sid,
                                       files={"linked.txt": b"the call's"})
            assert (e.sessions.path(sid) / "linked.txt").read_bytes() == b"the call's"
            return [first, second, third]
    for r in arun(go()):
        assert r.status is TaskStatus.SUCCEEDED, r.error
    assert outside.stat().st_uid == 0 and outside.read_text() == "root's"


def test_a_hard_link_to_somebody_elses_file_is_never_an_artifact(tmp_path: Path) -> None:
    """A hard link that appears in the workspace during a call (a script can make one where
    fs.protected_hardlinks is off) to a file the workspace's owner does not own is not read
    for the caller: the engine, as root, would hand out any file of the machine."""
    if os.geteuid() != 0:
        pytest.skip("skills have users of their own only when the engine runs as root")
    skills = tmp_path / "skills"
    _script_skill(
        skills, "waits", "wait.py",
        "import time\ntime.sleep(0.8)\nwith open('mine.txt', 'w') as f:\n    f.write('mine')\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("not the skill's")
    secret.chmod(0o600)

    async def go() -> ExecutionResult:
        async with SkillExecutionEngine(skills_dir=skills, data_dir=tmp_path / "d") as e:
            sid = e.sessions.create()
            call = asyncio.ensure_future(e.run_script("waits", "scripts/wait.py", session=sid))
            await asyncio.sleep(0.4)
            os.link(secret, e.sessions.path(sid) / "loot.txt")  # as a script could
            return await call
    r = arun(go())
    assert r.status is TaskStatus.SUCCEEDED, r.error
    assert [a.name for a in r.artifacts] == ["mine.txt"]


def _script_skill(skills: Path, name: str, script: str, text: str) -> None:
    """An Agent Skill of one script, ``scripts/<script>``, under ``skills``."""
    (skills / name / "scripts").mkdir(parents=True)
    (skills / name / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: runs {script}\n---\n\nx\n")
    (skills / name / "scripts" / script).write_text(text)


def test_no_one_else_lists_the_sessions(tmp_path: Path) -> None:
    """A session's id is the way into its folder: the folder of the sessions' folders and
    the records are listed by the engine's user alone (another engine's skill, given the uid
    that last used a session here, read its files at the process level, found by listing)."""
    import stat

    async def go() -> tuple[Path, Path]:
        async with engine(tmp_path) as e:
            sid = e.sessions.create()
            return e.sessions.path(sid).parent, e.sessions.records
    root, records = arun(go())
    assert stat.S_IMODE(os.stat(root).st_mode) == 0o711
    assert stat.S_IMODE(os.stat(records).st_mode) == 0o700
