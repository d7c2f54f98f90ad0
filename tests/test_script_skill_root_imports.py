"""Scripts written to run as ``python -m scripts.x`` from their skill's folder (Anthropic's
skill-creator and its forks: ``from scripts.quick_validate import validate_skill``): trialA
found them ended ``missing_module`` with "'scripts' is not there", the folder being there.
A Python script's child has the skill's folder on ``sys.path``, last."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.task import ExecutionResult, TaskStatus
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(180)

# In the shape of skill-creator's: scripts/ a package whose modules import each other by
# their name from the skill's folder.
CREATOR = {
    "scripts/__init__.py": "",
    "scripts/check_t3.py": "def validate(name):\n    return name.upper()\n",
    "scripts/package_t3.py": (
        "import sys\n"
        "from scripts.check_t3 import validate\n"
        "print(validate(sys.argv[1]))\n"),
    # The skill's folder comes after the standard library: its json.py shadows nothing.
    "json.py": "raise SystemExit('the skill json.py shadowed the standard library')\n",
    "scripts/uses_json.py": "import json\nprint(json.dumps([1]))\n",
    "scripts/broken_t3.py": "from scripts.absent_t3 import x\n",
}


def creator(tmp_path: Path) -> Path:
    folder = tmp_path / "skills" / "creator-t3"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: creator-t3\ndescription: packages skills.\n---\n"
        "Run `python -m scripts.package_t3 NAME` from this folder.\n")
    for rel, text in CREATOR.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return folder


def run(tmp_path: Path, calls: list[tuple[str, list[str]]]) -> list[ExecutionResult]:
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")

    async def go() -> list[ExecutionResult]:
        async with SkillExecutionEngine(config=cfg) as e:
            return [await e.run_script("creator-t3", s, args=a) for s, a in calls]

    return arun(go())


def test_a_script_imports_the_skills_package_from_the_skills_folder(tmp_path: Path) -> None:
    need_sandbox()
    creator(tmp_path)
    packaged, plain_json, broken = run(tmp_path, [
        ("scripts/package_t3.py", ["mys"]), ("scripts/uses_json.py", []),
        ("scripts/broken_t3.py", [])])
    assert packaged.status is TaskStatus.SUCCEEDED, packaged.error
    assert packaged.output is not None and packaged.output["stdout"] == "MYS\n"
    assert plain_json.status is TaskStatus.SUCCEEDED, plain_json.error
    assert plain_json.output is not None and plain_json.output["stdout"] == "[1]\n"
    # A module of the skill's own package that is missing: where it was looked for, both
    # places, never "'scripts' is not there".
    err = broken.error
    assert err is not None and err.code == "missing_module"
    assert "is not there" not in err.message and "skills install" not in err.message
    assert "from its own folder (scripts/) or, after the packages, the skill's folder, " \
        "and neither holds it" in err.message


def test_a_modules_dotted_name_is_answered_with_its_file(tmp_path: Path) -> None:
    creator(tmp_path)
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")

    async def go() -> list[ExecutionResult]:
        async with SkillExecutionEngine(config=cfg) as e:
            return [await e.run_script("creator-t3", s) for s in
                    ("scripts.package_t3", "-m scripts.package_t3", "scripts.nowhere")]

    found = arun(go())
    for r in found[:2]:
        assert r.error is not None and r.error.code == "script_not_found"
        assert "'scripts.package_t3' is a module's name (python -m scripts.package_t3): " \
            "give its file, scripts/package_t3.py" in r.error.message
    assert found[2].error is not None and "its scripts:" in found[2].error.message
