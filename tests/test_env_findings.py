"""Skill environments as new users met them (field trials a, b, c): what ``skills check``
vouches for, the packages it names, what a skill's folder declares, and which module a
failed script call blames."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.environments.modules import package_for, package_guessed
from skillexec.errors import ManifestError
from skillexec.task import ExecutionResult
from tests._isolation import need_sandbox
from tests._wheels import make_wheel
from tests.conftest import ROOT, arun

pytestmark = pytest.mark.timeout(180)

PKG, MOD = "tinypkg-findings", "tinypkg_findings"


def cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "300", **(env or {})}
    return subprocess.run([sys.executable, "-m", "skillexec", *args, "--skills-dir",
                           str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")],
                          cwd=tmp_path, env=full, capture_output=True, text=True, timeout=120)


def agent_skill(tmp_path: Path, name: str, files: dict[str, str], *,
                front: str = "") -> Path:
    """An Agent Skill (SKILL.md) under ``tmp_path/skills``, readable by the sandbox's user."""
    folder = tmp_path / "skills" / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: tools.\n{front}---\n"
                                     "Use the scripts.\n")
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    return folder


def local_index(tmp_path: Path) -> dict[str, str]:
    """The environment variables that install from a folder holding one wheel, never from
    the package index."""
    links = tmp_path / "wheels"
    make_wheel(links, PKG, "1.0.0", "VALUE = 7\n", module=MOD)
    return {"SKILLEXEC_ENVIRONMENTS__FIND_LINKS": json.dumps([str(links)]),
            "SKILLEXEC_ENVIRONMENTS__NO_INDEX": "true"}


def one_line(r: subprocess.CompletedProcess[str]) -> str:
    return " ".join(r.stdout.split())


# -- a.md F3: what skills check did not read -----------------------------------------------


def test_check_does_not_vouch_for_node_or_shell_scripts(tmp_path: Path) -> None:
    """power-pages' skills have only Node scripts: ``skills check`` said "every import
    resolves" of files it never reads."""
    agent_skill(tmp_path, "node-only", {"scripts/a.js": "require('playwright')\n",
                                        "scripts/b.mjs": "import x from 'y'\n",
                                        "scripts/run.sh": "jq . x.json\n"})
    agent_skill(tmp_path, "mixed", {"scripts/a.py": "import json\n",
                                    "scripts/b.js": "require('../../lib/x')\n"})
    agent_skill(tmp_path, "words", {})
    node = cli(tmp_path, "skills", "check", "node-only")
    assert node.returncode == 0, node.stderr
    assert "every import resolves" not in node.stdout
    assert ("no Python files; the requires of 2 Node scripts and the commands of 1 shell "
            "script are not checked") in one_line(node)
    mixed = one_line(cli(tmp_path, "skills", "check", "mixed"))
    assert "every import resolves; the requires of 1 Node script are not checked" in mixed
    assert "no Python files: nothing to check" in one_line(cli(tmp_path, "skills", "check",
                                                               "words"))
    whole = cli(tmp_path, "skills", "check")
    assert whole.returncode == 0, whole.stderr
    assert one_line(whole).endswith(
        "3 skills checked: 1 resolve every import, 0 miss modules, 2 have no Python files; "
        "not checked: the requires of 3 Node scripts (in 2 skills) and the commands of 1 "
        "shell script (in 1 skill)")
    doc = json.loads(cli(tmp_path, "skills", "check", "node-only", "--json").stdout)
    assert doc["read"] == {"python_files": 0, "python_files_not_read": 0,
                           "node_scripts_not_checked": 2, "shell_scripts_not_checked": 1}


# -- a.md F8: the package a module comes from ------------------------------------------------


def test_windows_and_microsoft_modules_name_their_packages() -> None:
    for module in ("win32com", "win32com.client", "win32con", "win32gui", "win32api",
                   "pythoncom", "pywintypes", "win32process", "win32clipboard"):
        assert package_for(module) == "pywin32", module
    assert package_for("office365.sharepoint") == "Office365-REST-Python-Client"
    assert package_for("msgraph") == "msgraph-sdk"
    assert package_for("whisper") == "openai-whisper"  # "whisper" is Graphite's database
    assert package_for("bson") == "pymongo"  # the index's "bson" breaks pymongo
    assert not package_guessed("requests") and not package_guessed("numpy.linalg")
    assert package_guessed("dataverse_api") and package_for("dataverse_api") == "dataverse-api"


