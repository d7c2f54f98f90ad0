"""Quotas on what one attempt can make (issue 11, item 6): the tests/hostile/quota_* skills,
run through the engine in the sandbox. Each ends with a clear error or a cut, the engine's
loop stays responsive and its memory bounded, and nothing is left on disk."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine, skill
from skillexec.config import EngineConfig
from skillexec.events import TaskEvent
from skillexec.runtime.context import SkillContext, cut_message
from skillexec.runtime.workspace import measure_tree, remove_tree
from skillexec.task import ExecutionResult
from tests._isolation import HOSTILE, need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True)
def _no_deep_leftovers(tmp_path: Path) -> Iterator[None]:
    # Should a test fail with a tree left behind, pytest's own cleanup (shutil.rmtree,
    # recursive) would crash on it at the end of a later session: remove it here.
    yield
    remove_tree(str(tmp_path / "d"))


def _engine(tmp_path: Path, name: str, **config: Any) -> SkillExecutionEngine:
    engine = SkillExecutionEngine(config=EngineConfig(
        data_dir=tmp_path / "d", work_dir=tmp_path / "d" / "work", retry_base_delay_s=0.0,
        **config))
    engine.register(HOSTILE / name)
    return engine


def _left_on_disk(tmp_path: Path) -> list[Path]:
    """What attempts left under the work root. Each skill's attempts live in a folder of the
    skill's (its warm parent's work root), which stays, empty, for the skill's next calls."""
    work = tmp_path / "d" / "work"
    return [p for p in work.rglob("*") if p.parent != work or not p.is_dir()
            or any(p.iterdir())] if work.exists() else []


async def _run_watching_the_loop(engine: SkillExecutionEngine, skill_id: str,
                                 params: dict[str, Any]) -> tuple[ExecutionResult, float]:
    """Run one call; the worst lag of a 10 ms heartbeat on the loop meanwhile."""
    loop = asyncio.get_running_loop()
    worst = 0.0
    done = asyncio.Event()

    async def heartbeat() -> None:
        nonlocal worst
        while not done.is_set():
            t = loop.time()
            await asyncio.sleep(0.01)
            worst = max(worst, loop.time() - t - 0.01)

    beat = asyncio.create_task(heartbeat())
    try:
        result = await engine.execute(skill_id, params)
    finally:
        done.set()
        await beat
    return result, worst


def test_a_deep_tree_is_cleaned_up(tmp_path: Path) -> None:
    need_sandbox()

    async def go() -> None:
        async with _engine(tmp_path, "quota_deep_tree") as engine:
            for _ in range(2):
                r = await engine.execute("quota-deep-tree", {"depth": 3000})
                assert r.ok, r.error  # depth is no quota: it must simply not break cleanup
    arun(go())
    assert _left_on_disk(tmp_path) == []
    assert Path("/").exists() and Path("/etc/passwd").exists()  # the link was not followed


def test_too_many_files_end_the_attempt_and_the_loop_stays_responsive(tmp_path: Path) -> None:
    need_sandbox()

    async def go() -> float:
        async with _engine(tmp_path, "quota_many_files") as engine:
            r, lag = await _run_watching_the_loop(engine, "quota-many-files",
                                                  {"files": 120_000})
            assert r.error is not None
            assert (r.error.type.value, r.error.code) == ("resource_error",
                                                           "workspace_quota_exceeded")
            assert "max_workspace_files" in r.error.message
            return lag
    lag = arun(go())
    assert _left_on_disk(tmp_path) == []
    # Removing 120,000 files takes a second or more; on the loop that was the lag.
    assert lag < 0.5, f"the loop stalled for {lag:.2f} s during cleanup"


def test_a_full_workspace_ends_with_the_quota_named(tmp_path: Path) -> None:
    need_sandbox()

    async def go() -> None:
        async with _engine(tmp_path, "quota_full_workspace",
                           max_workspace_bytes=32 << 20) as engine:
            r = await engine.execute("quota-full-workspace", {"files": 4, "mb_per_file": 64})
            assert r.error is not None
            assert (r.error.type.value, r.error.code) == ("resource_error",
                                                           "workspace_quota_exceeded")
            assert "max_workspace_bytes" in r.error.message
    arun(go())
    assert _left_on_disk(tmp_path) == []


