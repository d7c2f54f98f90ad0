"""A message a worker gives back because it cannot claim now (its database out of reach)
is one line in its log, not a traceback: Celery logged every such Reject with ten lines of
traceback, so a database outage filled the log with what looked like crashes of the
worker's handler. Real PostgreSQL (its connections cut), Redis and a
``skillexec worker`` process."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from skillexec.distributed.transport import Transport
from skillexec.task import new_task_id
from tests._distributed import PG_ADMIN, REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    # Sweeps far apart: the claim is the first to meet the pool's dead connection.
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="8",
                          heartbeat_s="0.5", sweep_interval_s="60", reconcile_after_s="60")


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(sql)


def test_a_message_given_back_for_a_database_out_of_reach_is_one_line(
        cluster: Cluster) -> None:
    c = cluster
    name = urlparse(c.env["SKILLEXEC_DISTRIBUTED__DATABASE_URL"]).path.lstrip("/")
    c.start_worker(1)
    c.wait_consuming()
    log = c.root / "worker0.log"
    # Every connection of the worker's cut (a failover, an operator's kill): its claim
    # fails on the dead one and the message goes back.
    _admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
           f"'{name}'")
    publisher = Transport(REDIS, c.queue)
    try:
        publisher.publish(new_task_id(), priority=5)
    finally:
        publisher.close()
    wait_until(lambda: "reject requeue=True" in log.read_text(errors="replace"), 30,
               "the message given back")
    time.sleep(0.5)
    c.stop()
    text = log.read_text(errors="replace")
    rejects = [line for line in text.splitlines() if "reject requeue=True" in line]
    assert all(line.endswith("reject requeue=True: this worker cannot claim now")
               for line in rejects), rejects
    assert "Traceback" not in text and "celery.exceptions.Reject" not in text, text[-4000:]
