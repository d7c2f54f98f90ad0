"""``skillexec doctor`` checks the broker and the database of distributed mode; ``skillexec
worker`` refuses to start without them, in one sentence."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest

from skillexec.distributed.ledger import MIGRATIONS, Ledger
from tests._distributed import REDIS, database
from tests.conftest import arun


def _skillexec(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], capture_output=True,
                          text=True, timeout=60, env=env)


@pytest.fixture
def db() -> Iterator[str]:
    yield from database(REDIS)


def test_doctor_says_the_broker_and_database_answer(db: str) -> None:
    done = _skillexec("doctor", "--json", "--broker-url", REDIS, "--database-url", db)
    assert done.returncode == 0, done.stderr
    rows = {r["mechanism"]: r for r in json.loads(done.stdout) if r["section"] == "distributed"}
    assert rows["broker"]["available"] and rows["database"]["available"]
    assert "no ledger tables yet" in rows["database"]["detail"]
    # A check changes nothing in the database it looks at: a worker makes the tables.
    assert _tables(db) == []
    arun(_migrated(db))
    done = _skillexec("doctor", "--json", "--database-url", db)
    rows = {r["mechanism"]: r for r in json.loads(done.stdout) if r["section"] == "distributed"}
    assert rows["database"]["available"], rows
    assert f"schema version {len(MIGRATIONS)} of {len(MIGRATIONS)}" in rows["database"]["detail"]


def _tables(url: str) -> list[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'skillexec%'").fetchall()]


async def _migrated(url: str) -> None:
    ledger = Ledger(url, worker_id="test", lease_s=1.0, pool_size=1)
    await ledger.open()  # as a worker starting does: the tables made
    await ledger.close()


def test_doctor_says_which_one_does_not_answer() -> None:
    done = _skillexec("doctor", "--json", "--broker-url", "redis://127.0.0.1:1/0",
                      "--database-url", "postgresql://postgres@127.0.0.1:1/none")
    assert done.returncode == 1, done.stderr
    rows = {r["mechanism"]: r for r in json.loads(done.stdout) if r["section"] == "distributed"}
    assert not rows["broker"]["available"] and not rows["database"]["available"]
    assert "Traceback" not in done.stderr


def test_doctor_without_a_broker_has_no_distributed_rows() -> None:
    done = _skillexec("doctor", "--json")
    assert not [r for r in json.loads(done.stdout) if r["section"] == "distributed"]


def test_doctor_checks_a_database_given_without_a_broker(db: str) -> None:
    """--database-url alone is checked, not silently ignored."""
    done = _skillexec("doctor", "--json", "--database-url", db)
    assert done.returncode == 0, done.stderr
    rows = {r["mechanism"]: r for r in json.loads(done.stdout) if r["section"] == "distributed"}
    assert set(rows) == {"database"} and rows["database"]["available"]
    down = _skillexec("doctor", "--json", "--database-url", "postgresql://postgres@127.0.0.1:1/x")
    assert down.returncode == 1, down.stderr
    rows = {r["mechanism"]: r for r in json.loads(down.stdout) if r["section"] == "distributed"}
    assert not rows["database"]["available"] and "Traceback" not in down.stderr


def test_worker_without_a_broker_or_database_refuses_in_one_sentence(tmp_path: object) -> None:
    done = _skillexec("worker")
    assert done.returncode == 2
    assert done.stderr.strip() == ("skillexec: a worker needs a broker: --broker-url or "
                                   "SKILLEXEC_BROKER_URL")
    done = _skillexec("worker", "--broker-url", "redis://127.0.0.1:6379/0")
    assert done.returncode == 2 and "distributed.database_url" in done.stderr
    assert "Traceback" not in done.stderr
    done = _skillexec("worker", "--broker-url", "http://x")
    assert done.returncode == 2 and "broker_url" in done.stderr, done.stderr


def test_a_worker_s_bad_log_level_is_refused_before_it_starts(db: str) -> None:
    """It was Celery's to refuse, after the node had started: 'internal error:
    BadParameter: ...', exit 1."""
    done = _skillexec("worker", "--broker-url", REDIS, "--database-url", db,
                      "--loglevel", "bogus")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("skillexec: --loglevel bogus:"), done.stderr
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert "warning" in done.stderr.lower()


def test_a_worker_s_metrics_port_in_use_is_named(db: str) -> None:
    """'skillexec: Address already in use' named neither the option nor the port (and came
    after the node had registered)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _skillexec("worker", "--broker-url", REDIS, "--database-url", db,
                          "--metrics-port", str(port), "--loglevel", "info")
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"skillexec: --metrics-port {port}:"), done.stderr
    assert f"127.0.0.1:{port}" in line and "in use" in line


def test_a_worker_older_than_the_ledgers_schema_refuses_to_start(db: str) -> None:
    """A node running an older skillexec than the one that last migrated the ledger: it ran
    on what it did not know (the migrations past its own were skipped silently)."""
    import psycopg

    arun(_migrated(db))
    newer = len(MIGRATIONS) + 1
    with psycopg.connect(db, autocommit=True) as conn:
        conn.execute("INSERT INTO skillexec_ledger_version(version) VALUES (%s)", (newer,))
    done = _skillexec("worker", "--broker-url", REDIS, "--database-url", db)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert f"schema is version {newer}" in line and "upgrade" in line, done.stderr
    assert "Traceback" not in done.stderr
    doctor = _skillexec("doctor", "--json", "--database-url", db)
    rows = {r["mechanism"]: r for r in json.loads(doctor.stdout)
            if r["section"] == "distributed"}
    assert rows["database"]["available"] is False, rows
    assert "newer than this skillexec" in rows["database"]["detail"]
