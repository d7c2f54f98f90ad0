"""One data directory, two journals (its own file, and one named by ``journal.url``): each
journal's audit chain is checked against the checkpoints signed for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from skillexec import SkillExecutionEngine, skill
from skillexec.config import load_config
from tests.conftest import ROOT, arun


@skill(id="ping", timeout=5)
def ping() -> str:
    return "pong"


def _run(data: Path, journal_url: str | None) -> None:
    async def go() -> None:
        cfg = load_config(data_dir=data, **({"journal_url": journal_url} if journal_url
                                           else {}))
        async with SkillExecutionEngine(config=cfg) as engine:
            engine.register(ping)
            assert (await engine.execute("ping")).ok

    arun(go())


def _verify(data: Path, journal_url: str | None) -> subprocess.CompletedProcess[str]:
    extra = ["--journal-url", journal_url] if journal_url else []
    return subprocess.run(
        [sys.executable, "-m", "skillexec", "audit", "verify", "--data-dir", str(data),
         *extra], env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, text=True,
        capture_output=True, timeout=60, check=False)


def test_a_second_journal_s_checkpoints_do_not_damage_the_first(tmp_path: Path) -> None:
    """Both chains' checkpoints went to one file: each journal then failed verification
    ('damaged at record 1 (rewritten)'), a tamper alarm for a journal nobody touched (a
    user trying distributed mode with --journal-url from their usual folder)."""
    data, other = tmp_path / "d", f"sqlite:///{tmp_path / 'other.db'}"
    _run(data, None)
    _run(data, other)
    _run(data, None)
    for url in (None, other):
        out = _verify(data, url)
        assert out.returncode == 0, (url, out.stdout, out.stderr)
        assert "intact" in out.stdout, out.stdout
