"""A plugin's skill takes the packages its plugin declares at its top (trialA fault 8).

fblissjr's mece-decomposer plugin declares ``dependencies = ["orjson>=3.10"]`` in its own
``pyproject.toml`` (its SKILL.md runs the script with ``uv run``, which reads it); its
skill's folder holds no requirements file. ``skills install`` said it "declares no
packages", ``skills check`` called orjson borrowed and asked to declare it. Now the
plugin's file is read (for a skill that runs Python and has no requirements file of its
own), and show, check and install name the file the packages came from."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from tests._isolation import need_sandbox
from tests.conftest import arun
from tests.test_environments import MOD, PKG, cli, wheels

pytestmark = pytest.mark.timeout(180)

SKILL = "mece:mece"
USE = f"import {MOD}\nprint('value', {MOD}.VALUE)\n"


def plugin(root: Path, *, pyproject: str, own: dict[str, str] | None = None) -> Path:
    """A Claude Code plugin (``.claude-plugin/plugin.json``) whose skill ``mece`` runs
    ``scripts/validate.py``, with ``pyproject`` at the plugin's top."""
    top = root / "skills" / "mece"
    (top / ".claude-plugin").mkdir(parents=True)
    (top / ".claude-plugin" / "plugin.json").write_text('{"name": "mece", "version": "0.6.2"}')
    (top / "pyproject.toml").write_text(pyproject)
    folder = top / "skills" / "mece"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: mece\ndescription: MECE decomposition. Use "
                                     "when decomposing.\n---\nRun `uv run "
                                     "scripts/validate.py FILE`.\n")
    (folder / "scripts" / "validate.py").write_text(USE)
    for rel, text in (own or {}).items():
        (folder / rel).write_text(text)
    os.chmod(root, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return folder


def _args(tmp_path: Path) -> tuple[tuple[str, ...], dict[str, str]]:
    links = wheels(tmp_path)
    return (("--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")),
            {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
             "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"})


PYPROJECT = (f'[project]\nname = "mece"\nversion = "0.6.2"\nrequires-python = ">=3.11"\n'
             f'dependencies = ["{PKG}>=1.0"]\n\n[tool.uv]\npackage = false\n')


def test_show_check_and_install_read_the_plugins_pyproject_and_name_it(
        tmp_path: Path) -> None:
    plugin(tmp_path, pyproject=PYPROJECT)
    where, env = _args(tmp_path)
    r = cli("skills", "show", SKILL, "--json", *where, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["environment"]
    assert doc["state"] == "not installed"
    assert doc["requirements"] == [f"{PKG}>=1.0"]
    assert doc["sources"] == ["../../pyproject.toml"]
    r = cli("skills", "show", SKILL, *where, cwd=tmp_path, env=env)
    assert (f"not installed (requires {PKG}>=1.0, declared in ../../pyproject.toml)"
            in r.stdout), r.stdout
    # check: the package is declared (to install), not "missing" nor "declare it"
    r = cli("skills", "check", SKILL, *where, cwd=tmp_path, env=env)
    assert (f"{SKILL}: environment not installed ({PKG}>=1.0, declared in "
            "../../pyproject.toml)") in r.stdout, r.stdout
    assert "declare them" not in r.stdout and "skills install mece:mece tinypkg" not in r.stdout
    # install: from the local wheel, and it says where the packages were declared
    r = cli("skills", "install", SKILL, *where, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "declares no packages" not in r.stdout
    assert (f"{SKILL}: environment ready (installed: {PKG}>=1.0; declared in "
            "../../pyproject.toml)") in r.stdout, r.stdout


def test_the_script_runs_with_the_plugins_packages(tmp_path: Path) -> None:
    need_sandbox()
    plugin(tmp_path, pyproject=PYPROJECT)
    links = wheels(tmp_path)
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                       environments={"find_links": [str(links)], "no_index": True})

    async def go() -> str:
        async with SkillExecutionEngine(config=cfg) as e:
            res = await e.run_script(SKILL, "scripts/validate.py")
            assert res.ok, res.error
            return str(res.output["stdout"])

    assert arun(go()).strip() == "value 42"


def test_a_requirements_file_of_the_skills_own_stands_for_the_plugins(
        tmp_path: Path) -> None:
    """As uv takes the nearest project: the skill's own file, not also its plugin's (whose
    packages may be an MCP server's)."""
    plugin(tmp_path, pyproject=PYPROJECT.replace(PKG, "someones-server-pkg"),
           own={"requirements.txt": f"{PKG}\n"})
    where, env = _args(tmp_path)
    r = cli("skills", "show", SKILL, "--json", *where, cwd=tmp_path, env=env)
    doc = json.loads(r.stdout)["environment"]
    assert doc["requirements"] == [PKG] and doc["sources"] == ["requirements.txt"]


def test_a_package_uv_takes_from_elsewhere_is_not_installed_by_its_name(
        tmp_path: Path) -> None:
    """``[tool.uv.sources]`` names a workspace member or a path: the index's package of
    that name would be someone else's."""
    plugin(tmp_path, pyproject=PYPROJECT.replace(
        f'"{PKG}>=1.0"', f'"{PKG}>=1.0", "our-shared-lib"')
        + '\n[tool.uv.sources]\nour-shared-lib = { workspace = true }\n')
    where, env = _args(tmp_path)
    r = cli("skills", "show", SKILL, "--json", *where, cwd=tmp_path, env=env)
    assert json.loads(r.stdout)["environment"]["requirements"] == [f"{PKG}>=1.0"]
