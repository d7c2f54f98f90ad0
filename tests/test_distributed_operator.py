"""What an operator meets running distributed mode: a queue name the broker cannot take, a
database or broker that refuses, a client whose copy of a skill differs from the worker's.
Each was found by running the README's distributed section across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from tests._distributed import AMQP, REDIS, Cluster, cluster, database, need


def _skillexec(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], capture_output=True,
                          text=True, timeout=timeout_s)


@pytest.mark.parametrize("name", ["a b", "ü", "x/y", "q" * 300])
def test_a_worker_refuses_a_queue_name_the_broker_cannot_take(name: str) -> None:
    """--queues took any text, which distributed.queue refuses: 'a b' was consumed from
    under that name, and on RabbitMQ a name over 255 bytes ended the worker with a
    struct.error traceback and exit 0."""
    done = _skillexec("worker", "--broker-url", "redis://127.0.0.1:1/0", "--database-url",
                      "postgresql://postgres@127.0.0.1:1/none", "--queues", f"ok,{name}",
                      timeout_s=30)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert line.startswith("skillexec: --queues: "), line
    assert "\n" not in line and "Traceback" not in line
    assert repr(name)[:40] in line


@pytest.fixture
def db() -> Iterator[str]:
    yield from database()


def _distributed_rows(done: subprocess.CompletedProcess[str]) -> dict[str, dict[str, object]]:
    return {r["mechanism"]: r for r in json.loads(done.stdout) if r["section"] == "distributed"}


def test_a_database_that_refuses_is_named_with_its_reason(db: str) -> None:
    """'the distributed ledger (PostgreSQL) is unavailable: pool initialization incomplete
    after 10.0 sec', whether the database did not exist, the role was unknown or the URL
    was malformed: the reason was only in the pool's log lines."""
    base = db.rsplit("/", 1)[0]
    for url, why in ((f"{base}/skx_no_such_database", "does not exist"),
                     (db.replace("postgres@", "skx_no_such_role@"), "skx_no_such_role"),
                     ("postgresql://x@[::1/d", "not a valid PostgreSQL URL")):
        done = _skillexec("doctor", "--json", "--database-url", url)
        assert done.returncode == 1, done.stderr
        detail = str(_distributed_rows(done)["database"]["detail"])
        assert why in detail and "pool initialization" not in detail, detail
    done = _skillexec("worker", "--broker-url", REDIS, "--database-url",
                      f"{base}/skx_no_such_database", "--journal-url", db)
    assert done.returncode != 0
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("skillexec: ") and "does not exist" in line, done.stderr


def test_a_broker_that_refuses_the_login_ends_the_worker_with_an_error(db: str) -> None:
    """A RabbitMQ login refused: Celery's 'Unrecoverable error' with its traceback, and the
    worker exited 0, as after a clean shutdown (a supervisor would not restart it)."""
    need(AMQP)
    bad = AMQP.replace("guest:guest@", "guest:skx-wrong-password@")
    done = _skillexec("worker", "--broker-url", bad, "--database-url", db)
    assert done.returncode != 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("skillexec: ") and "broker" in line, done.stderr
    assert "ACCESS_REFUSED" in line and "guest:skx-wrong-password" not in done.stderr


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster(tmp_path, monkeypatch, REDIS, pg_journal=True)


def test_a_worker_validates_the_parameters_with_its_own_copy_of_the_skill(
        lab: Cluster, tmp_path: Path) -> None:
    """The worker ran what the client's copy accepted: a client whose manifest let ``n``
    be a string (or left it out) got the worker's skill called with it, though the worker's
    manifest requires an integer; the skill's code met input its schema refuses."""
    client_skills = tmp_path / "client-skills"
    (client_skills / "once").mkdir(parents=True)
    (client_skills / "once" / "main.py").write_text((lab.skills / "once" / "main.py").read_text())
    lax = json.loads((lab.skills / "once" / "skill.json").read_text())
    lax["parameters_schema"]["n"] = {"type": "string", "required": False}
    (client_skills / "once" / "skill.json").write_text(json.dumps(lax))
    lab.start_worker()
    lab.wait_consuming()

    async def call() -> list[object]:
        cfg = EngineConfig(skills_dir=client_skills, data_dir=tmp_path / "client")
        async with SkillExecutionEngine(config=cfg) as engine:
            bad = await engine.execute("once", {"n": "seven"})
            good = await engine.execute("once", {"n": "7"})  # coerced by the worker's copy
            return [bad, good]

    from tests.conftest import arun

    bad, good = arun(call())
    assert bad.error is not None and bad.error.code == "invalid_parameters", bad  # type: ignore[attr-defined]
    assert good.output == {"n": 7}, good  # type: ignore[attr-defined]
    assert len(lab.run_counts()) == 1, lab.logs()  # the refused call never reached the skill


