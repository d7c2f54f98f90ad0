"""The audit log (DESIGN §4.5): a hash chain written with the journal's group commit, signed
checkpoints outside the journal, and a verifier that names the first bad record for each
way of tampering with it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skillexec import SkillExecutionEngine, skill
from skillexec.config import load_config
from skillexec.errors import ConfigError
from skillexec.security.audit import REQUEST_ID, AuditLog, VerifyReport
from skillexec.security.audit_chain import (
    GROUP_MAX,
    AuditEntry,
    canonical,
    chain,
    chain_grouped,
    grouped,
)
from skillexec.storage.sqlite import SQLiteStore
from tests.conftest import ROOT, arun


@skill(id="add")
def add(a: int, b: int = 2) -> int:
    return a + b


def run_tasks(data: Path, n: int, **settings: Any) -> None:
    """N calls of add; with a task.submitted record each too, unless told otherwise."""
    settings["audit"] = {"task_submissions": True, **settings.get("audit", {})}

    async def main() -> None:
        cfg = load_config(data_dir=data, skills_dir=None, **settings)
        async with SkillExecutionEngine(config=cfg) as e:
            e.register(add)
            for i in range(n):
                assert (await e.execute("add", {"a": i})).ok
    arun(main())


def verify(data: Path) -> VerifyReport:
    async def main() -> VerifyReport:
        store = SQLiteStore(data / "journal.db")
        await store.open()
        try:
            return await AuditLog(store, directory=data / "audit").verify()
        finally:
            await store.close()
    return arun(main())


def db(data: Path) -> sqlite3.Connection:
    return sqlite3.connect(data / "journal.db", isolation_level=None)


def row(data: Path, seq: int) -> tuple[int, bytes, bytes]:
    ts, body, digest = db(data).execute(
        "SELECT ts_us, body, digest FROM audit WHERE seq=?", (seq,)).fetchone()
    return ts, bytes(body), bytes(digest)


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    run_tasks(d, 5)  # engine.started + 5 x (task.submitted, task.finished) = 11 records
    return d


def test_an_intact_chain_verifies_with_its_checkpoint(data: Path) -> None:
    report = verify(data)
    assert report.ok and report.count == 11 and report.head_seq == 10
    assert report.checkpoints == 1  # signed at shutdown
    records = [json.loads(row(data, s)[1]) for s in range(11)]
    assert [r["action"] for r in records[:3]] == ["engine.started", "task.submitted",
                                                  "task.finished"]
    assert records[1]["principal"] == "local" and records[1]["details"]["skill"] == "add"
    assert records[1]["details"]["isolation"] == "inline"
    assert records[2]["outcome"] == "succeeded" and records[1]["target"] == records[2]["target"]
    # each record holds the SHA-256 of the previous one's canonical bytes
    assert records[0]["prev"] == "0" * 64
    for s in range(1, 11):
        assert records[s]["prev"] == hashlib.sha256(row(data, s - 1)[1]).hexdigest()
        assert row(data, s)[1] == canonical(records[s])  # stored canonical: sorted, compact
    key = data / "audit" / "signing.key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_by_default_a_task_has_one_record_holding_its_submission(tmp_path: Path) -> None:
    run_tasks(tmp_path / "d", 2, audit={"task_submissions": False})
    records = [json.loads(row(tmp_path / "d", s)[1]) for s in range(3)]
    assert [r["action"] for r in records] == ["engine.started", "task.finished",
                                              "task.finished"]
    d = records[1]["details"]
    assert (d["skill"], d["version"], d["isolation"]) == ("add", "1.0.0", "inline")
    assert records[1]["ts"] - 60_000_000 < d["submitted_us"] <= records[1]["ts"]
    assert verify(tmp_path / "d").count == 3


def test_edit_a_field(data: Path) -> None:
    body = row(data, 4)[1].replace(b'"succeeded"', b'"failed"')
    db(data).execute("UPDATE audit SET body=? WHERE seq=4", (body,))
    r = verify(data)
    assert not r.ok and (r.seq, r.kind) == (4, "edited") and "record 4 was changed" in r.problem


def test_edit_a_field_and_its_digest(data: Path) -> None:
    body = row(data, 4)[1].replace(b'"succeeded"', b'"failed"')
    db(data).execute("UPDATE audit SET body=?, digest=? WHERE seq=4",
                     (body, hashlib.sha256(body).digest()))
    r = verify(data)
    assert not r.ok and (r.seq, r.kind) == (5, "chain")  # the next record no longer follows


def test_edit_the_time_column(data: Path) -> None:
    db(data).execute("UPDATE audit SET ts_us=ts_us+1 WHERE seq=3")
    r = verify(data)
    assert (r.ok, r.seq, r.kind) == (False, 3, "edited")


def test_delete_a_record(data: Path) -> None:
    db(data).execute("DELETE FROM audit WHERE seq=6")
    r = verify(data)
    assert not r.ok and (r.seq, r.kind) == (6, "missing") and "record 6 is missing" in r.problem


def test_insert_a_record(data: Path) -> None:
    conn = db(data)
    conn.execute("UPDATE audit SET seq=seq+1000 WHERE seq>=5")
    conn.execute("UPDATE audit SET seq=seq-999 WHERE seq>=1000")
    prev = row(data, 4)[2]
    forged = canonical({"seq": 5, "ts": 1, "principal": "mallory", "action": "key.created",
                        "target": "k", "outcome": "ok", "details": {}, "prev": prev.hex()})
    conn.execute("INSERT INTO audit(seq, ts_us, body, digest) VALUES (5, 1, ?, ?)",
                 (forged, hashlib.sha256(forged).digest()))
    r = verify(data)
    assert not r.ok and (r.seq, r.kind) == (6, "reordered")


def test_reorder_two_records(data: Path) -> None:
    a, b = row(data, 3), row(data, 4)
    conn = db(data)
    conn.execute("UPDATE audit SET ts_us=?, body=?, digest=? WHERE seq=3", b)
    conn.execute("UPDATE audit SET ts_us=?, body=?, digest=? WHERE seq=4", a)
    r = verify(data)
    assert not r.ok and (r.seq, r.kind) == (3, "reordered")


def test_cut_the_tail_behind_a_checkpoint(data: Path) -> None:
    db(data).execute("DELETE FROM audit WHERE seq>=8")
    r = verify(data)
    assert not r.ok and r.kind == "truncated" and r.seq == 8
    assert "ends at record 7" in r.problem and "holds record 10" in r.problem


def test_restore_an_older_copy_of_the_journal(data: Path, tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    shutil.copy(data / "journal.db", old)
    run_tasks(data, 3)  # records 11..17, a checkpoint at 17
    assert verify(data).ok
    shutil.copy(old, data / "journal.db")
    r = verify(data)
    assert not r.ok and r.kind == "truncated" and "holds record 17" in r.problem
    run_tasks(data, 5)  # written on top of the old copy: 11..21, other records at 17
    r = verify(data)
    assert not r.ok and (r.seq, r.kind) == (17, "rewritten")


def test_a_forged_checkpoint_line(data: Path) -> None:
    path = data / "audit" / "checkpoints.jsonl"
    line = json.loads(path.read_text().splitlines()[0])
    line["seq"] = 3
    with path.open("a") as f:
        f.write(json.dumps(line) + "\n")
    r = verify(data)
    assert not r.ok and r.kind == "checkpoint" and "line 2" in r.problem


def test_a_signing_key_others_may_read_is_refused(data: Path) -> None:
    (data / "audit" / "signing.key").chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        verify(data)


def test_checkpoints_every_n_records(tmp_path: Path) -> None:
    run_tasks(tmp_path / "d", 10, audit={"checkpoint_every": 4})
    lines = (tmp_path / "d" / "audit" / "checkpoints.jsonl").read_text().splitlines()
    seqs = [json.loads(x)["seq"] for x in lines]
    # one while running (at least: a signing under way defers the next one), one at close
    assert len(seqs) >= 2 and seqs[0] >= 3 and seqs[-1] == 20 and seqs == sorted(seqs)
    assert verify(tmp_path / "d").checkpoints == len(seqs)


def test_audit_off_writes_nothing(tmp_path: Path) -> None:
    run_tasks(tmp_path / "d", 3, audit={"enabled": False})
    assert db(tmp_path / "d").execute("SELECT count(*) FROM audit").fetchone() == (0,)
    assert not (tmp_path / "d" / "audit" / "checkpoints.jsonl").exists()


def test_two_writers_on_one_journal_never_fork_the_chain(tmp_path: Path) -> None:
    async def main() -> None:
        path = tmp_path / "journal.db"
        a, b = SQLiteStore(path), SQLiteStore(path)
        await a.open()
        await b.open()
        try:
            writes = []
            for i in range(60):
                for store in (a, b):
                    writes.append(store.audit_append(AuditEntry(i, "p", "x", str(i), "ok", None)))
                if i % 7 == 0:
                    await asyncio.sleep(0)  # let one store commit between the other's
            await asyncio.gather(*writes)
        finally:
            await a.close()
            await b.close()
    arun(main())
    report = verify(tmp_path)
    assert report.ok and report.count == 120


def test_refusals_and_the_reason_are_audited(tmp_path: Path) -> None:
    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as e:
            e.register(add)
            r = await e.execute("add", {"a": "not a number"})
            missing = await e.execute("nope")
            records = await e.audit.read()
        refused = [x for x in records if x["action"] == "task.refused"]
        assert [(x["target"], x["details"]["code"]) for x in refused] == [
            (r.task_id, r.error.code if r.error else ""),
            (missing.task_id, "skill_not_found")]
        assert all(x["outcome"] == "rejected" for x in refused)
    arun(main())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12), max_size=8))
def test_canonical_json_is_sorted_compact_utf8(value: dict[str, Any]) -> None:
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical(value) == expected.encode()
    assert json.loads(canonical(value)) == value


@given(st.lists(st.tuples(st.integers(0, 2), st.text(max_size=6),
                          st.none() | st.dictionaries(st.text(max_size=4), st.integers(-9, 9))),
                max_size=150),
       st.none() | st.tuples(st.integers(0, 10**6), st.binary(min_size=32, max_size=32)))
def test_chain_grouped_is_grouped_chain_by_run(runs: list[tuple[int, str, Any]],
                                              head: tuple[int, bytes] | None) -> None:
    """The writer's fused path stores exactly what grouped(chain(...)) would: one row per
    run of entries sharing a key, at most GROUP_MAX records each."""
    keys = [object() for _ in range(3)]
    marked = [(None, AuditEntry(i, who, "act", "t", "ok", details), keys[k])
              for i, (k, who, details) in enumerate(runs)]
    rows = chain(head, [m[1] for m in marked])
    expected = []
    start = 0
    while start < len(marked):
        end = start + 1
        while (end < len(marked) and marked[end][2] is marked[start][2]
               and end - start < GROUP_MAX):
            end += 1
        expected.append((grouped(rows[start:end]), marked[start][2]))
        start = end
    assert chain_grouped(head, marked) == expected


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def test_cli_verify_and_show(data: Path, tmp_path: Path) -> None:
    args = ("--data-dir", str(data))
    ok = cli("audit", "verify", *args, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.strip() == \
        "audit log intact: 11 records, 1 signed checkpoints"
    as_json = json.loads(cli("audit", "verify", "--json", *args, cwd=tmp_path).stdout)
    assert as_json["ok"] and as_json["count"] == 11
    shown = cli("audit", "show", "--since", "1h", "--json", *args, cwd=tmp_path)
    assert [json.loads(x)["seq"] for x in shown.stdout.splitlines()] == list(range(11))
    assert cli("audit", "show", "--since", "1h", *args, cwd=tmp_path).returncode == 0
    db(data).execute("DELETE FROM audit WHERE seq=2")
    bad = cli("audit", "verify", *args, cwd=tmp_path)
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.strip() == ("skillexec: audit log damaged at record 2 (missing): record "
                                  "2 is missing (deleted): record 3 follows record 1")
    bad_json = cli("audit", "verify", "--json", *args, cwd=tmp_path)
    assert bad_json.returncode == 1 and json.loads(bad_json.stdout)["kind"] == "missing"
    none = cli("audit", "verify", "--data-dir", str(tmp_path / "empty"), cwd=tmp_path)
    assert none.returncode == 2 and "no journal" in none.stderr


def test_an_unwritable_checkpoint_does_not_stop_the_engine_closing(tmp_path: Path) -> None:
    d = tmp_path / "d"
    run_tasks(d, 1)
    (d / "audit" / "signing.key").chmod(0o644)  # refused: the shutdown checkpoint fails
    run_tasks(d, 1)  # still closes (the journal is released and complete)
    assert db(d).execute("SELECT count(*) FROM audit").fetchone() == (6,)


def test_a_configuration_change_shows_as_a_new_digest(tmp_path: Path) -> None:
    d = tmp_path / "d"
    run_tasks(d, 0)
    run_tasks(d, 0)
    run_tasks(d, 0, default_timeout_s=7.0)
    started = [json.loads(row(d, s)[1]) for s in range(3)]
    assert [r["action"] for r in started] == ["engine.started"] * 3
    digests = [r["details"]["config_sha256"] for r in started]
    assert digests[0] == digests[1] != digests[2] and len(digests[2]) == 64
    assert verify(d).ok


def test_records_of_one_group_commit_share_one_awaitable(tmp_path: Path) -> None:
    """The hot path makes no future per record: the records queued in one turn of the loop
    are durable together, in order, in one row of the journal (one SQL row per group
    commit, not per task), and a failed write fails their awaitable."""
    async def main() -> tuple[bool, list[int], list[int], str]:
        store = SQLiteStore(tmp_path / "journal.db")
        await store.open()
        try:
            log = AuditLog(store, directory=None)
            a = log.record("task.finished", target="t1")
            b = log.record("task.finished", target="t2")
            same = a is b
            await asyncio.gather(a, b)
            rows = [r.seq for r in await store.audit_rows()]
            seqs = [r["seq"] for r in await log.read()]
            store._write.execute("PRAGMA query_only = ON")  # the writer fails
            with pytest.raises(Exception) as err:
                await log.record("task.finished", target="t3")
            return same, rows, seqs, getattr(err.value, "code", "")
        finally:
            store._write.execute("PRAGMA query_only = OFF")
            await store.close()
    same, rows, seqs, code = arun(main())
    assert same and rows == [1] and seqs == [0, 1] and code == "journal_write_failed"


def test_a_journal_whose_disk_filled_writes_again_once_there_is_room(tmp_path: Path) -> None:
    """SQLite's "database or disk is full" failed the writes of its moment, and every later
    write after it, untried, until the engine restarted (a script had filled the data dir's
    disk: once its workspace was removed, every call of every key still failed)."""
    async def main() -> tuple[str, list[str]]:
        store = SQLiteStore(tmp_path / "journal.db")
        await store.open()
        try:
            log = AuditLog(store, directory=None)
            await log.record("task.finished", target="t0")
            pages = store._write.execute("PRAGMA page_count").fetchone()[0]
            store._write.execute(f"PRAGMA max_page_count = {pages}")  # the disk is full
            code = ""
            for i in range(20_000):
                try:
                    await log.record("task.finished", target=f"filler-{i}" + "x" * 500)
                except Exception as exc:
                    code = getattr(exc, "code", repr(exc))
                    break
            store._write.execute("PRAGMA max_page_count = 1073741823")  # room again
            await log.record("task.finished", target="after")
            return code, [r["target"] for r in await log.read()][-1:]
        finally:
            await store.close()
    code, last = arun(main())
    assert code == "journal_write_failed" and last == ["after"]


def test_the_engines_task_records_are_canonical(tmp_path: Path) -> None:
    """A task's records (written through the audit log's positional path) are canonical:
    for a success, a refusal with its code, and a record made for an HTTP request."""
    async def main() -> None:
        async with SkillExecutionEngine(data_dir=tmp_path / "d") as e:
            e.register(add)
            assert (await e.execute("add", {"a": 1})).ok
            assert not (await e.execute("add", {"a": "x"})).ok
            assert not (await e.execute("nope")).ok
            token = REQUEST_ID.set("req-1")
            try:
                assert (await e.execute("add", {"a": 2})).ok
            finally:
                REQUEST_ID.reset(token)
    arun(main())
    bodies = [part for (body,) in db(tmp_path / "d").execute("SELECT body FROM audit")
              for part in bytes(body).split(b"\n")]
    records = [json.loads(b) for b in bodies]
    assert [r["action"] for r in records] == ["engine.started", "task.finished",
                                              "task.refused", "task.refused", "task.finished"]
    assert records[2]["details"]["code"] and records[4]["details"]["request_id"] == "req-1"
    assert all(b == canonical(r) for b, r in zip(bodies, records, strict=True))
    assert verify(tmp_path / "d").ok


def test_a_writer_whose_head_is_stale_chains_after_the_real_head(tmp_path: Path) -> None:
    """A writer takes the head it committed last as the head (no SELECT per commit); when
    another writer appended since (here a row of three records, keyed by its last seq),
    its guarded INSERT fails and it places its records after the head it then reads."""
    async def main() -> list[tuple[int, str]]:
        path = tmp_path / "journal.db"
        a, b = SQLiteStore(path), SQLiteStore(path)
        await a.open()
        await b.open()
        try:
            await a.audit_append(AuditEntry(1, "p", "x", "a1", "ok", None))
            await asyncio.gather(*(b.audit_append(AuditEntry(2, "p", "x", f"b{i}", "ok", None))
                                   for i in range(3)))
            await a.audit_append(AuditEntry(3, "p", "x", "a2", "ok", None))
            return [(r["seq"], r["target"]) for r in await AuditLog(a, directory=None).read()]
        finally:
            await a.close()
            await b.close()
    assert arun(main()) == [(0, "a1"), (1, "b0"), (2, "b1"), (3, "b2"), (4, "a2")]
    report = verify(tmp_path)
    assert report.ok and report.count == 5


# -- rows of several records (one group commit's) ----------------------------------------------

def grouped_chain(data: Path, *, checkpoint_at_7: bool = False) -> None:
    """12 records in three group commits of 4 (rows 3, 7 and 11), a checkpoint at 11 (and
    one at 7)."""
    async def main() -> None:
        store = SQLiteStore(data / "journal.db")
        await store.open()
        try:
            log = AuditLog(store, directory=data / "audit")
            for g in range(3):
                done = [log.record("task.finished", principal="p", target=f"t{4 * g + i}")
                        for i in range(4)]
                await done[-1]
                if g == 1 and checkpoint_at_7:
                    assert await log.checkpoint() == 7
            await log.close()
        finally:
            await store.close()
    data.mkdir(parents=True, exist_ok=True)
    arun(main())


def parts(data: Path, seq: int) -> list[bytes]:
    return row(data, seq)[1].split(b"\n")


def put_row(data: Path, seq: int, records: list[bytes], *, key: int | None = None) -> None:
    ts = json.loads(records[-1])["ts"]
    db(data).execute("UPDATE audit SET seq=?, ts_us=?, body=?, digest=? WHERE seq=?",
                     (seq if key is None else key, ts, b"\n".join(records),
                      hashlib.sha256(records[-1]).digest(), seq))


@pytest.fixture()
def groups(tmp_path: Path) -> Path:
    d = tmp_path / "groups"
    grouped_chain(d)
    return d


def test_a_group_commit_is_one_row_and_verifies(groups: Path) -> None:
    assert [r[0] for r in db(groups).execute("SELECT seq FROM audit ORDER BY seq")] \
        == [3, 7, 11]
    assert len(parts(groups, 7)) == 4
    r = verify(groups)
    assert (r.ok, r.count, r.head_seq, r.checkpoints) == (True, 12, 11, 1)

    async def read() -> list[dict[str, Any]]:
        store = SQLiteStore(groups / "journal.db")
        await store.open()
        try:
            return await AuditLog(store, directory=None).read(limit=6)
        finally:
            await store.close()
    got = arun(read())
    assert [x["seq"] for x in got] == [0, 1, 2, 3, 4, 5]
    assert [x["target"] for x in got] == [f"t{i}" for i in range(6)]


def test_edit_a_record_inside_a_row(groups: Path) -> None:
    p = parts(groups, 7)
    p[1] = p[1].replace(b'"t5"', b'"t9"')  # record 5 of row 7 (4, 5, 6, 7)
    put_row(groups, 7, p)
    r = verify(groups)
    assert not r.ok and (r.seq, r.kind) == (5, "edited") and "record 5 was changed" in r.problem


def test_edit_the_last_record_of_a_row(groups: Path) -> None:
    p = parts(groups, 7)
    body = b"\n".join([*p[:3], p[3].replace(b'"t7"', b'"t9"')])
    db(groups).execute("UPDATE audit SET body=? WHERE seq=7", (body,))
    r = verify(groups)
    assert not r.ok and (r.seq, r.kind) == (7, "edited")


def test_delete_a_record_inside_a_row(groups: Path) -> None:
    p = parts(groups, 7)
    put_row(groups, 7, p[:1] + p[2:])
    r = verify(groups)
    assert not r.ok and (r.seq, r.kind) == (5, "missing") and "record 5 is missing" in r.problem


def test_delete_a_whole_row(groups: Path) -> None:
    db(groups).execute("DELETE FROM audit WHERE seq=7")
    r = verify(groups)
    assert not r.ok and (r.seq, r.kind) == (4, "missing")


def test_reorder_two_records_inside_a_row(groups: Path) -> None:
    p = parts(groups, 7)
    put_row(groups, 7, [p[0], p[2], p[1], p[3]])
    r = verify(groups)
    assert not r.ok and (r.seq, r.kind) == (5, "reordered")


def test_insert_a_record_inside_a_row(groups: Path) -> None:
    p = parts(groups, 7)
    forged = canonical({"seq": 5, "ts": 1, "principal": "mallory", "action": "key.created",
                        "target": "k", "outcome": "ok", "details": {},
                        "prev": hashlib.sha256(p[0]).hexdigest()})
    put_row(groups, 7, [p[0], forged, *p[1:]], key=8)
    r = verify(groups)
    assert not r.ok and (r.seq, r.kind) == (6, "reordered")


def test_cut_the_tail_inside_a_row(groups: Path) -> None:
    p = parts(groups, 11)
    put_row(groups, 11, p[:2], key=9)
    r = verify(groups)
    assert not r.ok and r.kind == "truncated" and r.seq == 10 and "holds record 11" in r.problem


def test_a_rewritten_row_behind_a_checkpoint(tmp_path: Path) -> None:
    """Record 6 changed and the chain rebuilt after it (every digest recomputed, as a
    writer with the journal could): the checkpoint at 7 no longer matches."""
    d = tmp_path / "groups"
    grouped_chain(d, checkpoint_at_7=True)
    p = parts(d, 7)
    p[2] = p[2].replace(b'"t6"', b'"t9"')
    d7 = json.loads(p[3])
    d7["prev"] = hashlib.sha256(p[2]).hexdigest()
    p[3] = canonical(d7)
    put_row(d, 7, p)
    r = verify(d)
    assert not r.ok and (r.seq, r.kind) == (7, "rewritten")
