"""Encryption at rest over the PostgreSQL journal: an engine seals what it writes there (no
parameter, output or error text in any table), the CLI reads it back through
``--journal-url``, ``keys rotate-master`` re-wraps the data keys without touching a row, and
a principal's purge leaves its old ciphertexts unreadable (its data key destroyed) after a
VACUUM that needs no lock; without encryption the purge rewrites the tables (VACUUM FULL)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from skillexec import EngineConfig, SkillExecutionEngine, TaskStatus, skill
from skillexec.errors import ConfigError, ResourceError
from tests._postgres import table_bytes
from tests.conftest import arun

CANARY = "pgcanary-3c9e71d0-param"
OUT = "pgcanary-a81f2b66-output"
ERR = "pgcanary-5d07c4e9-error"


@skill(id="pg-echo", timeout=5)
async def pg_echo(text: str, fail: bool = False) -> dict[str, Any]:
    if fail:
        raise ValueError(f"refused {text} {ERR}")
    return {"said": text + OUT}


def _master() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _config(tmp_path: Path, url: str, *, encryption: bool = True) -> EngineConfig:
    # no audit log: the PostgreSQL journal's audit tables come with branch pgsec
    return EngineConfig(data_dir=tmp_path / "d", journal_url=url,
                        security={"encryption": encryption}, audit={"enabled": False},
                        reliability={"dead_letters": True})


def _run(config: EngineConfig, who: str = "alice") -> tuple[str, str]:
    async def go() -> tuple[str, str]:
        async with SkillExecutionEngine(config=config) as engine:
            engine.register(pg_echo)
            ok = await engine.execute("pg-echo", {"text": CANARY}, principal=who)
            bad = await engine.execute("pg-echo", {"text": CANARY, "fail": True},
                                       principal=who, max_retries=1)
            assert ok.status is TaskStatus.SUCCEEDED and bad.status is TaskStatus.FAILED
            return ok.task_id, bad.task_id
    return arun(go())


def _clear(url: str) -> list[str]:
    raw = table_bytes(url)
    return [c for c in (CANARY, OUT, ERR)
            if c.encode() in raw or base64.b64encode(c.encode()) in raw]


def test_an_engine_seals_its_postgresql_journal_and_the_cli_reads_it(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from skillexec.cli.app import app
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path, pg_url)
    ok_id, bad_id = _run(config)
    assert _clear(pg_url) == []
    with psycopg.connect(pg_url) as conn:  # the rows are there, and sealed
        row = conn.execute("SELECT params FROM tasks WHERE task_id=%s", (ok_id,)).fetchone()
    assert row is not None and bytes(row[0])[0] == 1

    monkeypatch.setenv("SKILLEXEC_SECURITY__ENCRYPTION", "true")
    runner = CliRunner()
    where = ["--data-dir", str(config.data_dir), "--journal-url", pg_url]
    out = runner.invoke(app, ["tasks", "show", ok_id, "--json", *where])
    assert out.exit_code == 0, out.output
    assert OUT in out.output
    out = runner.invoke(app, ["tasks", "show", bad_id, "--json", *where])
    assert out.exit_code == 0 and ERR in out.output, out.output

    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())  # not this keyring's key
    out = runner.invoke(app, ["tasks", "show", ok_id, *where])
    assert out.exit_code == 2 and "master key does not match" in out.output
    assert "Traceback" not in out.output

    # the control: without encryption the same calls leave their plaintext in the tables
    plain = _config(tmp_path / "plain", pg_url, encryption=False)
    _run(plain, "bob")
    assert _clear(pg_url) == [CANARY, OUT, ERR]


def test_rotate_master_with_a_postgresql_journal(tmp_path: Path, pg_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from skillexec.cli.app import app
    old, new = _master(), _master()
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", old)
    config = _config(tmp_path, pg_url)
    ok_id, _ = _run(config)
    before = table_bytes(pg_url)
    new_file = tmp_path / "new.key"
    new_file.write_text(new)
    new_file.chmod(0o600)
    monkeypatch.setenv("SKILLEXEC_SECURITY__ENCRYPTION", "true")
    monkeypatch.setenv("SKILLEXEC_JOURNAL_URL", pg_url)
    out = CliRunner().invoke(app, ["keys", "rotate-master", str(new_file),
                                   "--data-dir", str(config.data_dir)])
    assert out.exit_code == 0, out.output
    assert "re-wrapped 2 data keys" in out.output  # alice's and the engine's own
    assert table_bytes(pg_url) == before  # not one row rewritten

    with pytest.raises(ConfigError, match="does not match"):  # the old key: refused
        SkillExecutionEngine(config=config)
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", new)

    async def read() -> Any:
        async with SkillExecutionEngine(config=config) as engine:
            return (await engine.status(ok_id)).result.output  # type: ignore[union-attr]
    assert arun(read()) == {"said": CANARY + OUT}


def _relfilenodes(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {t: int(conn.execute("SELECT pg_relation_filenode(%s)", (t,)).fetchone()[0])
                for t in ("tasks", "events")}  # type: ignore[index]


@pytest.mark.parametrize("encryption", [True, False])
def test_purge_on_postgresql_shreds_old_copies(tmp_path: Path, pg_url: str, encryption: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_MASTER_KEY", _master())
    config = _config(tmp_path, pg_url, encryption=encryption)
    ok_id, _ = _run(config)
    with psycopg.connect(pg_url) as conn:  # a copy taken before: a backup, a replica
        [copy] = conn.execute("SELECT params FROM tasks WHERE task_id=%s", (ok_id,)).fetchone()
    files = _relfilenodes(pg_url)

    async def purge() -> Any:
        async with SkillExecutionEngine(config=config) as engine:
            return await engine.purge(principal="alice")
    outcome = arun(purge())
    assert (outcome.tasks, outcome.events, outcome.key_destroyed) == (2, 1, encryption)
    rewritten = _relfilenodes(pg_url)
    if encryption:
        # what a plain VACUUM leaves in free space is ciphertext under a destroyed key
        assert rewritten == files
        with pytest.raises(ResourceError, match="data key was destroyed"):
            config.codec().open("tasks", ok_id, "params", "alice", bytes(copy))
    else:  # plaintext: VACUUM FULL wrote the tables anew, no erased byte in their files
        assert all(rewritten[t] != files[t] for t in files)
        assert CANARY.encode() in bytes(copy)
