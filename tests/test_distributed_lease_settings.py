"""Lease renewals sparser than half a lease are refused where the settings are read: a
worker fences itself after half a lease without a renewal, and the reaper takes back what
was not renewed for a lease, so ``heartbeat_s >= lease_s / 2`` ended healthy runs
``interrupted`` (or ran them again) while every part of skillexec accepted it silently.
The worker itself (a real ``skillexec worker`` on real PostgreSQL and Redis) says so in
one sentence and exits 2."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import ConfigError
from skillexec.config import load_config
from tests._distributed import REDIS, Cluster
from tests._distributed import cluster as cluster_of


@pytest.mark.parametrize(("lease", "heartbeat"), [("2", "5"), ("4", "2"), ("15", "7.5")])
def test_renewals_sparser_than_half_a_lease_are_refused(
        lease: str, heartbeat: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLEXEC_DISTRIBUTED__LEASE_S", lease)
    monkeypatch.setenv("SKILLEXEC_DISTRIBUTED__HEARTBEAT_S", heartbeat)
    with pytest.raises(ConfigError) as info:
        load_config()
    message = str(info.value)
    assert "heartbeat_s" in message and "lease_s" in message, message
    assert f"({heartbeat})" in message and f"({lease})" in message, message


def test_a_configuration_file_is_held_to_it_too(tmp_path: Path) -> None:
    (tmp_path / "skillexec.toml").write_text("[distributed]\nlease_s = 3\nheartbeat_s = 2\n")
    with pytest.raises(ConfigError, match=r"heartbeat_s \(2\) must be under half of "
                                          r"lease_s \(3\)"):
        load_config()


def test_the_defaults_and_tight_but_sound_settings_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config()
    assert cfg.distributed.heartbeat_s < cfg.distributed.lease_s / 2
    monkeypatch.setenv("SKILLEXEC_DISTRIBUTED__LEASE_S", "2")
    monkeypatch.setenv("SKILLEXEC_DISTRIBUTED__HEARTBEAT_S", "0.5")
    assert load_config().distributed.lease_s == 2.0


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    yield from cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="2",
                          heartbeat_s="5")


def test_a_worker_given_them_says_so_and_exits(cluster: Cluster) -> None:
    c = cluster
    try:
        done = subprocess.run(
            [sys.executable, "-m", "skillexec", "worker", "--skills-dir", str(c.skills),
             "--data-dir", str(c.data), "-c", "1"],
            env=c.env, capture_output=True, text=True, timeout=20, cwd=c.root, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("the worker started on leases that run out between renewals")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "skillexec: invalid setting distributed: heartbeat_s (5) must be under half of "
        "lease_s (2): leases would run out between renewals"], done.stderr