def test_check_says_which_packages_are_guessed(tmp_path: Path) -> None:
    agent_skill(tmp_path, "t2", {"scripts/imp.py": "import win32com.client, dataverse_api\n"})
    text = one_line(cli(tmp_path, "skills", "check", "t2"))
    assert "module dataverse_api (package dataverse-api, guessed from the module's name)" \
        in text
    assert "module win32com (package pywin32)," in text
    found = {m["module"]: m for m in json.loads(
        cli(tmp_path, "skills", "check", "t2", "--json").stdout)["missing"]}
    assert found["dataverse_api"]["guessed"] and not found["win32com"]["guessed"]


# -- b.md 4: a dependency that names a skill ---------------------------------------------------


def test_a_dependency_naming_a_sibling_skill_is_not_installed(tmp_path: Path) -> None:
    """The aws skills' ``dependencies: [aws-orchestrator]`` names a sibling skill: it was
    sent to the package index, where anyone may register that name."""
    agent_skill(tmp_path, "aws-orchestrator", {})
    agent_skill(tmp_path, "s3-audit", {"scripts/use.py": f"import {MOD}\n"},
                front=f"dependencies:\n  - aws-orchestrator\n  - {PKG}\n")
    env = local_index(tmp_path)
    check = one_line(cli(tmp_path, "skills", "check", "s3-audit", env=env))
    assert ("its dependency aws-orchestrator names a skill of its folder, not a Python "
            "package: nothing is installed for it") in check
    r = cli(tmp_path, "skills", "install", "s3-audit", "--json", env=env)
    assert r.returncode == 0, r.stderr
    body = json.loads(r.stdout)
    assert body["environment"]["requirements"] == [PKG]
    assert body["not_packages"] == ["aws-orchestrator"]
    assert "every import resolves" in cli(tmp_path, "skills", "check", "s3-audit",
                                          env=env).stdout


def test_a_dependency_named_like_no_sibling_is_still_a_package(tmp_path: Path) -> None:
    agent_skill(tmp_path, "lonely", {"scripts/run.py": "print(1)\n"},
                front="dependencies:\n  - not-a-skill-9f2\n")
    doc = json.loads(cli(tmp_path, "skills", "check", "lonely", "--json").stdout)
    assert doc["environment"]["requirements"] == ["not-a-skill-9f2"]
    assert doc["not_packages"] == []


# -- b.md 7: pyproject.toml -------------------------------------------------------------------


def test_pyproject_dependencies_are_the_skills_packages(tmp_path: Path) -> None:
    """Qwayk's 52 skills declare their packages in ``[project] dependencies`` only."""
    agent_skill(tmp_path, "qwayk", {
        "pyproject.toml": (f'[project]\nname = "qwayk-tool"\nversion = "1.0"\n'
                           f'dependencies = ["{PKG}>=1.0", '
                           f'"never-here-4c1; sys_platform == \'nonesuch\'"]\n'
                           '[project.optional-dependencies]\ndev = ["never-here-dev-4c1"]\n'),
        "src/tool/main.py": f"import {MOD}\n"})
    env = local_index(tmp_path)
    before = json.loads(cli(tmp_path, "skills", "check", "qwayk", "--json", env=env).stdout)
    assert before["environment"]["state"] == "not installed"
    assert before["environment"]["requirements"] == [f"{PKG}>=1.0"]
    r = cli(tmp_path, "skills", "install", "qwayk", env=env)
    assert r.returncode == 0, r.stderr
    after = cli(tmp_path, "skills", "check", "qwayk", env=env)
    assert after.returncode == 0 and "every import resolves" in after.stdout


