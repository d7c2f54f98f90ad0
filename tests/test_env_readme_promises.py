"""What the README's "Skill environments" promises, held to.

- A requirement URL's credentials are masked (``user:****@``) wherever the refusal is
  quoted: ``skills list``, ``skills validate``, the call's error and so the journal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(180)


def agent_skill(root: Path, sid: str, files: dict[str, str]) -> Path:
    folder = root / "skills" / sid
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {sid}\ndescription: t.\n---\nRun.\n")
    for rel, text in files.items():
        (folder / rel).write_text(text)
    os.chmod(root, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return root / "skills"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_credentials_in_a_requirement_url_are_masked(tmp_path: Path) -> None:
    top = agent_skill(tmp_path, "creds", {
        "requirements.txt": "hpkg @ https://user:s3cr3t@evil.example/hpkg-1.0-py3-none-any.whl\n",
        "scripts/use.py": "print(1)\n"})
    where = ["--skills-dir", str(top), "--data-dir", str(tmp_path / "data")]
    shown = "hpkg @ https://user:****@evil.example/hpkg-1.0-py3-none-any.whl"
    listed = cli("skills", "list", "--json", *where, cwd=tmp_path).stdout
    validated = cli("skills", "validate", str(top), "--json", cwd=tmp_path).stdout
    ran = cli("script", "creds", "scripts/use.py", "--json", *where, cwd=tmp_path).stdout
    for said in (listed, validated):
        assert "s3cr3t" not in said and shown in said, said  # was: quoted whole
    # (the call's error also goes through the engine's output filter, which names what it
    # redacted: the password is gone either way)
    assert "s3cr3t" not in ran and "https://user:" in ran, ran

    async def journal() -> str:
        async with SkillExecutionEngine(skills_dir=top, data_dir=tmp_path / "data") as e:
            tasks = await e.tasks(skill_id="creds:scripts/use.py")
            assert tasks
            return json.dumps([(await e.status(t.task_id)).to_dict() for t in tasks],
                              default=str)

    recorded = arun(journal())
    assert "s3cr3t" not in recorded and "https://user:" in recorded
