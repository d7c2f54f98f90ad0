"""A skill that names its own index or source is refused, never installed from the public one.

``--index-url``, ``--extra-index-url``, ``--find-links``, ``--trusted-host``, ``-e
git+...``, ``-c`` and a PEP 723 block's ``[tool.uv]`` index or ``[tool.uv.sources]`` were
dropped without a word: the names the author meant for a private index or a git
repository were fetched from the operator's index (dependency confusion), ``skills
validate`` said ``ok``, and ``skills check`` and the call's ``missing_module`` proposed
``skills install ID hpkg``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.task import TaskStatus
from tests._wheels import make_wheel
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(180)

FILES = {
    "r-index": {"requirements.txt": "--index-url https://evil.example/simple\nhpkg-d2==1.0\n"},
    "r-extra": {"requirements.txt": "hpkg-d2\n--extra-index-url https://x.example/simple\n"},
    "r-links": {"requirements.txt": "--find-links https://x.example/wheels\nhpkg-d2\n"},
    "r-trusted": {"requirements.txt": "--trusted-host x.example\nhpkg-d2\n"},
    "r-editable": {"requirements.txt": "# ours\n-e git+https://bob:tok3n@github.com/evil/"
                                       "hpkg-d2#egg=hpkg-d2\n"},
    "r-constraint": {"requirements.txt": "-c constraints.txt\nhpkg-d2\n",
                     "constraints.txt": "hpkg-d2==1.0\n"},
    "p-uvsrc": {"scripts/use.py": (
        "# /// script\n# dependencies = ['hpkg-d2']\n# [tool.uv]\n"
        "# index-url = 'https://private.example/simple'\n# [tool.uv.sources]\n"
        "# hpkg-d2 = { git = 'https://github.com/company/hpkg' }\n# ///\n"
        "import hpkg_d2\nprint(hpkg_d2.WHO)\n")},
    "p-uvindex": {"scripts/use.py": (
        "# /// script\n# dependencies = ['hpkg-d2']\n# [[tool.uv.index]]\n"
        "# url = 'https://private.example/simple'\n# ///\nimport hpkg_d2\n")},
}
WHERE = {"r-index": "requirements.txt: line 1", "r-extra": "requirements.txt: line 2",
         "r-links": "requirements.txt: line 1", "r-trusted": "requirements.txt: line 1",
         "r-editable": "requirements.txt: line 2", "r-constraint": "requirements.txt: line 1",
         "p-uvsrc": "scripts/use.py: # /// script: [tool.uv] index-url, [tool.uv] sources",
         "p-uvindex": "scripts/use.py: # /// script: [[tool.uv.index]]"}


def skills(root: Path) -> Path:
    top = root / "skills"
    for sid, files in FILES.items():
        folder = top / sid
        (folder / "scripts").mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: {sid}\ndescription: t.\n---\nRun.\n")
        (folder / "main.py").write_text("import hpkg_d2\ndef execute(data):\n    return 1\n")
        if "scripts/use.py" not in files:
            (folder / "scripts" / "use.py").write_text("import hpkg_d2\nprint(1)\n")
        for rel, text in files.items():
            (folder / rel).write_text(text)
    return top


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_validate_and_list_refuse_a_skill_that_names_its_own_index_or_source(
        tmp_path: Path) -> None:
    top = skills(tmp_path)
    r = cli("skills", "validate", str(top), "--json", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    found = {Path(f["path"]).name: f for f in json.loads(r.stdout)}
    for sid, where in WHERE.items():
        [error] = [e for e in found[sid]["errors"] if e.startswith("its packages")]
        assert f"{sid}/{where}" in error, error
        assert "installs packages by name from the operator's index only" in error \
            or "a constraints file is not applied" in error, error
        assert "tok3n" not in error  # the author's credentials are not repeated
    r = cli("skills", "list", "--json", "--skills-dir", str(top), "--data-dir",
            str(tmp_path / "data"), cwd=tmp_path)
    listed = {s["id"]: s["environment"] for s in json.loads(r.stdout)}
    for sid in FILES:
        assert listed[sid]["state"] == "failed", (sid, listed[sid])  # was: ready / none
    r = cli("skills", "check", "r-editable", "--skills-dir", str(top), "--data-dir",
            str(tmp_path / "data"), cwd=tmp_path)
    said = " ".join(r.stdout.split())
    assert "skills install r-editable hpkg" not in said, said  # was proposed from the index
    assert "elsewhere module hpkg_d2 (package hpkg-d2" in said, said
    assert "not offered from the index" in said


def test_a_call_is_refused_invalid_requirements_before_anything_is_installed(
        tmp_path: Path) -> None:
    top = skills(tmp_path)
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "hpkg-d2", "1.0", "WHO = 'the public index'\n")
    config = EngineConfig(skills_dir=top, data_dir=tmp_path / "data",
                          environments={"find_links": [str(wheels)], "no_index": True})

    async def go() -> None:
        async with SkillExecutionEngine(config=config) as engine:
            for sid in FILES:
                r = await engine.run_script(sid, "scripts/use.py")
                assert r.status is TaskStatus.REJECTED, (sid, r.status)
                assert r.error is not None and r.error.code == "invalid_requirements", r.error
                assert "tok3n" not in r.error.message
            assert engine.environments.installs == 0

    arun(go())