def test_a_malformed_pyproject_is_named_like_a_bad_requirements_file(tmp_path: Path) -> None:
    folder = agent_skill(tmp_path, "broken", {
        "pyproject.toml": '[project]\nname = "x"\ndependencies = ["a"\n'})
    doc = json.loads(cli(tmp_path, "skills", "check", "broken", "--json").stdout)
    assert doc["environment"]["state"] == "failed"
    assert doc["environment"]["reason"].startswith(f"{folder / 'pyproject.toml'}: not valid "
                                                   "TOML")
    r = cli(tmp_path, "skills", "install", "broken")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "pyproject.toml: not valid TOML" in r.stderr
    (folder / "pyproject.toml").write_text('[project]\ndependencies = "pkg"\n')
    r = cli(tmp_path, "skills", "install", "broken")
    assert "[project] dependencies must be a list of requirement strings" in r.stderr
    (folder / "pyproject.toml").write_text("x" * ((1 << 20) + 1))  # as big as no manifest is
    r = cli(tmp_path, "skills", "install", "broken")
    assert r.returncode != 0 and "Traceback" not in r.stderr and "pyproject.toml" in r.stderr


# -- c.md F5: folders that did not load ---------------------------------------------------------


def test_check_of_a_folder_counts_the_skills_it_could_not_load(tmp_path: Path) -> None:
    agent_skill(tmp_path, "fine", {"scripts/a.py": "import json\n"})
    bad = tmp_path / "skills" / "bad"
    bad.mkdir()
    (bad / "SKILL.md").write_text("---\nname: bad\ndescription: [unclosed\n---\n")
    r = cli(tmp_path, "skills", "check")
    assert r.returncode == 0, r.stderr
    assert one_line(r).endswith("1 skills checked: 1 resolve every import, 0 miss modules; "
                                "1 skill folder could not be loaded (skillexec skills list "
                                "says why)")
    js = cli(tmp_path, "skills", "check", "--json")
    assert [d["id"] for d in json.loads(js.stdout)] == ["fine"]
    assert "1 skill folder could not be loaded" in js.stderr


# -- c.md F2, F4: which module a failed script call blames ---------------------------------------


def run_scripts(tmp_path: Path, scripts: list[str]) -> dict[str, ExecutionResult]:
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data")

    async def go() -> dict[str, ExecutionResult]:
        async with SkillExecutionEngine(config=cfg) as e:
            return {s: await e.run_script("files", s) for s in scripts}

    return arun(go())


def test_a_script_missing_the_skills_own_module_names_no_package(tmp_path: Path) -> None:
    """bio-skills-hub's ``tools.py`` does ``from scripts.call_api import call_api``: the
    call said to install the package 'scripts' (someone's project on the index)."""
    need_sandbox()
    agent_skill(tmp_path, "files", {
        # As ``scripts`` there (a folder of the skill, not beside the script); named
        # apart here, where the repository's own scripts/ is on the engine's sys.path.
        "scripts/tools.py": "from biolib_51.call_api import call_api\n",
        "biolib_51/__init__.py": "",
        "scripts/helpers/__init__.py": "",
        "scripts/deep.py": "import helpers.not_there\n",
        "scripts/other.py": "import nowhere_pkg_51\n"})
    r = run_scripts(tmp_path, ["scripts/tools.py", "scripts/deep.py", "scripts/other.py"])
    own = r["scripts/tools.py"].error
    assert own is not None and own.code == "missing_module"
    # biolib_51/ is found in the skill's folder (last on sys.path), its call_api is not.
    assert own.message == (
        "skill 'files': the script cannot import 'biolib_51.call_api' ('biolib_51' names the "
        "skill's own files), not a package to install: a script imports the skill's modules "
        "from its own folder (scripts/) or, after the packages, the skill's folder, and "
        "neither holds it")
    assert "package" not in own.details and own.details["own"] is True
    deep = r["scripts/deep.py"].error
    assert deep is not None and "'helpers' names the skill's own files" in deep.message
    assert "skills install" not in deep.message
    other = r["scripts/other.py"].error
    assert other is not None and other.details["package"] == "nowhere-pkg-51"
    assert "'nowhere-pkg-51' (guessed from the module's name)" in other.message


