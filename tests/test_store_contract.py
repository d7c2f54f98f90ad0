"""The TaskStore contract, held by both SQL journals: the embedded SQLite file and the shared
PostgreSQL database (tests/_postgres.py makes one per test session), each with its payloads
in clear and sealed (encryption at rest): sealing changes nothing a caller reads back, and
a raw dump of either journal (its file; every value of every table) holds no parameter,
output, error text or cached value."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from skillexec.errors import ResourceError
from skillexec.security.audit_chain import AuditEntry, AuditRow, chain, records
from skillexec.security.audit_verify import verify_chain
from skillexec.security.keyring import Keyring
from skillexec.security.keys import KeyInfo, KeyRecord
from skillexec.security.principals import Role
from skillexec.storage.codec import PLAIN, Codec, SealingCodec
from skillexec.storage.store import ArtifactRecord, CacheRecord, TaskStore
from skillexec.task import (
    ArtifactRef,
    ExecutionResult,
    ExecutionTask,
    Request,
    TaskStatus,
    new_task_id,
)
from tests._postgres import table_bytes
from tests.conftest import arun

MakeStore = Callable[[], TaskStore]


def _codec(tmp_path: Path, sealed: bool) -> Codec:
    if not sealed:
        return PLAIN
    return SealingCodec(Keyring.open(tmp_path / "keyring.json", os.urandom(32)))


def _maker(kind: str, sealed: bool, request: pytest.FixtureRequest,
           tmp_path: Path) -> MakeStore:
    codec = _codec(tmp_path, sealed)  # one keyring for every store the test opens
    if kind == "sqlite":
        from skillexec.storage.sqlite import SQLiteStore
        return lambda: SQLiteStore(tmp_path / "journal.db", codec=codec)
    url = request.getfixturevalue("pg_url")
    from skillexec.storage.postgres import PostgresStore
    return lambda: PostgresStore(url, codec=codec)


@pytest.fixture(params=["sqlite", "postgresql", "sqlite-sealed", "postgresql-sealed"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    kind, _, sealed = str(request.param).partition("-")
    return _maker(kind, bool(sealed), request, tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def sealed_store(request: pytest.FixtureRequest,
                 tmp_path: Path) -> tuple[str, MakeStore, str | None]:
    make = _maker(request.param, True, request, tmp_path)
    url = request.getfixturevalue("pg_url") if request.param == "postgresql" else None
    return request.param, make, url


def using(make: MakeStore, body: Callable[[TaskStore], Awaitable[Any]]) -> Any:
    async def go() -> Any:
        store = make()
        await store.open()
        try:
            return await body(store)
        finally:
            await store.close()
    return arun(go())


def request(skill: str = "s", *, idempotent: bool = True, created_at: float | None = None,
            params: dict[str, Any] | None = None) -> Request:
    return Request(skill, "1.0.0", params if params is not None else {"n": 1}, {"mode": "x"},
                   5, 2.5, 1, idempotent, created_at or time.time(), "alice", 9.0)


def task(req: Request | None = None) -> ExecutionTask:
    return ExecutionTask.of(new_task_id(), req or request())


def result(t: ExecutionTask, status: TaskStatus = TaskStatus.SUCCEEDED,
           output: Any = "ok", attempts: int = 1) -> ExecutionResult:
    now = time.time()
    return ExecutionResult(t.task_id, t.skill_id, "1.0.0", status, output=output,
                           attempts=attempts, metrics={"wall_ms": 12.5},
                           created_at=t.request.created_at, started_at=now, finished_at=now)


def test_a_task_goes_through_its_states_and_reads_back_exactly(make_store: MakeStore) -> None:
    params = {"text": "héllo ☃ \u0000", "big": 2**62, "f": 0.1, "nested": [{"a": None}]}

    async def body(s: TaskStore) -> None:
        t = task(request(params=params))
        await s.queued(t)
        info = await s.get(t.task_id)
        assert info is not None and info.status is TaskStatus.PENDING and info.result is None
        got = await s.get_request(t.task_id)
        assert got is not None and got.request == t.request and got.request.params == params
        assert [u.task_id for u in await s.unfinished()] == [t.task_id]
        t.status, t.attempts, t.started_at = TaskStatus.RUNNING, 1, time.time()
        await s.started(t)
        assert (await s.get(t.task_id)).status is TaskStatus.RUNNING  # type: ignore[union-attr]
        await s.retrying(t)
        assert (await s.get(t.task_id)).status is TaskStatus.RETRYING  # type: ignore[union-attr]
        history = [{"attempt": 1, "error": {"code": "x"}}, {"attempt": 2, "error": None}]
        await s.finished(t, result(t, attempts=2), history,
                         output_json=orjson.dumps({"out": "☃"}))
        info = await s.get(t.task_id)
        assert info is not None and info.status is TaskStatus.SUCCEEDED and info.attempts == 2
        assert info.result is not None and info.result.output == {"out": "☃"}
        assert info.result.metrics == {"wall_ms": 12.5}
        assert await s.history(t.task_id) == history
        assert await s.unfinished() == []

    using(make_store, body)


def test_a_second_terminal_write_is_ignored(make_store: MakeStore) -> None:
    async def body(s: TaskStore) -> tuple[Any, ...]:
        t = task()
        await s.queued(t)
        first = s.finished(t, result(t, TaskStatus.CANCELLED, output=None), [])
        second = s.finished(t, result(t, TaskStatus.SUCCEEDED, output="late"), [])
        await asyncio.gather(first, second)  # in one group commit, both resolve
        await s.finished(t, result(t, TaskStatus.FAILED), [])  # and in a later one
        started_late = ExecutionTask.of(t.task_id, t.request, status=TaskStatus.RUNNING)
        await s.started(started_late)
        info = await s.get(t.task_id)
        assert info is not None and info.result is not None
        return info.status, info.result.output, await s.history(t.task_id)

    status, output, history = using(make_store, body)
    assert (status, output) == (TaskStatus.CANCELLED, None)
    assert history == [{"attempt": 1, "metrics": {"wall_ms": 12.5}, "error": None,
                        "decision": "done"}]


def test_lists_filter_and_go_newest_first(make_store: MakeStore) -> None:
    base = time.time() - 100

    async def body(s: TaskStore) -> None:
        ts = []
        for i in range(6):
            t = ExecutionTask.of(f"{int((base + i) * 1e6):014x}{i:010x}",
                                 request("a" if i % 2 else "b", created_at=base + i))
            ts.append(t)
            await s.queued(t)
        await s.finished(ts[1], result(ts[1], TaskStatus.FAILED), [])
        ids = [t.task_id for t in ts]
        assert [i.task_id for i in await s.list_tasks()] == ids[::-1]
        assert [i.task_id for i in await s.list_tasks(limit=2)] == ids[:3:-1]
        assert [i.task_id for i in await s.list_tasks(skill_id="a")] == [ids[5], ids[3], ids[1]]
        assert [i.task_id for i in await s.list_tasks(status=TaskStatus.FAILED)] == [ids[1]]
        assert [i.task_id for i in await s.list_tasks(since=base + 2, until=base + 4)] == [
            ids[3], ids[2]]
        assert [r.task_id for r in await s.requests(since=base + 4)] == [ids[5], ids[4]]
        assert [r.task_id for r in await s.unfinished()] == [i for i in ids if i != ids[1]]

    using(make_store, body)


def test_events_cancel_requests_and_artifacts(make_store: MakeStore) -> None:
    async def body(s: TaskStore) -> None:
        t1, t2 = task(), task()
        await asyncio.gather(s.queued(t1), s.queued(t2))
        await asyncio.gather(s.append_event("breaker", {"skill": "a", "to": "open"}),
                             s.append_event("alert", {"rule": "r", "n": 1}))
        events = await s.read_events()
        assert [(e["kind"], e["data"]) for e in events] == [
            ("breaker", {"skill": "a", "to": "open"}), ("alert", {"rule": "r", "n": 1})]
        assert events[0]["seq"] < events[1]["seq"]
        assert [e["kind"] for e in await s.read_events("alert")] == ["alert"]
        assert await s.read_events(since=time.time() + 60) == []

        assert await s.request_cancel(t1.task_id) is True
        assert await s.cancel_requests() == [t1.task_id]
        assert (await s.get_request(t1.task_id)).cancel_requested  # type: ignore[union-attr]
        await s.finished(t1, result(t1, TaskStatus.CANCELLED), [])
        assert await s.request_cancel(t1.task_id) is False  # already ended
        assert await s.cancel_requests() == []

        old, now = time.time() - 3600, time.time()
        refs = [ArtifactRef(f"art{i}", f"f{i}.txt", "text/plain", 10 + i, sha)
                for i, sha in enumerate(["s1", "s1", "s2"])]
        await asyncio.gather(*(s.artifact(ArtifactRecord(r, t2.task_id, old if i < 2 else now))
                               for i, r in enumerate(refs)))
        got = await s.get_artifact("art2")
        assert got == ArtifactRecord(refs[2], t2.task_id, now)
        assert await s.get_artifact("nope") is None
        assert {a.ref.id for a in await s.artifacts_older_than(now - 60)} == {"art0", "art1"}
        assert await s.delete_artifacts(["art0"]) == set()  # art1 still holds s1
        assert await s.delete_artifacts(["art1", "art2", "nope"]) == {"s1", "s2"}
        assert await s.artifacts_older_than(float("inf")) == []

    using(make_store, body)


def test_the_result_cache(make_store: MakeStore) -> None:
    async def body(s: TaskStore) -> None:
        now = time.time()
        value = orjson.dumps({"x": [1, 2, "☃"]})
        await asyncio.gather(
            s.cache_put(CacheRecord("k1", value, None, "a", "1")),
            s.cache_put(CacheRecord("k2", b"2", now - 1, "a", "1")),  # expired
            s.cache_put(CacheRecord("k3", b"3", None, "a", "2")),
            s.cache_put(CacheRecord("k4", b"4", None, "b", "1")))
        assert await s.cache_get("k1") == CacheRecord("k1", value, None, "a", "1")
        await s.cache_put(CacheRecord("k1", b"new", now + 60, "a", "1"))  # replaced
        assert (await s.cache_get("k1")).value_json == b"new"  # type: ignore[union-attr]
        keys, records = await s.cache_load(now=now, limit=2)
        assert sorted(keys) == ["k1", "k3", "k4"] and len(records) == 2
        await s.cache_invalidate("a", "2")
        assert await s.cache_get("k1") is None and await s.cache_get("k3") is not None
        await s.cache_invalidate("a", None)
        assert await s.cache_get("k3") is None and await s.cache_get("k4") is not None

    using(make_store, body)


def test_one_bad_record_fails_alone_in_its_group_commit(make_store: MakeStore) -> None:
    async def body(s: TaskStore) -> None:
        t, other = task(), task()
        await s.queued(t)
        again = s.queued(t)  # the same id: the primary key refuses it
        fine = [s.queued(other), s.append_event("e", {})]
        with pytest.raises(ResourceError) as caught:
            await again
        assert caught.value.code == "journal_write_failed"
        await asyncio.gather(*fine)
        assert await s.get(other.task_id) is not None
        assert [e["kind"] for e in await s.read_events("e")] == ["e"]
        # Nor does it fail what comes after (a failed write was remembered, and every later
        # one refused untried: a journal that filled its disk once stayed broken for good).
        later = task()
        await s.queued(later)
        await s.append_event("e", {})
        assert await s.get(later.task_id) is not None

    using(make_store, body)


def test_a_reopened_journal_keeps_everything(make_store: MakeStore) -> None:
    t = task(request(idempotent=False))
    using(make_store, lambda s: s.queued(t))

    async def body(s: TaskStore) -> Any:
        return await s.unfinished()

    [back] = using(make_store, body)
    assert back.task_id == t.task_id and back.request == t.request


def test_api_keys_keep_their_digest_and_change_once(make_store: MakeStore) -> None:
    now = time.time()
    kept = KeyRecord(KeyInfo("k1", "alice", Role.RUNNER, frozenset({"add", "csv.*"}),
                             frozenset({"file_read"}), now, now + 60, None, None),
                     hashlib.sha256(b"secret").digest())
    plain = KeyRecord(KeyInfo("k2", "bob", Role.ADMIN, None, None, now + 1, None, None, None),
                      bytes(32))

    async def body(s: TaskStore) -> None:
        await asyncio.gather(s.key_put(kept), s.key_put(plain))
        assert await s.key_get("k1") == kept and await s.key_get("nope") is None
        assert await s.key_list() == [kept, plain]  # oldest first
        with pytest.raises(ResourceError):
            await s.key_put(kept)  # one key id, once
        assert await s.key_used("k1", now + 2) and not await s.key_used("k1", now + 3)
        assert await s.key_revoke("k2", now + 4) and not await s.key_revoke("k2", now + 5)
        assert not await s.key_revoke("nope", now) and not await s.key_used("nope", now)
        got = await s.key_get("k1"), await s.key_get("k2")
        assert got[0] is not None and got[0].info.used_at == now + 2
        assert got[1] is not None and got[1].info.revoked_at == now + 4
        assert got[0].info.revoked_at is None and got[1].info.used_at is None

    using(make_store, body)


def entry(i: int, who: str = "p") -> AuditEntry:
    return AuditEntry(1_000_000 + i, who, "x", str(i), "ok", {"i": i} if i % 2 else None)


def flat(rows: list[AuditRow]) -> list[bytes]:
    """The records the stored rows hold (a row holds one, or a group commit's), in order."""
    return [b for r in rows for b in records(r.body)]


def test_audit_records_chain_in_the_group_commit_of_the_task_writes(
        make_store: MakeStore) -> None:
    async def body(s: TaskStore) -> None:
        assert await s.audit_head() is None and await s.audit_rows() == []
        t = task()
        # one turn: the task's write and its records share a transaction
        await asyncio.gather(s.queued(t), *(s.audit_append(entry(i)) for i in range(3)),
                             s.append_event("e", {}))
        await asyncio.gather(*(s.audit_append(entry(i)) for i in range(3, 5)))
        rows = await s.audit_rows()
        want = chain(None, [entry(i) for i in range(5)])
        assert flat(rows) == [r.body for r in want]
        last = rows[-1]  # a row: its last record's seq, time and digest
        assert (last.seq, last.ts_us, last.digest) == (4, want[-1].ts_us, want[-1].digest)
        assert await s.audit_head() == (4, want[-1].digest)
        assert flat(await s.audit_rows(after_seq=2)) == [r.body for r in want[3:]]
        since = await s.audit_rows(since_us=1_000_003, limit=1)
        assert next(b for b in flat(since) if orjson.loads(b)["ts"] >= 1_000_003) \
            == want[3].body
        assert (await verify_chain(s, [])).ok

    using(make_store, body)


def test_a_bad_record_beside_audit_entries_fails_alone(make_store: MakeStore) -> None:
    async def body(s: TaskStore) -> None:
        t, other = task(), task()
        await asyncio.gather(s.queued(t), s.audit_append(entry(0)))
        again = s.queued(t)  # the primary key refuses it; the rest of its batch is written
        fine = [s.audit_append(entry(1)), s.queued(other), s.audit_append(entry(2))]
        with pytest.raises(ResourceError):
            await again
        await asyncio.gather(*fine)
        assert await s.get(other.task_id) is not None
        assert flat(await s.audit_rows()) == \
            [r.body for r in chain(None, [entry(i) for i in range(3)])]

    using(make_store, body)


def test_two_writers_on_one_journal_never_fork_the_audit_chain(make_store: MakeStore) -> None:
    async def main() -> None:
        a, b = make_store(), make_store()
        await a.open()
        await b.open()
        try:
            writes = []
            for i in range(150):
                for who, store in (("a", a), ("b", b)):
                    writes.append(store.audit_append(entry(i, who)))
                if i % 7 == 0:
                    await asyncio.sleep(0.001)  # let one store commit between the other's
            await asyncio.gather(*writes)
            report = await verify_chain(a, [])
            assert report.ok and report.count == 300, report
            got = [orjson.loads(x) for x in flat(await b.audit_rows(limit=1000))]
            assert [r["seq"] for r in got] == list(range(300))
            assert sorted(r["principal"] for r in got) == ["a"] * 150 + ["b"] * 150
        finally:
            await a.close()
            await b.close()
    arun(main())
def test_a_raw_dump_of_a_sealed_journal_holds_no_payload(
        sealed_store: tuple[str, MakeStore, str | None], tmp_path: Path) -> None:
    kind, make, url = sealed_store
    canaries = {name: f"canary-{name}-{os.urandom(6).hex()}"
                for name in ("param", "config", "output", "error", "history", "event",
                             "cache")}

    async def body(s: TaskStore) -> None:
        t = ExecutionTask.of(new_task_id(), Request(
            "s", "1.0.0", {"text": canaries["param"]}, {"mode": canaries["config"]}, 5, 2.5,
            1, True, time.time(), "alice", 9.0))
        failed = task()
        await asyncio.gather(s.queued(t), s.queued(failed))
        await s.finished(t, result(t, output={"said": canaries["output"]}, attempts=2),
                         [{"attempt": 1, "error": {"message": canaries["history"]}},
                          {"attempt": 2, "error": None}])
        bad = result(failed, TaskStatus.FAILED, output=None)
        bad = ExecutionResult.from_dict({**bad.to_dict(), "error": {
            "type": "execution_error", "code": "boom", "message": canaries["error"],
            "retryable": False}})
        await s.finished(failed, bad, [])
        await s.append_event("dead_letter", {"task_id": failed.task_id, "error": {
            "code": "boom", "message": canaries["event"]}})
        await s.cache_put(CacheRecord("k", orjson.dumps(canaries["cache"]), None, "s", "1"))
        # and all of it reads back as written
        assert (await s.get_request(t.task_id)).request.params == {  # type: ignore[union-attr]
            "text": canaries["param"]}
        info = await s.get(t.task_id)
        assert info is not None and info.result is not None
        assert info.result.output == {"said": canaries["output"]}
        got = await s.get(failed.task_id)
        assert got is not None and got.result is not None and got.result.error is not None
        assert got.result.error.message == canaries["error"]
        assert canaries["history"] in str(await s.history(t.task_id))
        [event] = await s.read_events("dead_letter")
        assert event["data"]["error"]["message"] == canaries["event"]
        assert (await s.cache_get("k")).value_json == orjson.dumps(  # type: ignore[union-attr]
            canaries["cache"])

    using(make, body)
    dump = _raw_dump(kind, tmp_path, url)
    assert b"alice" in dump and b"dead_letter" in dump  # the control: the journal's rows
    for name, canary in canaries.items():
        for form in (canary.encode(), base64.b64encode(canary.encode())):
            assert form not in dump, f"the {name} is in the {kind} journal in clear"


def _raw_dump(kind: str, tmp_path: Path, url: str | None) -> bytes:
    if url is None:  # closed: the write-ahead log was checkpointed into the file
        return b"".join(p.read_bytes() for p in tmp_path.iterdir()
                        if p.name.startswith("journal.db"))
    return table_bytes(url)
