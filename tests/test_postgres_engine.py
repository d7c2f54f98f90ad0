"""Engines on a PostgreSQL journal: end to end, the CLI's commands with --journal-url,
recovery after a kill -9, and two engines sharing one database."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from skillexec import EngineConfig, SkillExecutionEngine, TaskStatus, skill
from skillexec.storage import postgres_schema
from skillexec.storage.postgres import PostgresStore
from tests.conftest import ROOT, arun
from tests.test_recovery import DRIVER, TRUSTED, make_skills


@skill(id="echo", version="1.2.0", timeout=5)
def echo(text: str) -> str:
    return text


@skill(id="broken", timeout=5)
def broken() -> None:
    raise ValueError("no good")


def _config(tmp_path: Path, url: str, name: str = "d") -> EngineConfig:
    return EngineConfig(data_dir=tmp_path / name, journal_url=url)


def test_an_engine_runs_on_the_postgresql_journal(tmp_path: Path, pg_url: str) -> None:
    async def go() -> tuple[Any, ...]:
        async with SkillExecutionEngine(config=_config(tmp_path, pg_url)) as e:
            assert isinstance(e.journal, PostgresStore)
            e.register(echo)
            e.register(broken)
            ok = await e.execute("echo", {"text": "héllo"})
            bad = await e.execute("broken", max_retries=0)
            tid = await e.submit("echo", {"text": "later"})
            waited = await e.wait(tid, timeout=10)
            return ok, bad, waited, await e.journal.get(tid)

    ok, bad, waited, info = arun(go())
    assert ok.status is TaskStatus.SUCCEEDED and ok.output == "héllo"
    assert bad.status is TaskStatus.FAILED and waited.output == "later"
    assert info is not None and info.result is not None and info.result.output == "later"
    with psycopg.connect(pg_url) as conn:  # in the database, not in a file beside it
        rows = conn.execute("SELECT skill_id, status FROM tasks ORDER BY task_id").fetchall()
    assert rows == [("echo", "succeeded"), ("broken", "failed"), ("echo", "succeeded")]
    assert not (tmp_path / "d" / "journal.db").exists()


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, **(env or {})})


def test_the_cli_reads_and_cancels_through_journal_url(tmp_path: Path, pg_url: str) -> None:
    async def seed() -> tuple[str, str]:
        async with SkillExecutionEngine(config=_config(tmp_path, pg_url)) as e:
            e.register(echo)
            e.register(broken)
            done = (await e.execute("echo", {"text": "x"})).task_id
            failed = (await e.execute("broken", max_retries=0)).task_id
            return done, failed

    done, failed = arun(seed())
    # Elsewhere: another folder, nothing on disk; the journal is named by the URL alone.
    other = ["--data-dir", str(tmp_path / "elsewhere"), "--journal-url", pg_url]
    listed = _cli("tasks", "list", "--json", *other)
    assert listed.returncode == 0, listed.stderr
    assert {t["task_id"] for t in json.loads(listed.stdout)} == {done, failed}
    shown = _cli("tasks", "show", done, "--json", *other)
    assert shown.returncode == 0 and json.loads(shown.stdout)["result"]["output"] == "x"
    summary = _cli("report", "summary", "--format", "json", *other)
    assert summary.returncode == 0, summary.stderr
    assert "echo" in summary.stdout and "broken" in summary.stdout
    errors = _cli("report", "errors", "--format", "json", *other)
    assert errors.returncode == 0 and "no good" in errors.stdout, errors.stderr
    metrics = _cli("metrics", "show", *other)
    assert metrics.returncode == 0, metrics.stderr
    assert 'skillexec_journal_tasks{skill="echo",status="succeeded"} 1.0' in metrics.stdout
    by_env = _cli("tasks", "list", "--json", "--data-dir", str(tmp_path / "e2"),
                  env={"SKILLEXEC_JOURNAL_URL": pg_url})
    assert len(json.loads(by_env.stdout)) == 2
    ended = _cli("tasks", "cancel", done, *other)
    assert ended.returncode == 1 and "already finished (succeeded)" in ended.stderr


def test_the_cli_says_when_the_database_cannot_be_reached(tmp_path: Path) -> None:
    out = _cli("tasks", "list", "--journal-url",
               "postgresql://me:s3cret@127.0.0.1:1/nope")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.startswith("skillexec: cannot reach the journal database "
                                 "postgresql://me:***@127.0.0.1:1/nope")
    assert "s3cret" not in out.stderr
    bad = _cli("tasks", "list", "--journal-url", "mysql://x/y")
    assert bad.returncode == 2 and "is not a journal URL" in bad.stderr


def test_a_killed_engine_is_recovered_from_the_postgresql_journal(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    skills = make_skills(tmp_path)
    data = tmp_path / "data"
    ids_file = tmp_path / "ids.json"
    runs = tmp_path / "runs.txt"
    env = {**os.environ, "RUNS_FILE": str(runs), "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_TRUSTED_SKILLS": TRUSTED, "SKILLEXEC_JOURNAL_URL": pg_url}
    proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(skills), str(data),
                             str(ids_file)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "READY"
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    ids: dict[str, list[str]] = json.loads(ids_file.read_text())
    started_before = set(runs.read_text().split())
    assert started_before, "the kill came before anything ran"
    with psycopg.connect(pg_url) as conn:  # what the killed engine left unfinished
        left = dict(conn.execute("SELECT task_id, status FROM tasks WHERE finished_at IS NULL")
                    .fetchall())
    unfinished = set(left)
    # Started as the journal knew it: a kill between a start's record and the skill's
    # first write leaves a started task that runs.txt does not name.
    journal_started = {t for t, s in left.items() if s not in ("pending", "queued")}
    monkeypatch.setenv("RUNS_FILE", str(runs))
    monkeypatch.setenv("SKILLEXEC_TRUSTED_SKILLS", TRUSTED)

    async def resume() -> tuple[Any, dict[str, TaskStatus]]:
        cfg = EngineConfig(skills_dir=skills, data_dir=data, journal_url=pg_url)
        async with SkillExecutionEngine(config=cfg) as engine:
            return engine.recovery, {t: (await engine.wait(t, timeout=30)).status
                                     for t in ids["again"] + ids["once"]}

    recovery, statuses = arun(resume())
    assert recovery.resumed and not recovery.left
    assert set(recovery.resumed) | set(recovery.interrupted) == unfinished
    once = set(ids["once"])
    # At most once: the journal held each start of a non-idempotent task before it ran.
    assert started_before & once & unfinished <= journal_started
    assert set(recovery.interrupted) == journal_started & once
    assert len(statuses) == 24 and all(s.terminal for s in statuses.values())
    assert all(statuses[t] is TaskStatus.SUCCEEDED for t in ids["again"])
    for t in once & unfinished:  # one that had started is not run again
        assert statuses[t] is (TaskStatus.FAILED if t in journal_started
                               else TaskStatus.SUCCEEDED)
    for t in ids["once"]:
        assert runs.read_text().split().count(t) <= 1


def test_two_engines_share_one_database(tmp_path: Path, pg_url: str) -> None:
    async def go() -> tuple[Any, ...]:
        a = SkillExecutionEngine(config=_config(tmp_path, pg_url, "a"))
        b = SkillExecutionEngine(config=_config(tmp_path, pg_url, "b"))
        async with a, b:
            for e in (a, b):
                e.register(echo)
            ids = [await a.submit("echo", {"text": f"a{i}"}) for i in range(5)]
            ids += [await b.submit("echo", {"text": f"b{i}"}) for i in range(5)]
            # Each sees the other's tasks, and hears of their ends.
            from_b = [await b.journal.wait_finished(t, timeout_s=10) for t in ids[:5]]
            from_a = [await a.journal.wait_finished(t, timeout_s=10) for t in ids[5:]]
            listed = {i.task_id for i in await a.journal.list_tasks(limit=100)}
            assert a.journal is not None and b.journal is not None
            return ids, from_b, from_a, listed

    ids, from_b, from_a, listed = arun(go())
    assert listed == set(ids)
    assert [i.result.output for i in from_b] == [f"a{n}" for n in range(5)]
    assert [i.result.output for i in from_a] == [f"b{n}" for n in range(5)]


def test_an_engine_restarting_leaves_another_live_nodes_tasks_alone(
        tmp_path: Path, pg_url: str) -> None:
    @skill(id="slow", timeout=10)
    async def slow() -> str:
        await asyncio.sleep(1.0)
        return "done by a"

    async def go() -> tuple[Any, Any]:
        a = SkillExecutionEngine(config=_config(tmp_path, pg_url, "a"))
        async with a:
            a.register(slow)
            tid = await a.submit("slow", {})
            await asyncio.sleep(0.2)
            async with SkillExecutionEngine(config=_config(tmp_path, pg_url, "b")) as b:
                recovered = b.recovery
            return recovered, await a.wait(tid, timeout=10)

    recovered, res = arun(go())
    assert not recovered.resumed and not recovered.interrupted
    assert res.output == "done by a"


def test_doctor_checks_the_database(tmp_path: Path, pg_url: str) -> None:
    arun(_open_once(pg_url))
    out = _cli("doctor", "--json", "--journal-url", pg_url)
    assert out.returncode == 0, out.stderr
    rows = {r["mechanism"]: r for r in json.loads(out.stdout) if r["section"] == "journal"}
    assert rows["database reachable"]["available"] is True
    assert rows["server version"]["detail"].startswith("PostgreSQL ")
    assert rows["journal schema"]["available"] is True
    assert rows["journal schema"]["detail"].startswith("version ")
    down = _cli("doctor", "--json", "--journal-url", "postgresql://u:s3cret@127.0.0.1:1/x")
    assert down.returncode == 1 and "s3cret" not in down.stdout
    [row] = [r for r in json.loads(down.stdout) if r["section"] == "journal"]
    assert row["available"] is False and "Connection refused" in row["detail"]


async def _open_once(url: str) -> None:
    store = PostgresStore(url)
    await store.open()
    await store.close()


def test_a_node_older_than_the_journals_schema_refuses_it(tmp_path: Path) -> None:
    """A newer skillexec migrated the journal: an older one ran on tables it did not know
    (the migrations past its own were skipped silently); it now says so and stops."""
    from tests._distributed import database

    for url in database():
        first = _cli("tasks", "list", "--journal-url", url)  # makes the tables
        assert first.returncode == 0, first.stderr
        newer = postgres_schema.latest() + 1
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO schema_version(version, name, applied_at)"
                         " VALUES (%s, 'from a newer skillexec', 0)", (newer,))
        out = _cli("tasks", "list", "--journal-url", url)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert out.stderr.startswith(f"skillexec: the journal's schema is version {newer}")
        assert "upgrade" in out.stderr
        doctor = _cli("doctor", "--json", "--journal-url", url)
        rows = {r["mechanism"]: r for r in json.loads(doctor.stdout)
                if r["section"] == "journal"}
        assert rows["journal schema"]["available"] is False, rows
        assert "newer than this skillexec" in rows["journal schema"]["detail"]
