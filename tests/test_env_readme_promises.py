"""What the README's "Skill environments" promises, held to.

- A script whose PEP 723 block asks for another Python, and that fails saying nothing (a
  bare exit 1) or saying so in its own words ("needs Python 3.99"), has what it asked for
  in its failure (``details.requires_python``): only a traceback of an older Python's
  syntax or library got it.
- A PEP 723 block that is not TOML is refused naming the script's line.
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
from tests._isolation import need_sandbox
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(180)

HEADER = '# /// script\n# requires-python = ">=3.99"\n# dependencies = []\n# ///\n'


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


def test_a_script_for_another_python_says_so_when_it_fails_silently(tmp_path: Path) -> None:
    need_sandbox()
    top = agent_skill(tmp_path, "pyver", {
        "scripts/quiet.py": HEADER + "raise SystemExit(1)\n",
        "scripts/says.py": HEADER + "import sys\nsys.exit('this tool needs Python 3.99')\n",
        "scripts/own.py": HEADER + "import sys\nsys.exit('missing: in.txt')\n"})

    async def go() -> None:
        async with SkillExecutionEngine(skills_dir=top, data_dir=tmp_path / "data") as e:
            for script in ("quiet", "says"):
                r = await e.run_script("pyver", f"scripts/{script}.py")
                assert r.error is not None and r.error.code == "script_exit", r.error
                assert r.error.details.get("requires_python", "").startswith(
                    "asks for Python >=3.99"), (script, r.error)  # was: not said
                assert "(the script asks for Python >=3.99" in r.error.message
            own = await e.run_script("pyver", "scripts/own.py")  # its own cause: not said
            assert own.error is not None and "requires_python" not in own.error.details

    arun(go())


def test_a_pep723_block_that_is_not_toml_is_named_by_its_line(tmp_path: Path) -> None:
    scripts = {  # the block runs from line 2; its unfinished list ends with it, on line 4
        "use.py": ("#!/usr/bin/env python3\n# /// script\n# requires-python = '>=3.8'\n"
                   "# dependencies = ['x',\n# ///\nprint(1)\n"),
        "mid.py": "# /// script\n# a = 1\n# b = = 2\n# ///\n"}
    for script, line in (("use.py", 4), ("mid.py", 3)):
        top = agent_skill(tmp_path / script, "bad", {f"scripts/{script}": scripts[script]})
        r = cli("skills", "validate", str(top / "bad"), "--json", cwd=tmp_path)
        [found] = json.loads(r.stdout)
        assert f"scripts/{script}: line {line}: its # /// script block is not valid TOML" \
            in " ".join(found["errors"]), (script, found["errors"])  # was: no line


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
