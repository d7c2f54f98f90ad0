"""``skillexec worker`` after Celery's unrecoverable error (here a corrupt entry on its
Redis list) exits non-zero, so that a supervisor restarting on failure restarts it; a
SIGTERM is still a clean stop (0). Real PostgreSQL, Redis and ``skillexec worker``."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests._distributed import REDIS, Cluster
from tests._distributed import cluster as cluster_of

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True)


def test_an_unrecoverable_error_exits_non_zero_and_sigterm_zero(cluster: Cluster) -> None:
    c = cluster
    broken, stopped = c.start_worker(1), c.start_worker(1, "--queues", f"{c.queue}-other")
    c.wait_consuming()
    r = redis.Redis.from_url(REDIS)
    try:
        r.lpush(c.queue, b"{not json at all")
    finally:
        r.close()
    assert broken.wait(timeout=90) != 0, c.logs()
    assert "Unrecoverable error" in c.logs()
    assert "the worker stopped on an error its log names above" in c.logs()
    stopped.send_signal(signal.SIGTERM)
    assert stopped.wait(timeout=60) == 0, c.logs()