def test_a_workspace_past_its_quota_is_stopped_while_it_runs(tmp_path: Path) -> None:
    need_sandbox()

    async def go() -> float:
        async with _engine(tmp_path, "quota_full_workspace",
                           max_workspace_bytes=16 << 20) as engine:
            started = time.monotonic()
            r = await engine.execute("quota-full-workspace",
                                     {"files": 2, "mb_per_file": 12, "hold": True}, timeout=60)
            assert r.error is not None
            assert (r.error.type.value, r.error.code) == ("resource_error",
                                                           "workspace_quota_exceeded")
            return time.monotonic() - started
    took = arun(go())
    assert took < 15, f"stopped only after {took:.1f} s (its deadline is 60 s)"
    assert _left_on_disk(tmp_path) == []


def test_thousands_of_artifacts_stop_at_the_quota(tmp_path: Path) -> None:
    need_sandbox()

    async def go() -> None:
        async with _engine(tmp_path, "quota_many_artifacts") as engine:
            r = await engine.execute("quota-many-artifacts", {"count": 3000})
            assert r.error is not None
            assert (r.error.type.value, r.error.code) == ("resource_error",
                                                           "artifact_quota_exceeded")
            assert "max_artifacts" in r.error.message
            assert len(r.artifacts) == 1000
            stored = await engine.journal.artifacts_older_than(time.time() + 1)
            assert len(stored) == 1000  # nothing past the quota was kept
    arun(go())
    assert _left_on_disk(tmp_path) == []


def test_big_artifacts_stop_at_the_total_quota(tmp_path: Path) -> None:
    need_sandbox()

    async def go() -> None:
        async with _engine(tmp_path, "quota_big_artifacts",
                           max_artifacts_bytes=16 << 20) as engine:
            r = await engine.execute("quota-big-artifacts", {"mb": 4, "count": 10})
            assert r.error is not None
            assert (r.error.type.value, r.error.code) == ("resource_error",
                                                           "artifact_quota_exceeded")
            assert "max_artifacts_bytes" in r.error.message
            assert sum(a.size for a in r.artifacts) <= 16 << 20
    arun(go())
    files = [p for p in (tmp_path / "d" / "artifacts").rglob("*") if p.is_file()]
    assert sum(p.stat().st_size for p in files) <= 16 << 20


def test_a_huge_progress_message_is_cut_and_memory_stays_bounded(tmp_path: Path) -> None:
    need_sandbox()
    me = psutil.Process()

    async def go() -> list[TaskEvent]:
        async with _engine(tmp_path, "quota_huge_progress") as engine:
            seen: list[TaskEvent] = []

            async def follow() -> None:
                async for ev in engine.events():
                    if ev.kind == "progress":
                        seen.append(ev)

            watcher = asyncio.create_task(follow())
            await asyncio.sleep(0)
            before = me.memory_info().rss
            r = await engine.execute("quota-huge-progress", {"bytes": 8 << 20, "times": 40})
            assert r.ok, r.error
            grew = me.memory_info().rss - before
            watcher.cancel()
            # 40 messages of 8 MiB are 320 MiB kept whole; cut, they are 2.5 MiB.
            assert grew < 100 << 20, f"the engine grew by {grew >> 20} MiB"
            return seen
    seen = arun(go())
    assert len(seen) == 40
    for ev in seen:
        assert ev.message is not None
        assert len(ev.message.encode()) <= 64 << 10
        assert "cut: the message was" in ev.message


@pytest.mark.parametrize("keep", [False, True])
def test_inline_skills_have_the_same_workspace_quota(tmp_path: Path, keep: bool) -> None:
    @skill("scribbler")
    def scribbler(context: Any) -> int:
        for i in range(20):
            (context.workdir / f"f{i}").write_text("x")
        return 20

    async def go() -> None:
        cfg = EngineConfig(data_dir=tmp_path / "d", work_dir=tmp_path / "d" / "work",
                           max_workspace_files=10, keep_workdirs=keep)
        async with SkillExecutionEngine(config=cfg) as engine:
            engine.register(scribbler)
            r = await engine.execute("scribbler")
            assert r.error is not None and r.error.code == "workspace_quota_exceeded"
            assert r.error.details["quota"] == "max_workspace_files"
    arun(go())
    assert bool(_left_on_disk(tmp_path)) is keep  # kept for debugging only when asked


