"""Privacy: purge by principal (Python and CLI), retention, and no trace left in the data
directory's bytes afterwards, with encryption on and off, over both journals (SQLite; and
PostgreSQL, whose tables and their files on disk are searched too); with encryption the principal's
data key is destroyed, so a backup taken before the purge is unreadable too."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillexec import EngineConfig, SkillExecutionEngine, TaskStatus, skill
from skillexec.errors import ResourceError
from skillexec.storage.sqlite import SQLiteStore
from tests._postgres import table_bytes
from tests.conftest import arun


@skill(id="keeper", timeout=5)
async def keeper(text: str, fail: bool = False, context: Any = None) -> dict[str, Any]:
    context.save_artifact("note.txt", f"artifact of {text}")
    if fail:
        raise ValueError(f"failed on {text}")
    return {"kept": f"output of {text}"}


def _canaries(who: str) -> list[str]:
    return [f"{who}-canary-{n}" for n in range(3)]


async def _run_for(engine: SkillExecutionEngine, who: str) -> list[str]:
    ids = []
    for i, text in enumerate(_canaries(who)):
        r = await engine.execute("keeper", {"text": text, "fail": i == 2}, principal=who,
                                 max_retries=0, cache=False)
        assert r.status is (TaskStatus.FAILED if i == 2 else TaskStatus.SUCCEEDED)
        ids.append(r.task_id)
    return ids


def _files_hold(data_dir: Path, needle: str) -> list[str]:
    forms = [needle.encode(), base64.b64encode(needle.encode())]
    return [str(p) for p in data_dir.rglob("*") if p.is_file()
            and any(f in p.read_bytes() for f in forms)]


def _config(tmp_path: Path, encryption: bool, url: str | None = None,
            **security: Any) -> EngineConfig:
    # The PostgreSQL journal's audit tables come with branch pgsec: until then, no audit log
    # over it (the purge's own audit record is checked through Purger.record_audit).
    return EngineConfig(data_dir=tmp_path / "d", reliability={"dead_letters": True},
                        security={"encryption": encryption, **security}, journal_url=url,
                        audit={"enabled": url is None})


@pytest.fixture(params=["sqlite", "postgresql"])
def journal_url(request: pytest.FixtureRequest) -> str | None:
    """None: the data directory's SQLite journal; else the session's PostgreSQL database."""
    return None if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


def _held(config: EngineConfig, needle: str) -> list[str]:
    """Where the data directory, and a PostgreSQL journal's tables and their files, hold
    ``needle`` (or its base64)."""
    found = _files_hold(config.data_dir, needle)
    if config.journal_is_shared:
        found += _pg_holds(str(config.journal.url), needle)
    return found


def _pg_holds(url: str, needle: str) -> list[str]:
    import psycopg
    forms = [needle.encode(), base64.b64encode(needle.encode())]
    found = ["tables"] if any(f in table_bytes(url) for f in forms) else []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CHECKPOINT")  # the pages as they are now, on disk
        root = Path(str(conn.execute("SHOW data_directory").fetchone()[0]))  # type: ignore[index]
        files = [(r[0], r[1]) for r in conn.execute(
            "SELECT pg_relation_filepath(c.oid), c.relname FROM pg_class c"
            " WHERE c.relname = ANY(%s)"
            " OR c.oid IN (SELECT reltoastrelid FROM pg_class WHERE relname = ANY(%s))",
            (list(_TABLES), list(_TABLES)))]
    if not os.access(root, os.R_OK | os.X_OK):  # the server's files are not ours to read
        return found
    for name, relation in files:
        for path in root.parent.glob(f"{root.name}/{name}*"):  # its segments (.1, ...)
            if any(f in path.read_bytes() for f in forms):
                found.append(f"{path} ({relation})")
    return found


_TABLES = ("tasks", "artifacts", "events", "cache")


def test_a_transaction_older_than_the_purge_in_another_database_is_waited_for(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """VACUUM FULL's own snapshot reaches back to the oldest transaction running in any
    database: one still open there when the purge commits would keep the erased rows in the
    table's new file (seen when other test sessions share the server)."""
    import threading

    import psycopg

    from tests._postgres import ADMIN

    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    config = _config(tmp_path, False, pg_url)
    other = psycopg.connect(ADMIN)
    other.execute("SELECT pg_current_xact_id()")  # a transaction with an xid, left open

    async def go() -> Any:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(keeper)
            await _run_for(engine, "alice")
            ends = threading.Timer(1.0, other.commit)
            ends.start()
            try:
                return await engine.purge(principal="alice")
            finally:
                ends.join()

    try:
        outcome = arun(go())
    finally:
        other.close()
    assert outcome.tasks == 3
    for canary in _canaries("alice"):
        assert _held(config, canary) == []


