"""Manifest dependencies that are no Python packages of the skill's: a Node skill's npm
packages, an instructions-only skill's packages for the model's own code, a sibling skill
named with a version. None is installed from PyPI nor checked, and the skill runs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from skillexec import EngineConfig, SkillExecutionEngine
from tests._isolation import need_sandbox
from tests.conftest import arun

pytestmark = pytest.mark.timeout(120)


def _write(folder: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)


def _engine(root: Path) -> SkillExecutionEngine:
    os.chmod(root, 0o755)  # the sandbox's user reads the skills (tmp_path is 0700)
    # No index: an install attempt would fail, and the call with it.
    return SkillExecutionEngine(config=EngineConfig(
        skills_dir=root / "skills", data_dir=root / "data",
        environments={"no_index": True, "find_links": [str(root)]}))


def test_a_node_skills_npm_packages_are_not_looked_for_on_pypi(tmp_path: Path) -> None:
    """roier-seo's front matter lists its npm packages (``dependencies: [lighthouse,
    chrome-launcher]``): every call was refused, an install of those names from PyPI failed
    (or would have installed someone else's package of the same name)."""
    need_sandbox()
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    _write(tmp_path / "skills" / "seo", {
        "SKILL.md": "---\nname: seo\ndescription: Audits.\n"
                    "dependencies: [lighthouse, chrome-launcher]\n---\nRun scripts/audit.mjs.\n",
        "scripts/audit.mjs": "console.log('audited', process.argv.slice(2).join(' '))\n",
        "scripts/package.json": json.dumps({"dependencies": {"lighthouse": "^12"}})})

    async def go() -> tuple[str, object]:
        async with _engine(tmp_path) as e:
            state = e.environments.status(e.skills.get("seo")).state
            r = await e.run_script("seo", "scripts/audit.mjs", args=["x"])
            return state, r.output if r.ok else r.error
    state, out = arun(go())
    assert state == "none needed"
    assert isinstance(out, dict) and out["stdout"] == "audited x\n", out


def test_an_instructions_only_skill_needs_no_environment(tmp_path: Path) -> None:
    """Orchestra-style front matter (``dependencies: [chromadb, torch]``) on a skill with
    nothing to run: it was 'not installed', and skills install made 5.8 GB for it."""
    _write(tmp_path / "skills" / "chroma", {
        "SKILL.md": "---\nname: chroma\ndescription: Vector search.\n"
                    "dependencies: [chromadb, torch]\n---\nUse chromadb like this.\n"})

    async def go() -> str:
        async with _engine(tmp_path) as e:
            return e.environments.status(e.skills.get("chroma")).state
    assert arun(go()) == "none needed"


def test_a_sibling_skill_named_with_a_version_is_no_package(tmp_path: Path) -> None:
    """clawsec's ``"dependencies": {"clawsec-suite": ">=0.0.10"}``: a skill of the same
    folder. skills check said so; every call was refused as a missing Python package."""
    need_sandbox()
    manifest = {"id": "checker", "name": "checker", "version": "1.0.0",
                "description": "Checks.", "dependencies": {"suite": ">=0.0.10"}}
    _write(tmp_path / "skills" / "checker", {
        "skill.json": json.dumps(manifest), "scripts/check.py": "print('checked')\n"})
    _write(tmp_path / "skills" / "suite", {
        "SKILL.md": "---\nname: suite\ndescription: The suite.\n---\nUse it.\n"})

    async def go() -> object:
        async with _engine(tmp_path) as e:
            r = await e.run_script("checker", "scripts/check.py")
            return r.output if r.ok else r.error
    out = arun(go())
    assert isinstance(out, dict) and out["stdout"] == "checked\n", out


def test_a_node_script_missing_an_npm_package_is_told_where_to_install_it(
        tmp_path: Path) -> None:
    """design-to-code's script ended ``execution_error/script_exit`` on Node's
    ERR_MODULE_NOT_FOUND, its message a stack frame: now ``missing_module`` naming the
    package, the package.json that lists it and where to run npm install."""
    need_sandbox()
    if shutil.which("node") is None:
        pytest.skip("node is not installed")
    _write(tmp_path / "skills" / "coder", {
        "SKILL.md": "---\nname: coder\ndescription: Codes.\n---\nRun scripts/*.\n",
        "scripts/esm.mjs": "import coderio from 'coderio-nowhere';\nconsole.log(coderio)\n",
        "scripts/cjs.js": "require('@ghost/pkg-nowhere/sub');\n",
        "scripts/own.mjs": "import './nope.mjs';\n",
        "scripts/package.json": json.dumps({"dependencies": {"coderio-nowhere": "^1"}})})

    async def go() -> list[Any]:
        async with _engine(tmp_path) as e:
            return [(await e.run_script("coder", s)).error
                    for s in ("scripts/esm.mjs", "scripts/cjs.js", "scripts/own.mjs")]
    esm, cjs, own = arun(go())
    folder = (tmp_path / "skills" / "coder" / "scripts").resolve()
    assert (esm.type.value, esm.code) == ("dependency_error", "missing_module"), esm
    assert esm.message == (
        "skill 'coder': the script cannot import the npm package 'coderio-nowhere', which "
        f"{folder / 'package.json'} lists but nobody installed: run npm install in {folder}")
    assert esm.details["package"] == "coderio-nowhere"
    assert cjs.code == "missing_module" and cjs.details["package"] == "@ghost/pkg-nowhere"
    assert "which no package.json of the skill lists" in cjs.message
    assert own.code == "script_exit", own  # a file of its own, not a package


def test_dependencies_grouped_by_ecosystem_are_read_by_group(tmp_path: Path) -> None:
    """Skilzy's skill.json: {"python": [...], "system": [...]} dropped every skill of the
    repository ("'python' an invalid version specifier"), and {"node": ">=18"} beside a
    Python version was PyPI's unrelated 'node', installed at the first call."""
    from skillexec.skills.loader import load_skill
    from skillexec.skills.model import Permission

    grouped = tmp_path / "image-editor"
    _write(grouped, {"skill.json": json.dumps({
        "name": "image-editor", "version": "1.0.0", "description": "Edits images.",
        "dependencies": {"python": ["Pillow>=10.0", "numpy"], "system": ["imagemagick"]},
        "permissions": {"network": {"allowedHosts": ["api.example.com"]}}}),
        "SKILL.md": "---\nname: image-editor\ndescription: Edits.\n---\nRun it.\n",
        "scripts/edit.py": "print(1)\n"})
    skill = load_skill(grouped)
    assert [(d.name, d.specifier) for d in skill.dependencies] == [
        ("Pillow", ">=10.0"), ("numpy", "")]
    assert skill.permissions == frozenset({Permission.NETWORK_ACCESS})
    assert any("permissions.network: its settings are not read" in w for w in skill.warnings)
    runtimes = tmp_path / "pyver"
    _write(runtimes, {"skill.json": json.dumps({
        "name": "pyver", "version": "1.0.0", "description": "Says hi.",
        "dependencies": {"python": ">=3.9", "node": ">=18", "requests": ">=2"}}),
        "scripts/hi.py": "print('hi')\n"})
    # Python's version stays a requirement of the interpreter (checked, never installed).
    assert [d.name for d in load_skill(runtimes).dependencies] == ["python", "requests"]



def test_a_package_json_that_is_a_fifo_stalls_nothing(tmp_path: Path) -> None:
    """The npm hint read the skill's package.json with a blocking open, on the event loop:
    a FIFO there stalled the engine for good (every call, /health)."""
    import threading

    from skillexec.script_npm import npm_message

    folder = tmp_path / "fifo"
    _write(folder, {"scripts/a.cjs": "require('ghost-nowhere');\n"})
    os.mkfifo(folder / "scripts" / "package.json")
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.append(npm_message(
        "ghost-nowhere", skill_id="fifo", folder=folder, script=folder / "scripts" / "a.cjs")),
        daemon=True)
    reader.start()
    reader.join(10)
    assert said and "which no package.json of the skill lists" in said[0], said


@pytest.mark.parametrize(("command", "python"), [
    (["/usr/bin/env", "python3", "-m", "tool"], True), (["uv", "run", "tool"], True),
    (["python3.11", "-m", "tool"], True), (["node", "tool.js"], False)])
def test_a_command_skill_that_starts_python_runs_python(command: list[str],
                                                        python: bool) -> None:
    """A command skill run by /usr/bin/env python3 or uv run had its dependencies skipped,
    as a skill that runs no Python has."""
    from skillexec.skills.bundle import runs_python
    from skillexec.skills.model import Entry, EntryKind, Skill

    skill = Skill(id="tool", version="1.0.0", path=Path("/nonexistent"),
                  entry=Entry(kind=EntryKind.COMMAND, command=tuple(command)))
    assert runs_python(skill) is python