def test_a_cancelled_attempt_leaves_nothing_on_disk(tmp_path: Path) -> None:
    @skill("writer")
    async def writer(context: Any) -> None:
        for i in range(50):
            (context.workdir / f"f{i}").write_text("x")
        await asyncio.sleep(30)

    async def go() -> None:
        async with SkillExecutionEngine(config=EngineConfig(
                data_dir=tmp_path / "d", work_dir=tmp_path / "d" / "work")) as engine:
            engine.register(writer)
            task_id = await engine.submit("writer")
            for _ in range(200):
                if _left_on_disk(tmp_path):
                    break
                await asyncio.sleep(0.01)
            assert _left_on_disk(tmp_path), "the skill never made its files"
            assert await engine.cancel(task_id)
            r = await engine.wait(task_id, timeout=10)
            assert r.status.value == "cancelled"
    arun(go())
    for _ in range(100):  # removed in a worker thread
        if not _left_on_disk(tmp_path):
            break
        time.sleep(0.02)
    assert _left_on_disk(tmp_path) == []


# -- the pieces, directly ---------------------------------------------------------------------


def test_cut_message_keeps_short_text_and_marks_a_cut() -> None:
    assert cut_message("fine", 256) == "fine"
    long = "é" * 1000  # 2000 bytes
    out = cut_message(long, 500)
    assert len(out.encode()) <= 500 and "2000 bytes" in out
    out.encode()  # never a split character


@given(st.text(max_size=3000), st.integers(min_value=256, max_value=4096))
def test_cut_message_never_exceeds_its_limit(text: str, limit: int) -> None:
    out = cut_message(text, limit)
    size = len(text.encode("utf-8", "surrogatepass"))
    assert len(out.encode("utf-8", "surrogatepass")) <= limit
    assert out == text if size <= limit else f"was {size} bytes" in out


def test_a_skill_log_message_is_cut(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    ctx = SkillContext(task_id="t", skill_id="s", attempt=1, workdir=tmp_path / "w",
                       config={}, deadline=time.time() + 5, max_message_bytes=1024)
    with caplog.at_level(logging.INFO, logger="skillexec.skill"):
        ctx.log.info("%s", "x" * 100_000)
    (record,) = [r for r in caplog.records if r.name == "skillexec.skill"]
    assert len(record.getMessage()) <= 1024 and "cut" in record.getMessage()


def test_remove_tree_survives_depth_symlinks_and_locked_folders(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    fd = os.open(root, os.O_RDONLY)
    for _ in range(2000):
        os.mkdir("n", dir_fd=fd)
        nfd = os.open("n", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = nfd
    os.symlink(str(outside), "out", dir_fd=fd)
    os.mkdir("locked", dir_fd=fd)
    os.close(os.open("locked/f", os.O_CREAT | os.O_WRONLY, dir_fd=fd))
    os.chmod("locked", 0, dir_fd=fd)
    os.close(fd)
    usage = measure_tree(str(root), max_files=10, max_bytes=1 << 40)
    assert not usage.complete and usage.files == 11  # stopped past the limit
    removed = remove_tree(str(root))
    assert removed.files >= 2003
    assert not root.exists()
    assert (outside / "keep.txt").read_text() == "keep"


@pytest.mark.parametrize(("quota", "code"), [
    ({"max_workspace_files": 5}, "workspace_quota_exceeded"),
    ({"max_artifacts": 2}, "artifact_quota_exceeded")])
def test_a_script_over_a_quota_keeps_what_it_said(
        tmp_path: Path, quota: dict[str, int], code: str) -> None:
    """A script whose files broke a quota ended with the quota's error and nothing else:
    its exit code, stdout and stderr (where it was, what it made) were dropped."""
    need_sandbox()
    folder = tmp_path / "skills" / "maker"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: maker\ndescription: M.\n---\nRun it.\n")
    (folder / "scripts" / "make.py").write_text(
        "import sys\nfor i in range(20):\n    open(f'f{i}.txt', 'w').write('x')\n"
        "print('made 20 files')\nprint('all done', file=sys.stderr)\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> Any:
        async with SkillExecutionEngine(config=EngineConfig(
                skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                work_dir=tmp_path / "d" / "work", quotas=quota)) as e:
            return await e.run_script("maker", "scripts/make.py")
    r = asyncio.run(go())
    assert r.error is not None and r.error.code == code, r.error
    assert r.error.details["exit_code"] == 0
    assert r.error.details["stdout"] == "made 20 files\n"
    assert r.error.details["stderr"] == "all done\n"