def test_only_the_exception_that_ended_a_script_decides_missing_module(
        tmp_path: Path) -> None:
    """The QR skill catches ``ImportError`` and runs ``pip install`` in its handler; pip
    failed, and the call said to install the module it had caught."""
    need_sandbox()
    agent_skill(tmp_path, "files", {
        "scripts/agent.py": ("import subprocess, sys\ntry:\n    __import__('pillow')\n"
                             "except ImportError:\n    subprocess.check_call([sys.executable,"
                             " '-c', 'raise SystemExit(2)'])\n"),
        "scripts/bug.py": ("try:\n    import nowhere_a_51\nexcept ImportError:\n"
                           "    nowhere = None\nprint(nowhere.attr)\n"),
        "scripts/reraise.py": ("try:\n    import nowhere_b_51\nexcept ImportError:\n"
                               "    raise ImportError('pip install nowhere-b-51') from None\n"),
        "scripts/told.py": ("try:\n    import nowhere_c_51\nexcept ImportError:\n"
                            "    raise ImportError('pip install nowhere-c-51')\n")})
    r = run_scripts(tmp_path, [f"scripts/{s}.py" for s in ("agent", "bug", "reraise",
                                                              "told")])
    for name in ("agent", "bug", "reraise"):
        error = r[f"scripts/{name}.py"].error
        assert error is not None and error.code == "script_exit", (name, error)
    assert "CalledProcessError" in r["scripts/agent.py"].error.message  # type: ignore[union-attr]
    told = r["scripts/told.py"].error  # raised while handling it: that import it is
    assert told is not None and told.code == "missing_module"
    assert told.details["module"] == "nowhere_c_51"


def test_a_plugins_skill_may_link_its_requirements_to_the_plugins(tmp_path: Path) -> None:
    """richfrem/agent-plugins-skills: 12 skills link requirements.txt to their plugin's
    own; it was refused as "a symlink out of the skill's folder", and every script with it.
    A link out of the plugin is still refused."""
    plugin = tmp_path / "skills" / "kit"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text('{"name": "kit"}')
    (plugin / "requirements.txt").write_text("six==1.16.0\n")
    skill = plugin / "skills" / "tool"
    skill.mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: tool\ndescription: d\n---\nBody.\n")
    (skill / "requirements.txt").symlink_to("../../requirements.txt")
    from skillexec.environments.requirements import requirement_set
    from skillexec.skills import load_skill
    assert requirement_set(load_skill(skill)).requirements == ("six==1.16.0",)
    (tmp_path / "outside.txt").write_text("six\n")
    (skill / "requirements.txt").unlink()
    (skill / "requirements.txt").symlink_to(tmp_path / "outside.txt")
    with pytest.raises(ManifestError, match="a symlink out of the skill's folder"):
        requirement_set(load_skill(skill))


def test_check_reads_the_python_files_past_the_listing(tmp_path: Path) -> None:
    """aero-agent-skills' router skill holds 993 Python files; its listing 500 files, of
    which check read the 169 Python ones and said every import resolved."""
    files = {f"lib/m{i:03}.py": "import json\n" for i in range(600)}
    files["lib/zz_last.py"] = "import surely_not_a_module_here\n"
    agent_skill(tmp_path, "router", files)
    r = cli(tmp_path, "skills", "check", "router")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "surely_not_a_module_here" in r.stdout


def test_check_knows_a_declared_package_that_provides_the_same_module(tmp_path: Path) -> None:
    """trailofbits' culture-index declares opencv-python-headless: check told it to declare
    and install opencv-python too, which would overwrite the files of the one it has."""
    agent_skill(tmp_path, "culture", {"requirements.txt": "opencv-python-headless\n",
                                      "scripts/a.py": "import cv2\n"})
    r = cli(tmp_path, "skills", "check", "culture")
    text = one_line(r)
    assert "declared module cv2 (package opencv-python-headless)" in text, text
    assert "declare them" not in text and "opencv-python " not in text + " "
