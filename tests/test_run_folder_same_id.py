"""``skillexec run FOLDER`` beside a skills folder holding another skill of the same id and
version ran the other's code: the engine had warmed that skill's parent at start, and the
folder's skill, registered under the same id, was served by it. A warm parent serves only
the folder its code came from."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests._isolation import need_sandbox


def test_run_of_a_folder_runs_that_folders_code(tmp_path: Path) -> None:
    need_sandbox()
    for where, says in (("skills/adder", "A"), ("other/adder", "B")):
        (tmp_path / where).mkdir(parents=True)
        (tmp_path / where / "skill.json").write_text(
            '{"id": "adder", "version": "1.0.0", "entry_point": "main:execute"}')
        (tmp_path / where / "main.py").write_text(
            f"def execute(input_data):\n    return {says!r}\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skills (tmp_path is 0700)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")}
    out = {}
    for skill in ("./other/adder", "adder"):
        p = subprocess.run([sys.executable, "-m", "skillexec", "run", skill, "--json"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr
        out[skill] = json.loads(p.stdout)["output"]
    assert out == {"./other/adder": "B", "adder": "A"}
