"""Shared by tests/test_distributed*.py: the real services, a database and a queue per
test, skills that log each run, and ``skillexec worker`` processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

PG_ADMIN = os.environ.get("SKILLEXEC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("SKILLEXEC_TEST_REDIS", "redis://127.0.0.1:6379/0")
AMQP = os.environ.get("SKILLEXEC_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672//")

SKILL = """
import asyncio, os
async def execute(input_data, context):
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(f"{context.task_id} {os.getpid()}\\n")
    await asyncio.sleep(input_data["seconds"])
    return {"n": input_data["n"]}
"""
MANIFEST = """{{"id": "{id}", "version": "1.0.0", "entry_point": "main:execute",
 "parameters_schema": {{"n": {{"type": "integer", "required": true}},
                        "seconds": {{"type": "number", "default": 0}}}},
 "execution": {{"idempotent": {idem}, "isolation": "inline", "timeout": 120}}}}"""


def _answers(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 0), timeout=1):
            return True
    except OSError:
        return False


def need(*urls: str) -> None:
    """Skip (or fail, with SKILLEXEC_REQUIRE_SERVICES=1) when a service does not answer."""
    missing = [u.split("@")[-1] for u in urls if not _answers(u)]
    if missing:
        reason = f"services not running here: {', '.join(missing)}"
        if os.environ.get("SKILLEXEC_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)


def fresh_database() -> str:
    """A database of its own for one test; its URL."""
    import psycopg

    name = f"skx_dist_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    u = urlparse(PG_ADMIN)
    return u._replace(path=f"/{name}").geturl()


def database(*services: str) -> Iterator[str]:
    """A database of its own for one test, dropped after it (the body of a fixture:
    ``yield from database(...)``); PostgreSQL and ``services`` checked first."""
    need(PG_ADMIN, *services)
    url = fresh_database()
    try:
        yield url
    finally:
        drop_database(url)


def drop_database(url: str) -> None:
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class Cluster:
    """Skills, a data folder, env for one distributed test; workers started on demand."""

    def __init__(self, root: Path, broker: str, database_url: str, **settings: str) -> None:
        self.root = root
        self.skills = root / "skills"
        self.data = root / "data"
        self.runs = root / "runs.txt"
        self.runs.touch()
        for sid, idem in (("again", "true"), ("once", "false")):
            (self.skills / sid).mkdir(parents=True)
            (self.skills / sid / "main.py").write_text(SKILL)
            (self.skills / sid / "skill.json").write_text(MANIFEST.format(id=sid, idem=idem))
        self.queue = f"skx-{uuid.uuid4().hex[:10]}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")},
            "SKILLEXEC_BROKER_URL": broker,
            "SKILLEXEC_DISTRIBUTED__DATABASE_URL": database_url,
            "SKILLEXEC_DISTRIBUTED__QUEUE": self.queue,
            "SKILLEXEC_ISOLATION__TRUSTED_SKILLS": '["again", "once"]',
            "RUNS_FILE": str(self.runs),
            **{f"SKILLEXEC_DISTRIBUTED__{k.upper()}": v for k, v in settings.items()},
        }
        self.workers: list[subprocess.Popen[bytes]] = []

    def apply_env(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for k, v in self.env.items():
            if k.startswith("SKILLEXEC_") or k == "RUNS_FILE":
                monkeypatch.setenv(k, v)

    def start_worker(self, concurrency: int = 2, *extra: str,
                     skills_dir: Path | None = None) -> subprocess.Popen[bytes]:
        log = open(self.root / f"worker{len(self.workers)}.log", "wb")  # noqa: SIM115
        skills = self.skills if skills_dir is None else skills_dir
        p = subprocess.Popen(
            [sys.executable, "-m", "skillexec", "worker", "--skills-dir", str(skills),
             "--data-dir", str(self.data), "-c", str(concurrency), *extra],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        self.workers.append(p)
        return p

    def wait_consuming(self, timeout_s: float = 60) -> None:
        """Until every worker started answers a Celery ping: its consumer runs (Celery
        starts remote control after the task consumer, and answers on the same loop). A
        worker registered in the ledger may not consume yet, and the tasks a test submits
        then all go to the first worker up."""
        from skillexec.distributed.transport import celery_app

        want = {str(p.pid) for p in self.workers}
        app = celery_app(self.env["SKILLEXEC_BROKER_URL"], [self.queue])

        def answered() -> bool:
            # Every test's workers share the broker: ours are named skillexec.<pid>@host.
            names = {name for reply in app.control.ping(timeout=0.5) for name in reply}
            return want <= {n.split("@")[0].removeprefix("skillexec.") for n in names}

        try:
            wait_until(answered, timeout_s, f"{len(want)} workers consuming")
        finally:
            app.close()

    def stop(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def logs(self) -> str:
        return "\n".join(f.read_text(errors="replace")[-3000:]
                         for f in sorted(self.root.glob("worker*.log")))

    def run_counts(self) -> Counter[str]:
        return Counter(line.split()[0] for line in self.runs.read_text().splitlines() if line)

    def run_pids(self) -> set[str]:
        return {line.split()[1] for line in self.runs.read_text().splitlines() if line}


def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, broker: str, *,
            pg_journal: bool = False, **settings: str) -> Iterator[Cluster]:
    """A cluster on a fresh database (dropped after), its settings in the environment;
    ``pg_journal``: the journal in the same database as the claims."""
    need(PG_ADMIN, broker)
    url = fresh_database()
    c = Cluster(tmp_path, broker, url, **settings)
    if pg_journal:
        c.env["SKILLEXEC_JOURNAL__URL"] = url
    c.apply_env(monkeypatch)
    try:
        yield c
    finally:
        c.stop()
        drop_database(url)


def lose_messages(queue: str) -> int:
    """What a Redis restart without persistence does to a queue's lists (one per priority
    step): gone; how many lists held messages."""
    import redis

    r = redis.Redis.from_url(REDIS)
    try:
        keys = r.keys(f"{queue}*")
        return int(r.delete(*keys)) if keys else 0
    finally:
        r.close()


def wait_until(predicate: object, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
