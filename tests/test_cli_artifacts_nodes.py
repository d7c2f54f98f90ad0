"""``artifacts get`` on a node that did not run the task (a shared journal): says where
the bytes are, not only that a file is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from skillexec import SkillContext, SkillExecutionEngine, skill
from skillexec.config import load_config
from tests.conftest import ROOT, arun


@skill(id="maker", timeout=5)
def maker(context: SkillContext) -> str:
    context.save_artifact("out.txt", b"bytes", "text/plain")
    return "made"


def test_an_artifact_of_another_node_says_where_it_is(tmp_path: Path, pg_url: str) -> None:
    async def go() -> str:
        cfg = load_config(data_dir=tmp_path / "node-a", journal_url=pg_url)
        async with SkillExecutionEngine(config=cfg) as engine:
            engine.register(maker)
            result = await engine.execute("maker")
            assert result.ok
            return result.artifacts[0].id

    artifact_id = arun(go())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def get(node: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "skillexec", "artifacts", "get", artifact_id,
             "--data-dir", str(tmp_path / node), "--journal-url", pg_url], env=env,
            capture_output=True, timeout=60, check=False)

    here = get("node-a")
    assert here.returncode == 0 and here.stdout == b"bytes", here.stderr
    there = get("node-b")
    assert there.returncode == 2, there.stderr
    err = there.stderr.decode()
    assert "Traceback" not in err and "node that ran" in err and "--data-dir" in err, err
