"""Distributed mode: artifact records pruned (or purged) on another node no longer leave
their files on the worker that ran the task forever: the worker removes the files of its
data folder that no record names. Real PostgreSQL, Redis and ``skillexec worker``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine, TaskStatus
from tests._distributed import REDIS, Cluster, wait_until
from tests._distributed import cluster as cluster_of
from tests.conftest import arun

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

SAVER = """
async def execute(input_data, context):
    return {"artifact": context.save_artifact("note.txt", input_data["text"], "text/plain")}
"""
MANIFEST = """{"id": "saver", "version": "1.0.0", "entry_point": "main:execute",
 "parameters_schema": {"text": {"type": "string", "required": true}},
 "execution": {"idempotent": true, "isolation": "inline", "timeout": 60}}"""


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cluster]:
    # The worker looks at its files every ten reconcile bounds: here 10 s.
    for c in cluster_of(tmp_path, monkeypatch, REDIS, pg_journal=True, lease_s="5",
                        heartbeat_s="0.5", sweep_interval_s="0.5", reconcile_after_s="1"):
        (c.skills / "saver").mkdir()
        (c.skills / "saver" / "main.py").write_text(SAVER)
        (c.skills / "saver" / "skill.json").write_text(MANIFEST)
        c.env["SKILLEXEC_ISOLATION__TRUSTED_SKILLS"] = '["saver"]'
        c.apply_env(monkeypatch)
        yield c


def _holding(root: Path, secret: str) -> list[Path]:
    return [f for f in root.rglob("*") if f.is_file() and secret.encode() in f.read_bytes()]


def test_a_file_whose_record_another_node_pruned_is_removed_by_its_worker(
        cluster: Cluster) -> None:
    c = cluster
    c.start_worker(1)
    secret = f"secret-{uuid.uuid4().hex}"
    kept = f"kept-{uuid.uuid4().hex}"

    async def go() -> tuple[int, int]:
        # Another node: its own data folder, where none of the files are.
        async with SkillExecutionEngine(skills_dir=c.skills,
                                        data_dir=c.root / "submitter") as engine:
            first = await engine.execute("saver", {"text": secret})
            assert first.status is TaskStatus.SUCCEEDED, (first.error, c.logs())
            assert _holding(c.data / "artifacts", secret)
            pruned = await engine.artifacts.prune(older_than_s=0)
            second = await engine.execute("saver", {"text": kept})  # named: stays
            assert second.status is TaskStatus.SUCCEEDED, (second.error, c.logs())
            await asyncio.to_thread(
                wait_until, lambda: not _holding(c.data / "artifacts", secret), 60,
                "the worker removing the file no record names")
            return pruned.records, pruned.files

    assert arun(go()) == (1, 0)  # the records went; the files were not on that node
    assert _holding(c.data / "artifacts", kept)
    assert "artifact files" in c.logs() and "no record names" in c.logs()