def test_a_worker_whose_journal_database_is_missing_says_so_last(db: str) -> None:
    """The sentence was followed by asyncio's 'Task was destroyed but it is pending!' for
    the ledger's pool, opened before the journal failed and never closed."""
    base = db.rsplit("/", 1)[0]
    done = _skillexec("worker", "--broker-url", REDIS, "--database-url", db,
                      "--journal-url", f"{base}/skx_no_such_journal")
    assert done.returncode == 2, done.stderr
    assert "Task was destroyed" not in done.stderr, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("skillexec: ") and "does not exist" in line, done.stderr


def test_following_a_task_a_worker_runs_ends_with_its_end(lab: Cluster, tmp_path: Path) -> None:
    """``engine.events(id)`` (the service's event stream and WebSocket) of a task run by a
    worker gave what the journal said at the start, then nothing: no event of another
    node's task comes to this node's bus, so the stream never ended."""
    import asyncio

    lab.start_worker()
    lab.wait_consuming()

    async def follow() -> list[str]:
        cfg = EngineConfig(skills_dir=lab.skills, data_dir=tmp_path / "client")
        async with SkillExecutionEngine(config=cfg) as engine:
            task_id = await engine.submit("again", {"n": 1, "seconds": 0.5})

            async def statuses() -> list[str]:
                return [str(e.status.value) async for e in engine.events(task_id)
                        if e.status is not None]

            # Generous: the task takes 0.5 s; the old code waited here forever.
            return await asyncio.wait_for(statuses(), timeout=60)

    from tests.conftest import arun

    seen = arun(follow())
    assert seen[-1] == "succeeded", seen
    assert lab.run_counts(), lab.logs()


class _Proxy:
    """A TCP proxy to PostgreSQL that refuses (accepts and closes) until ``up``."""

    def __init__(self, target: tuple[str, int]) -> None:
        import socket
        import threading

        self.target = target
        self.up = False
        self.refused = 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                self.refused += 1
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: object, b: object) -> None:
        import socket

        assert isinstance(a, socket.socket) and isinstance(b, socket.socket)
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            b.close()


def test_a_worker_started_while_its_database_is_unreachable_starts_when_it_answers(
        lab: Cluster, tmp_path: Path) -> None:
    """The ledger's opening tries for 10 s (as its pool did) before it names the refusal."""
    from urllib.parse import urlparse

    from tests._distributed import wait_until

    url = lab.env["SKILLEXEC_DISTRIBUTED__DATABASE_URL"]
    u = urlparse(url)
    proxy = _Proxy((u.hostname or "127.0.0.1", u.port or 5432))
    proxied = u._replace(netloc=f"{u.username}@127.0.0.1:{proxy.port}").geturl()
    lab.env["SKILLEXEC_DISTRIBUTED__DATABASE_URL"] = lab.env["SKILLEXEC_JOURNAL__URL"] = proxied
    worker = lab.start_worker()
    wait_until(lambda: proxy.refused >= 2, 30, "the worker trying its database")
    proxy.up = True
    lab.wait_consuming()
    assert worker.poll() is None, lab.logs()

    async def call() -> object:
        cfg = EngineConfig(skills_dir=lab.skills, data_dir=tmp_path / "client")
        async with SkillExecutionEngine(config=cfg) as engine:
            return await engine.execute("again", {"n": 3})

    from tests.conftest import arun

    assert arun(call()).output == {"n": 3}  # type: ignore[attr-defined]


@pytest.fixture
def backlog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    # The reconciler out of the way: it published a queued task again after 30 s, and the
    # worker that claimed it then saw its cancellation; nothing else ended it before.
    yield from cluster(tmp_path, monkeypatch, REDIS, pg_journal=True,
                       reconcile_after_s="3600", shutdown_grace_s="0")


def test_a_queued_task_cancelled_from_another_node_ends_while_workers_are_busy(
        backlog: Cluster, tmp_path: Path) -> None:
    """``tasks cancel`` said 'cancelled', and the task stayed ``queued`` behind a busy
    worker until a worker claimed it (its turn, or the reconciler's publish 30 s on)."""
    import asyncio

    backlog.start_worker(1)
    backlog.wait_consuming()

    async def call() -> tuple[str, int]:
        cfg = EngineConfig(skills_dir=backlog.skills, data_dir=tmp_path / "client")
        async with SkillExecutionEngine(config=cfg) as engine:
            ids = []
            for n in range(8):  # one message each: more than the worker's prefetch holds
                ids.append(await engine.submit("again", {"n": n, "seconds": 300}))
            last = ids[-1]
            assert await engine.cancel(last)
            ended = await engine.wait(last, timeout=60)
            for task_id in ids[:-1]:
                await engine.cancel(task_id)
            await asyncio.gather(*(engine.wait(t, timeout=60) for t in ids[:-1]))
            return ended.status.value, ended.attempts

    from tests.conftest import arun

    status, attempts = arun(call())
    assert (status, attempts) == ("cancelled", 0), backlog.logs()