@pytest.mark.parametrize("encryption", [False, True])
def test_purge_leaves_no_trace_and_spares_others(tmp_path: Path, encryption: bool,
                                                 journal_url: str | None,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    config = _config(tmp_path, encryption, journal_url)
    audited: list[tuple[str, dict[str, Any]]] = []

    async def go() -> tuple[Any, ...]:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(keeper)
            engine.purger.record_audit = lambda action, data: audited.append((action, data))
            alice = await _run_for(engine, "alice")
            bob = await _run_for(engine, "bob")
            outcome = await engine.purge(principal="alice")
            after = [await engine.status(t) for t in alice]
            history = await engine.history(alice[2])
            bob_out = (await engine.status(bob[0])).result.output
            bob_art = await engine.artifacts.read((await engine.status(bob[0])).result
                                                  .artifacts[0].id)
            return outcome, after, history, bob_out, bob_art

    outcome, after, history, bob_out, bob_art = arun(go())
    assert (outcome.tasks, outcome.artifacts, outcome.files) == (3, 3, 3)
    assert outcome.events == 1  # alice's dead letter
    assert outcome.key_destroyed is encryption
    assert audited == [("purge", outcome.to_dict())]
    # the metadata stays (reports), the payloads are gone
    assert [i.status for i in after] == [TaskStatus.SUCCEEDED] * 2 + [TaskStatus.FAILED]
    assert after[0].result.output is None and after[2].result.error.message == "(purged)"
    assert after[0].result.metrics.get("wall_ms") is not None
    assert history[0]["error"] is None or "canary" not in str(history)
    assert bob_out == {"kept": "output of bob-canary-0"} and bob_art == b"artifact of bob-canary-0"
    for canary in _canaries("alice"):
        assert _held(config, canary) == []
    if not encryption:  # the control: bob's plaintext is there to be found
        assert _files_hold(config.data_dir, "bob-canary-0")
        if journal_url is not None:
            assert "tables" in _pg_holds(journal_url, "bob-canary-0")


def test_a_backup_is_unreadable_after_the_principal_is_purged(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())
    config = _config(tmp_path, True)

    async def run() -> list[str]:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(keeper)
            return await _run_for(engine, "alice")
    ids = arun(run())
    backup = tmp_path / "backup.db"
    shutil.copy(config.journal_path, backup)

    async def purge() -> None:
        async with SkillExecutionEngine(config=config) as engine:
            await engine.purge(principal="alice")
    arun(purge())

    async def read_backup() -> Any:
        store = SQLiteStore(backup, codec=config.codec())
        await store.open()
        try:
            return await store.get_request(ids[0])
        finally:
            await store.close()
    with pytest.raises(ResourceError, match="data key was destroyed"):
        arun(read_backup())


def test_before_purges_only_older_tasks(tmp_path: Path, journal_url: str | None) -> None:
    config = _config(tmp_path, False, journal_url)

    async def go() -> tuple[Any, ...]:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(keeper)
            old = await _run_for(engine, "alice")
            cut = time.time()
            await asyncio.sleep(0.01)
            new = await _run_for(engine, "alice")
            outcome = await engine.purge(principal="alice", before=cut)
            return (outcome, (await engine.status(old[0])).result.output,
                    (await engine.status(new[0])).result.output)
    outcome, old_out, new_out = arun(go())
    assert outcome.tasks == 3 and old_out is None and new_out is not None
    assert not outcome.key_destroyed


def test_retention_purges_old_tasks_on_its_own(tmp_path: Path) -> None:
    config = _config(tmp_path, False, retention_days=0.2 / 86400, retention_interval_s=0.05)

    async def go() -> Any:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(keeper)
            ids = await _run_for(engine, "carol")
            for _ in range(100):
                await asyncio.sleep(0.05)
                info = await engine.status(ids[0])
                if info.result is not None and info.result.output is None:
                    await asyncio.sleep(0.3)  # the round that erased it deletes the files
                    return info
            return None
    info = arun(go())
    assert info is not None and info.status is TaskStatus.SUCCEEDED
    assert _files_hold(tmp_path / "d", "carol-canary-0") == []


def test_cli_purge(tmp_path: Path, journal_url: str | None,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    from skillexec.cli.app import app
    config = _config(tmp_path, False, journal_url)
    if journal_url is not None:  # as _config: no audit log over PostgreSQL before pgsec
        monkeypatch.setenv("SKILLEXEC_AUDIT__ENABLED", "false")

    async def go() -> None:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(keeper)
            await _run_for(engine, "dave")
    arun(go())
    runner = CliRunner()
    # the journal named on the command line, not by settings
    where = ["--data-dir", str(config.data_dir)] + (
        ["--journal-url", journal_url] if journal_url is not None else [])
    out = runner.invoke(app, ["tasks", "purge", *where])
    assert out.exit_code == 2 and "--principal NAME or --anonymous" in out.output
    out = runner.invoke(app, ["tasks", "purge", "--principal", "dave", "--before", "soon",
                              *where])
    assert out.exit_code == 2 and "not an ISO 8601" in out.output
    out = runner.invoke(app, ["tasks", "purge", "--principal", "dave", *where])
    assert out.exit_code == 0, out.output
    assert "purged 3 tasks, 3 artifacts (3 files), 1 events" in out.output
    assert _held(config, "dave-canary-1") == []
    summary = runner.invoke(app, ["report", "summary", *where])
    assert summary.exit_code == 0, summary.output
