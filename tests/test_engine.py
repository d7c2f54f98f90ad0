"""The engine through its public API: execute, submit/wait/status/cancel, errors."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from skillexec import (
    ErrorType,
    PermanentError,
    SkillContext,
    SkillExecutionEngine,
    TaskStatus,
    TransientError,
    skill,
)
from tests.conftest import arun


@skill(id="add", version="1.0.0", timeout=5)
def add(a: int, b: int = 2) -> int:
    """Add two numbers."""
    return a + b


@skill(id="sleepy", timeout=5)
async def sleepy(seconds: float = 0.05, context: SkillContext | None = None) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {"slept": seconds, "attempt": context.attempt if context else None}


@skill(id="sync-sleepy")
def sync_sleepy(seconds: float, context: SkillContext) -> str:
    end = time.monotonic() + seconds
    while time.monotonic() < end and not context.cancelled:
        time.sleep(0.01)
    return "cancelled" if context.cancelled else "done"


def engine(tmp_path: Path, **kw: Any) -> SkillExecutionEngine:
    e = SkillExecutionEngine(data_dir=tmp_path / "data", **kw)
    for fn in (add, sleepy, sync_sleepy):
        e.register(fn)
    return e


def test_execute_sync_and_async_skills(tmp_path: Path) -> None:
    async def main() -> None:
        async with engine(tmp_path) as e:
            r = await e.execute("add", {"a": 1})
            assert r.status is TaskStatus.SUCCEEDED and r.output == 3
            assert r.skill_version == "1.0.0" and r.attempts == 1 and r.error is None
            assert r.metrics["wall_ms"] is not None and r.metrics["queue_ms"] is not None
            assert r.metrics["cpu_ms"] is not None  # a sync skill's thread time is measured
            r = await e.execute("add", {"a": "40", "b": "2"})  # coerced from strings
            assert r.output == 42
            r = await e.execute("sleepy", {"seconds": 0.01})
            assert r.ok and r.output == {"slept": 0.01, "attempt": 1}
            assert r.metrics["cpu_ms"] is None  # unknown for a coroutine, never a made-up 0
            info = await e.status(r.task_id)
            assert info.status is TaskStatus.SUCCEEDED and info.result is not None
    arun(main())


def test_rejections_are_terminal_with_clear_errors(tmp_path: Path) -> None:
    async def main() -> None:
        async with engine(tmp_path) as e:
            r = await e.execute("ad", {"a": 1})
            assert r.status is TaskStatus.REJECTED
            assert r.error is not None and r.error.code == "skill_not_found"
            assert "add" in r.error.message  # the closest known id is suggested
            r = await e.execute("add", {"a": "x", "c": 1, "b": "y"})
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.type is ErrorType.PARAMETER
            paths = {v["path"] for v in r.error.details["violations"]}
            assert {"/a", "/b"} <= paths  # every violation at once
            r = await e.execute("add", {"a": 1}, priority=12)
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.code == "invalid_priority"
            info = await e.status(r.task_id)  # refusals are journaled too
            assert info.status is TaskStatus.REJECTED
    arun(main())


def test_envelope_and_output_checks(tmp_path: Path) -> None:
    @skill(id="envelope-ok")
    def ok() -> dict[str, Any]:
        return {"success": True, "result": {"n": 1}, "message": "fine"}

    @skill(id="envelope-fail", max_retries=3)
    def bad() -> dict[str, Any]:
        return {"success": False, "error": "no such customer", "message": "lookup failed"}

    @skill(id="envelope-retryable", max_retries=2)
    def flaky() -> dict[str, Any]:
        return {"success": False, "error": "upstream 503", "retryable": True}

    @skill(id="not-json")
    def not_json() -> object:
        return {1, 2}

    async def main() -> None:
        async with engine(tmp_path) as e:
            for fn in (ok, bad, flaky, not_json):
                e.register(fn)
            r = await e.execute("envelope-ok")
            assert r.ok and r.output == {"n": 1}
            r = await e.execute("envelope-fail")
            assert r.status is TaskStatus.FAILED and r.attempts == 1  # not retryable
            assert r.error is not None and r.error.message == "no such customer"
            r = await e.execute("envelope-retryable")
            assert r.status is TaskStatus.FAILED and r.attempts == 3  # 1 + 2 retries
            r = await e.execute("not-json")
            assert r.status is TaskStatus.FAILED and r.error is not None
            assert r.error.code == "output_not_json"
    arun(main())


def test_retries_transient_not_permanent(tmp_path: Path) -> None:
    calls = {"t": 0, "p": 0}

    @skill(id="transient", max_retries=3)
    def transient() -> str:
        calls["t"] += 1
        if calls["t"] < 3:
            raise TransientError("try again")
        return "ok"

    @skill(id="permanent", max_retries=3)
    def permanent() -> str:
        calls["p"] += 1
        raise PermanentError("never")

    async def main() -> None:
        async with engine(tmp_path) as e:
            e.register(transient)
            e.register(permanent)
            r = await e.execute("transient")
            assert r.ok and r.attempts == 3 and r.output == "ok"
            history = await e.history(r.task_id)
            assert [h["decision"].split(" ")[0] for h in history] == ["retry", "retry", "done"]
            r = await e.execute("permanent")
            assert r.status is TaskStatus.FAILED and r.attempts == 1 and calls["p"] == 1
    arun(main())


def test_timeouts_async_and_sync(tmp_path: Path) -> None:
    async def main() -> None:
        async with engine(tmp_path) as e:
            t0 = time.monotonic()
            r = await e.execute("sleepy", {"seconds": 5}, timeout=0.2, max_retries=0)
            assert r.status is TaskStatus.TIMED_OUT and r.error is not None
            assert r.error.type is ErrorType.TIMEOUT and time.monotonic() - t0 < 2
            r = await e.execute("sync-sleepy", {"seconds": 5}, timeout=0.2, max_retries=0)
            assert r.status is TaskStatus.TIMED_OUT
    arun(main())


def test_cancel_queued_and_running(tmp_path: Path) -> None:
    async def main() -> None:
        async with engine(tmp_path, max_concurrency=1) as e:
            running = await e.submit("sleepy", {"seconds": 10})
            queued = await e.submit("sleepy", {"seconds": 10})
            await asyncio.sleep(0.05)
            assert (await e.status(running)).status is TaskStatus.RUNNING
            assert (await e.status(queued)).status is TaskStatus.QUEUED
            assert await e.cancel(queued)
            assert await e.cancel(running)
            r1 = await e.wait(running, timeout=2)
            r2 = await e.wait(queued, timeout=2)
            assert r1.status is TaskStatus.CANCELLED and r2.status is TaskStatus.CANCELLED
            assert not await e.cancel(running)  # already finished
    arun(main())


def test_cancel_in_the_same_turn_as_submit_ends_the_task(tmp_path: Path) -> None:
    """A task cancelled before its coroutine first ran still ends (and frees its slot)."""
    async def main() -> None:
        async with engine(tmp_path, max_concurrency=1) as e:
            task_id = await e.submit("sleepy", {"seconds": 10})
            assert await e.cancel(task_id)  # no await between: its coroutine has not begun
            r = await e.wait(task_id, timeout=5)
            assert r.status is TaskStatus.CANCELLED
            assert (await e.execute("add", {"a": 1})).output == 3  # the slot was freed
    arun(main())


def test_priority_order_under_saturation(tmp_path: Path) -> None:
    order: list[int] = []
    gate = threading.Event()

    @skill(id="record")
    async def record(n: int) -> int:
        order.append(n)
        return n

    @skill(id="blocker")
    async def blocker() -> None:
        while not gate.is_set():
            await asyncio.sleep(0.005)

    async def main() -> None:
        async with engine(tmp_path, max_concurrency=1) as e:
            e.register(record)
            e.register(blocker)
            first = await e.submit("blocker")
            ids = []
            for n, prio in enumerate([1, 5, 9, 5, 0, 9, 3]):
                ids.append(await e.submit("record", {"n": n}, priority=prio))
            gate.set()
            await e.wait(first)
            for i in ids:
                await e.wait(i)
            # higher priority first; equal priority in arrival order
            assert order == [2, 5, 1, 3, 6, 0, 4]
    arun(main())


def test_aging_lets_old_low_priority_work_through(tmp_path: Path) -> None:
    order: list[str] = []
    gate = threading.Event()

    @skill(id="mark")
    async def mark(name: str) -> None:
        order.append(name)

    @skill(id="gate")
    async def wait_gate() -> None:
        while not gate.is_set():
            await asyncio.sleep(0.005)

    async def main() -> None:
        from skillexec import EngineConfig
        cfg = EngineConfig(data_dir=tmp_path / "d", max_concurrency=1, queue_aging_s=0.02)
        async with SkillExecutionEngine(config=cfg) as e:
            e.register(mark)
            e.register(wait_gate)
            g = await e.submit("gate")
            old = await e.submit("mark", {"name": "old-low"}, priority=0)
            await asyncio.sleep(0.3)  # 0.3 s at one level per 0.02 s: it has aged past 9
            new = await e.submit("mark", {"name": "new-high"}, priority=9)
            gate.set()
            for t in (g, old, new):
                await e.wait(t)
            assert order == ["old-low", "new-high"]
    arun(main())


def test_full_queue_refuses_with_resource_error(tmp_path: Path) -> None:
    async def main() -> None:
        from skillexec import EngineConfig
        cfg = EngineConfig(data_dir=tmp_path / "d", max_concurrency=1, max_queue_size=2)
        async with SkillExecutionEngine(config=cfg) as e:
            e.register(sleepy)
            ids = [await e.submit("sleepy", {"seconds": 0.2}) for _ in range(4)]
            r = await e.wait(ids[-1])
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.type is ErrorType.RESOURCE and r.error.code == "queue_full"
            assert r.error.retryable
            assert all([(await e.wait(i)).ok for i in ids[:3]])
    arun(main())


def test_artifacts_and_progress_events(tmp_path: Path) -> None:
    @skill(id="report")
    def report(title: str, context: SkillContext) -> str:
        context.progress(0.5, "half way")
        ref = context.save_artifact("../../etc/report.md", f"# {title}\n", "text/markdown")
        context.save_artifact("copy.md", f"# {title}\n")
        return ref.id

    async def main() -> None:
        async with engine(tmp_path) as e:
            e.register(report)
            task_id = await e.submit("report", {"title": "Hello"})
            events = [ev async for ev in e.events(task_id)]
            r = await e.wait(task_id)
            assert r.ok and len(r.artifacts) == 2
            a, b = r.artifacts
            assert a.id == r.output and a.name == "report.md" and a.mime == "text/markdown"
            assert a.sha256 == b.sha256 and a.id != b.id  # deduplicated content, two records
            assert await e.artifacts.read(a.id) == b"# Hello\n"
            path = await e.artifacts.path(a.id)
            assert path.is_relative_to(e.config.artifacts_dir)
            assert events[-1].status is TaskStatus.SUCCEEDED
            kinds = [(ev.kind, ev.status) for ev in events]
            assert ("status", TaskStatus.RUNNING) in kinds
    arun(main())


def test_no_entry_skill_is_listed_and_refused(tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "docs-only"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(
        '{"id": "docs-only", "name": "Docs", "version": "1.0.0", "description": "no code"}')

    async def main() -> None:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as e:
            assert "docs-only" in e.skills
            r = await e.execute("docs-only")
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.code == "no_entry_point"
            assert "no executable entry" in r.error.message
    arun(main())


def test_closing_waits_for_running_work(tmp_path: Path) -> None:
    async def main() -> str:
        e = engine(tmp_path)
        await e.start()
        task_id = await e.submit("sleepy", {"seconds": 0.1})
        await e.close()
        return task_id

    task_id = arun(main())

    async def check() -> None:
        async with engine(tmp_path) as e:
            info = await e.status(task_id)
            assert info.status is TaskStatus.SUCCEEDED
    arun(check())


def test_cancelling_the_caller_of_execute_cancels_its_task(tmp_path: Path) -> None:
    async def main() -> None:
        async with engine(tmp_path) as e:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(e.execute("sleepy", {"seconds": 10}), 0.2)
            infos = await e.tasks(skill_id="sleepy")
            assert infos and infos[0].status is TaskStatus.CANCELLED
            assert e.running_count == 0
            r = await e.execute("add", {"a": 1})  # the engine is still healthy
            assert r.ok
    arun(main())


def test_wait_timeout_and_unknown_task(tmp_path: Path) -> None:
    from skillexec.errors import TaskNotFoundError, WaitTimeoutError

    async def main() -> None:
        async with engine(tmp_path) as e:
            task_id = await e.submit("sleepy", {"seconds": 0.5})
            with pytest.raises(WaitTimeoutError) as info:
                await e.wait(task_id, timeout=0.05)
            assert info.value.code == "wait_timeout"
            assert (await e.wait(task_id, timeout=5)).ok
            with pytest.raises(TaskNotFoundError):
                await e.status("nope")
    arun(main())


def test_fallback_skill_runs_when_recovery_is_exhausted(tmp_path: Path) -> None:
    import dataclasses

    @skill(id="primary", max_retries=1)
    def primary(q: str) -> str:
        raise TransientError("primary is down")

    @skill(id="backup")
    def backup(q: str) -> str:
        return f"backup answered {q}"

    async def main() -> None:
        async with engine(tmp_path) as e:
            p = primary.__skill__  # type: ignore[attr-defined]
            e.register(dataclasses.replace(
                p, execution=dataclasses.replace(p.execution, fallback="backup")))
            e.register(backup)
            r = await e.execute("primary", {"q": "x"})
            assert r.ok and r.output == "backup answered x" and r.attempts == 3
            decisions = [h["decision"] for h in await e.history(r.task_id)]
            assert decisions[0].startswith("retry")
            assert decisions[1].startswith("fallback to backup")
            assert decisions[2] == "done"
    arun(main())


def test_a_bad_journal_record_fails_alone(tmp_path: Path) -> None:
    from skillexec.errors import SkillExecError
    from skillexec.storage.sqlite import SQLiteStore
    from skillexec.task import ExecutionTask, Request

    def make_task(i: int, timeout_s: float) -> ExecutionTask:
        return ExecutionTask.of(f"t{i:023d}", Request("s", "1", {}, {}, 5, timeout_s, 0, False,
                                                      time.time()))

    async def main() -> None:
        store = SQLiteStore(tmp_path / "j.db")
        await store.open()
        try:
            # Same loop turn: one group commit. NaN is stored as NULL: NOT NULL fails.
            futs = [store.queued(make_task(i, float("nan") if i == 1 else 1.0))
                    for i in range(3)]
            got = await asyncio.gather(*futs, return_exceptions=True)
            assert got[0] is None and got[2] is None
            assert isinstance(got[1], SkillExecError)
            assert await store.get_request(f"t{0:023d}") is not None
            assert await store.get_request(f"t{2:023d}") is not None
            assert await store.get_request(f"t{1:023d}") is None
        finally:
            await store.close()
    arun(main())


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0, 0.0])
def test_timeouts_that_are_not_positive_numbers_are_refused(tmp_path: Path,
                                                            timeout: float) -> None:
    async def main() -> None:
        async with engine(tmp_path) as e:
            r = await e.execute("add", {"a": 1, "b": 2}, timeout=timeout)
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.code == "invalid_timeout"
            ok = await e.execute("add", {"a": 1, "b": 2})
            assert ok.ok
    arun(main())


def test_middleware_hooks_async_and_plain(tmp_path: Path) -> None:
    # A hook may be async (awaited: it can wait for I/O) or a plain function (called, for
    # hooks that never wait); both see every stage, and on_submit may refuse a task.
    from skillexec.errors import SkillPermissionError
    from skillexec.middleware import Middleware

    seen: list[str] = []

    class Audit(Middleware):
        async def on_submit(self, task: Any, skill: Any) -> None:
            await asyncio.sleep(0)
            if task.params.get("text") == "forbidden":
                raise SkillPermissionError("not this text", code="audit_refused")
            seen.append(f"submit {task.skill_id}")

        def before_attempt(self, task: Any, attempt: Any) -> None:
            seen.append(f"before {task.attempts}")

        async def after_attempt(self, task: Any, attempt: Any, outcome: Any) -> None:
            seen.append(f"after {'ok' if outcome.error is None else outcome.error.code}")

        def on_finish(self, task: Any, result: Any) -> None:
            seen.append(f"finish {result.status.value}")

    @skill(id="echo-mw", version="1.0.0")
    def echo_mw(text: str) -> str:
        return text

    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d", middleware=[Audit()]) as e:
            e.register(echo_mw)
            assert (await e.execute("echo-mw", {"text": "hi"})).output == "hi"
            refused = await e.execute("echo-mw", {"text": "forbidden"})
            assert refused.status is TaskStatus.REJECTED and refused.error is not None
            assert refused.error.code == "audit_refused"

    arun(main())
    assert seen == ["submit echo-mw", "before 1", "after ok", "finish succeeded",
                    "finish rejected"]


def test_a_task_read_while_its_end_is_journaled_has_its_result(tmp_path: Path) -> None:
    """Between a task's end and the journal's record of it, a read answered from the live
    task said ``succeeded`` with no result (GET /api/executions/ID once failed CI so): a
    poller that stopped at that status found nothing. Here the end's write is held back
    until the read is done."""
    async def main() -> None:
        async with engine(tmp_path) as e:
            store = e.journal
            real = store.finished
            held = asyncio.Event()
            reached = asyncio.Event()

            async def late(*args: Any, **kw: Any) -> None:
                written = real(*args, **kw)  # queued now, awaited once the read is done
                reached.set()
                await held.wait()
                await written

            store.finished = late  # type: ignore[method-assign]
            task_id = await e.submit("add", {"a": 1})
            await reached.wait()
            info = await e.status(task_id)
            held.set()
            assert info.status is TaskStatus.SUCCEEDED
            assert info.result is not None and info.result.output == 3
            assert info.finished_at is not None
            assert (await e.wait(task_id, timeout=5)).output == 3
    arun(main())
