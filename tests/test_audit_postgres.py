"""The audit log and API keys on the shared PostgreSQL journal: the tamper matrix of
tests/test_audit.py where it applies (the rows of the database edited behind the engine's
back), two engines writing one chain at once, and ``skillexec keys|audit --journal-url``."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from skillexec import SkillExecutionEngine, skill
from skillexec.config import load_config
from skillexec.security.audit import AuditLog, VerifyReport
from skillexec.security.audit_chain import canonical
from skillexec.storage.postgres import PostgresStore
from tests.conftest import arun


@skill(id="add")
def add(a: int, b: int = 2) -> int:
    return a + b


def run_tasks(data: Path, url: str, n: int, *, name: str = "add") -> None:
    """N calls of add, each with a task.submitted and a task.finished record."""
    async def main() -> None:
        cfg = load_config(data_dir=data, skills_dir=None, journal_url=url,
                          audit={"task_submissions": True})
        async with SkillExecutionEngine(config=cfg) as e:
            e.register(add)
            for i in range(n):
                assert (await e.execute(name, {"a": i})).ok
    arun(main())


def verify(data: Path, url: str) -> VerifyReport:
    async def main() -> VerifyReport:
        store = PostgresStore(url)
        await store.open()
        try:
            # the checkpoints signed for this journal (a data folder keeps each journal's)
            journal = load_config(data_dir=data, journal_url=url).journal_identity
            return await AuditLog(store, directory=data / "audit", journal=journal).verify()
        finally:
            await store.close()
    return arun(main())


def row(conn: psycopg.Connection[Any], seq: int) -> tuple[int, bytes, bytes]:
    ts, body, digest = conn.execute("SELECT ts_us, body, digest FROM audit WHERE seq=%s",
                                    (seq,)).fetchone() or (0, b"", b"")
    return ts, bytes(body), bytes(digest)


@pytest.fixture()
def data(tmp_path: Path, pg_url: str) -> Path:
    d = tmp_path / "data"
    run_tasks(d, pg_url, 5)  # engine.started + 5 x (task.submitted, task.finished) = 11
    return d


def test_an_intact_chain_verifies_with_its_checkpoint(data: Path, pg_url: str) -> None:
    report = verify(data, pg_url)
    assert report.ok and report.count == 11 and report.head_seq == 10
    assert report.checkpoints == 1  # signed at shutdown, in this node's data folder
    with psycopg.connect(pg_url) as conn:
        records = [json.loads(row(conn, s)[1]) for s in range(11)]
        assert records[0]["action"] == "engine.started" and records[0]["prev"] == "0" * 64
        for s in range(1, 11):
            assert records[s]["prev"] == hashlib.sha256(row(conn, s - 1)[1]).hexdigest()
            assert row(conn, s)[1] == canonical(records[s])
    assert not (data / "journal.db").exists()


def _edit(conn: psycopg.Connection[Any]) -> None:
    body = row(conn, 4)[1].replace(b'"succeeded"', b'"failed"')
    conn.execute("UPDATE audit SET body=%s WHERE seq=4", (body,))


def _edit_with_digest(conn: psycopg.Connection[Any]) -> None:
    body = row(conn, 4)[1].replace(b'"succeeded"', b'"failed"')
    conn.execute("UPDATE audit SET body=%s, digest=%s WHERE seq=4",
                 (body, hashlib.sha256(body).digest()))


def _insert(conn: psycopg.Connection[Any]) -> None:
    conn.execute("UPDATE audit SET seq=seq+1000 WHERE seq>=5")
    conn.execute("UPDATE audit SET seq=seq-999 WHERE seq>=1000")
    forged = canonical({"seq": 5, "ts": 1, "principal": "mallory", "action": "key.created",
                        "target": "k", "outcome": "ok", "details": {},
                        "prev": row(conn, 4)[2].hex()})
    conn.execute("INSERT INTO audit(seq, ts_us, body, digest) VALUES (5, 1, %s, %s)",
                 (forged, hashlib.sha256(forged).digest()))


def _reorder(conn: psycopg.Connection[Any]) -> None:
    a, b = row(conn, 3), row(conn, 4)
    conn.execute("UPDATE audit SET ts_us=%s, body=%s, digest=%s WHERE seq=3", b)
    conn.execute("UPDATE audit SET ts_us=%s, body=%s, digest=%s WHERE seq=4", a)


Tamper = Callable[[psycopg.Connection[Any]], None]


@pytest.mark.parametrize(("tamper", "seq", "kind", "says"), [
    (_edit, 4, "edited", "record 4 was changed"),
    (_edit_with_digest, 5, "chain", None),  # the next record no longer follows
    (lambda c: c.execute("UPDATE audit SET ts_us=ts_us+1 WHERE seq=3"), 3, "edited", None),
    (lambda c: c.execute("DELETE FROM audit WHERE seq=6"), 6, "missing",
     "record 6 is missing"),
    (_insert, 6, "reordered", None),
    (_reorder, 3, "reordered", None),
    (lambda c: c.execute("DELETE FROM audit WHERE seq>=8"), 8, "truncated",
     "holds record 10"),  # behind the checkpoint signed at shutdown
], ids=["edit", "edit-and-digest", "edit-time", "delete", "insert", "reorder", "cut-tail"])
def test_tampering_is_found_and_named(data: Path, pg_url: str, tamper: Tamper, seq: int,
                                      kind: str, says: str | None) -> None:
    assert verify(data, pg_url).ok
    with psycopg.connect(pg_url, autocommit=True) as conn:
        tamper(conn)
    r = verify(data, pg_url)
    assert not r.ok and (r.seq, r.kind) == (seq, kind), r
    assert says is None or (r.problem is not None and says in r.problem)


def test_two_engines_on_one_database_write_one_chain(tmp_path: Path, pg_url: str) -> None:
    async def main() -> None:
        cfgs = [load_config(data_dir=tmp_path / n, skills_dir=None, journal_url=pg_url,
                            audit={"task_submissions": True}) for n in ("a", "b")]
        async with SkillExecutionEngine(config=cfgs[0]) as a, \
                SkillExecutionEngine(config=cfgs[1]) as b:
            for e in (a, b):
                e.register(add)
            results = await asyncio.gather(*(e.execute("add", {"a": i})
                                             for i in range(60) for e in (a, b)))
            assert all(r.ok for r in results)
    arun(main())
    for node in ("a", "b"):  # each node's checkpoints hold for the one shared chain
        report = verify(tmp_path / node, pg_url)
        assert report.ok and report.count == 2 + 2 * 120 and report.checkpoints == 1, report


def test_a_bad_record_beside_audit_records_fails_alone_and_the_chain_holds(
        tmp_path: Path, pg_url: str) -> None:
    """A group commit with a bad record is written again one record at a time (the rows
    first, then the chain's lock and its entries): only the bad record fails."""
    from tests.test_store_contract import task

    async def main() -> tuple[list[object], VerifyReport, bool]:
        store = PostgresStore(pg_url)
        await store.open()
        try:
            log = AuditLog(store, directory=tmp_path / "audit")
            t, later = task(), task()
            await store.queued(t)
            writes = [store.queued(t), store.queued(later),  # the first: a duplicate key
                      *(log.record("test.note", target=str(i)) for i in range(3))]
            got = await asyncio.gather(*writes, return_exceptions=True)
            await log.close()
            return got, await log.verify(), await store.get(later.task_id) is not None
        finally:
            await store.close()

    got, report, written = arun(main())
    assert isinstance(got[0], Exception) and got[1:] == [None] * 4, got
    assert written and report.ok and report.count == 3, report


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_cli_keys_and_audit_through_journal_url(tmp_path: Path, pg_url: str) -> None:
    where = ("--journal-url", pg_url)
    made = cli("keys", "create", "--name", "alice", "--json", *where, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    assert not (tmp_path / ".skillexec" / "journal.db").exists()  # kept in the database
    # another folder on another node: the same keys, the same chain
    other = ("--data-dir", str(tmp_path / "elsewhere"), *where)
    (listed,) = json.loads(cli("keys", "list", "--json", *other, cwd=tmp_path).stdout)
    assert listed["key_id"] == key["key_id"] and listed["valid"] and "digest" not in listed

    async def check(raw: str) -> bool:
        cfg = load_config(data_dir=tmp_path / "node", skills_dir=None, journal_url=pg_url)
        async with SkillExecutionEngine(config=cfg) as e:
            return await e.keys.authenticate(raw) is not None
    assert arun(check(key["key"]))
    assert cli("keys", "revoke", key["key_id"], *other, cwd=tmp_path).returncode == 0
    assert not arun(check(key["key"]))
    again = cli("keys", "revoke", key["key_id"], *where, cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.startswith("skillexec: no valid key")

    shown = cli("audit", "show", "--json", *other, cwd=tmp_path)
    actions = [json.loads(x)["action"] for x in shown.stdout.splitlines()]
    assert actions.count("key.created") == 1 and actions.count("key.revoked") == 2  # + refused
    ok = cli("audit", "verify", *where, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.startswith(f"audit log intact: {len(actions)} ")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DELETE FROM audit WHERE seq=1")
    bad = cli("audit", "verify", "--json", *where, cwd=tmp_path)
    assert bad.returncode == 1 and json.loads(bad.stdout)["kind"] == "missing"
    down = cli("audit", "verify", "--journal-url", "postgresql://u:s3cret@127.0.0.1:1/x",
               cwd=tmp_path)
    assert down.returncode == 2 and "s3cret" not in down.stderr
    assert down.stderr.startswith("skillexec: cannot reach the journal database")


def test_a_lone_entry_placed_by_the_database_is_the_record_the_chain_would_make(
        tmp_path: Path, pg_url: str) -> None:
    """A group commit holding one audit entry lets the database place it after the head
    (no read of the head first): byte for byte the record ``chain`` makes, whatever its
    details hold (keys named prev and seq, quotes, the placeholders' own spelling,
    newlines, non-ASCII), and the chain verifies."""
    from skillexec.security.audit_chain import AuditEntry, chain

    tricky: list[dict[str, Any]] = [
        {}, {"prev": "", "seq": 0}, {"x": '"prev":"","seq":0', "nested": {"prev": ""}},
        {"q": 'a"b\\c\n', "é": "ü✓"}, {"seq": [0, {"prev": ""}]}]
    entries = [AuditEntry(1_700_000_000_000_000 + i, "alice", "test.tricky", f'ta"rget{i}',
                          "ok", d) for i, d in enumerate(tricky)]

    async def main() -> list[tuple[int, bytes, bytes]]:
        store = PostgresStore(pg_url)
        await store.open()
        try:
            for e in entries:  # one commit each: each a lone entry
                await store.audit_append(e)
        finally:
            await store.close()
        with psycopg.connect(pg_url) as conn:
            return [(int(r[0]), bytes(r[1]), bytes(r[2])) for r in conn.execute(
                "SELECT seq, body, digest FROM audit ORDER BY seq")]

    rows = arun(main())
    assert [(r.seq, r.body, r.digest) for r in chain(None, entries)] == rows
    report = verify(tmp_path / "data", pg_url)
    assert report.ok, report
