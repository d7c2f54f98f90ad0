"""The README's main job: the bundled examples through `skillexec batch`, as scripts/demo.sh
runs them. Three calls are wrong on purpose; with --keep-going the command still exits 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from tests.conftest import ROOT


def test_the_demo_batch_runs_every_example(tmp_path: Path) -> None:
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    assert "--keep-going" in demo  # the script runs the command tested here
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, "-m", "skillexec", "batch", "examples/batch.jsonl",
                        "--skills-dir", "examples/skills", "--data-dir", str(tmp_path / "d"),
                        "--keep-going", "--json"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert Counter(row["status"] for row in rows) == {"succeeded": 33, "rejected": 2,
                                                      "failed": 1}
