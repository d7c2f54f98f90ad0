"""One Request: what a call asked, as the journal keeps it and a resumed task gets it back."""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine, skill
from skillexec.storage.sqlite import SQLiteStore
from skillexec.task import ExecutionTask, Request
from tests.conftest import arun


@skill(id="echo", version="2.1.0", timeout=5)
def echo(text: str, times: int = 1) -> str:
    return text * times


def test_the_journal_keeps_the_request_the_call_made(tmp_path: Path) -> None:
    async def main() -> Request:
        async with SkillExecutionEngine(data_dir=tmp_path / "data") as e:
            e.register(echo)
            task_id = await e.submit("echo", {"text": "ab", "times": "3"},
                                     config={"mode": "x"}, priority=2, timeout=3.5,
                                     max_retries=1, principal="alice", deadline=9.0)
            await e.wait(task_id, timeout=10)
            stored = await e.journal.get_request(task_id)
            assert stored is not None and stored.task_id == task_id
            return stored.request

    req = arun(main())
    assert req.skill_id == "echo" and req.skill_version == "2.1.0"
    assert req.params == {"text": "ab", "times": 3}  # as validated, coerced
    assert req.config == {"mode": "x"} and req.priority == 2
    assert req.timeout_s == 3.5 and req.max_retries == 1 and req.principal == "alice"
    assert req.deadline_s == 9.0 and req.created_at > 0


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                 max_size=3),
    max_leaves=8)

_requests = st.builds(
    Request,
    skill_id=st.text(min_size=1, max_size=10), skill_version=st.text(max_size=6),
    params=st.dictionaries(st.text(max_size=6), _json, max_size=4),
    config=st.dictionaries(st.text(max_size=6), _json, max_size=3),
    priority=st.integers(0, 9),
    timeout_s=st.floats(0.001, 1e6), max_retries=st.integers(0, 10),
    idempotent=st.booleans(), created_at=st.floats(0, 4e9),
    principal=st.none() | st.text(max_size=8),
    deadline_s=st.none() | st.floats(0.001, 1e6))


@settings(max_examples=25, deadline=None)
@given(st.lists(_requests, min_size=1, max_size=8))
def test_a_request_reads_back_from_the_journal_as_written(requests: list[Request]) -> None:
    async def main(path: Path) -> list[Request]:
        store = SQLiteStore(path)
        await store.open()
        try:
            ids = [f"{n:024x}" for n in range(len(requests))]
            await asyncio.gather(*(store.queued(ExecutionTask.of(i, r))
                                   for i, r in zip(ids, requests, strict=True)))
            back: list[Request] = []
            for i in ids:
                got = await store.get_request(i)
                assert got is not None
                back.append(got.request)
            unfinished = {s.task_id: s.request for s in await store.unfinished()}
            assert [unfinished[i] for i in ids] == back
            return back
        finally:
            await store.close()

    with tempfile.TemporaryDirectory() as d:
        assert arun(main(Path(d) / "journal.db")) == requests


def test_a_journal_from_before_deadlines_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"

    async def open_close() -> None:
        store = SQLiteStore(path)
        await store.open()
        await store.close()

    arun(open_close())
    with sqlite3.connect(path) as db:  # as an older version left it
        db.execute("ALTER TABLE tasks DROP COLUMN deadline_s")

    async def use() -> Any:
        store = SQLiteStore(path)
        await store.open()
        try:
            req = Request("s", "1", {}, {}, 5, 1.0, 0, True, 1.0, None, 2.5)
            await store.queued(ExecutionTask.of("t" * 24, req))
            got = await store.get_request("t" * 24)
            return got.request if got else None
        finally:
            await store.close()

    assert arun(use()).deadline_s == 2.5


def test_the_task_knows_nothing_of_the_smart_executor() -> None:
    """Its forecast is the SmartExecutor's own object on an opaque slot, not task fields."""
    import ast

    import skillexec.task

    tree = ast.parse(Path(skillexec.task.__file__).read_text())
    imported = {n.module for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("skillexec")}
    # principals: the admitted caller's type (``ExecutionTask.who``), for annotations only.
    assert imported <= {"skillexec.errors", "skillexec.skills.model",
                        "skillexec.security.principals"}, imported
