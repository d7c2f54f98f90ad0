"""Agent Skills' instructions, bundled resources and scripts (DESIGN §3.5), from Python and
from the CLI: an instructions-only skill is a valid, listed skill."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skillexec.errors import SkillNotFoundError
from skillexec.skills.bundle import MAX_RESOURCES, bundled_file
from skillexec.skills.loader import load_skill
from skillexec.skills.registry import SkillRegistry
from tests.conftest import ROOT

BODY = "# House style\n\nUse short sentences.\tAlways.\n\x1b[31mred\x1b[0m stays text.\n"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


def agent_skill(root: Path) -> Path:
    """The shape of Py Copilot's pdf skill: SKILL.md, references, scripts/, a license."""
    folder = root / "house-style"
    (folder / "scripts" / "__pycache__").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: house-style\ndescription: Our style guide.\n---\n{BODY}")
    (folder / "skill.json").write_text(json.dumps({
        "skill_id": "house-style", "version": "1.0.0",
        "entry_point": "app.skills.skills.house-style", "dependencies": []}))
    (folder / "reference.md").write_text("# Reference\n")
    (folder / "LICENSE.txt").write_text("MIT\n")
    (folder / "scripts" / "check.py").write_text("print('ok')\n")
    (folder / "scripts" / "build.sh").write_text("echo ok\n")
    (folder / "scripts" / "render.mjs").write_text("console.log('ok')\n")
    (folder / "scripts" / "__init__.py").write_text("")
    (folder / "scripts" / "__pycache__" / "check.cpython-311.pyc").write_bytes(b"\0")
    (folder / ".secret").write_text("hidden\n")
    (folder / ".venv" / "lib").mkdir(parents=True)
    (folder / ".venv" / "lib" / "big.py").write_text("x = 1\n")
    (folder / "node_modules" / "left-pad").mkdir(parents=True)
    (folder / "node_modules" / "left-pad" / "index.js").write_text("\n")
    return folder


def test_instructions_resources_and_scripts_from_python(tmp_path: Path) -> None:
    skill = load_skill(agent_skill(tmp_path / "skills"))
    assert skill.instructions == BODY.strip()
    paths = {r.path: r for r in skill.resources}
    assert set(paths) == {"reference.md", "LICENSE.txt", "scripts/check.py",
                          "scripts/build.sh", "scripts/render.mjs", "scripts/__init__.py"}
    assert paths["reference.md"].mime == "text/markdown"
    assert paths["reference.md"].size == len("# Reference\n")
    assert paths["LICENSE.txt"].mime == "text/plain"
    assert skill.scripts == ("scripts/build.sh", "scripts/check.py", "scripts/render.mjs")
    assert not skill.runnable and skill.offers == "3 scripts"
    registry = SkillRegistry([skill])
    assert registry.get("house-style").instructions == BODY.strip()


def test_an_instructions_only_skill_is_listed_and_offers_its_instructions(
        tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "tone"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tone\ndescription: Tone.\n---\nBe kind.\n")
    skill = load_skill(folder)
    assert skill.offers == "instructions only" and skill.instructions == "Be kind."
    assert skill.resources == () and skill.scripts == ()
    r = cli("skills", "list", "--skills-dir", str(tmp_path / "skills"), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [listed] = json.loads(r.stdout)
    assert listed["offers"] == "instructions only"
    assert listed["environment"]["state"] == "none needed"
    r = cli("skills", "list", "--skills-dir", str(tmp_path / "skills"), cwd=tmp_path)
    assert r.returncode == 0 and "not runnable" not in r.stdout
    assert "instructions only" in r.stdout


def test_a_skill_without_skill_md_has_no_instructions(tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "adder"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text('{"id": "adder", "version": "1.0.0"}')
    (folder / "main.py").write_text("def execute(data):\n    return 1\n")
    skill = load_skill(folder)
    assert skill.instructions is None and skill.offers == "entry"
    assert [r.path for r in skill.resources] == ["main.py"]
    r = cli("skills", "show", "adder", "--instructions", "--skills-dir",
            str(tmp_path / "skills"), cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == "skillexec: skill 'adder' has no instructions (no SKILL.md body)"


def test_cli_prints_the_instructions_with_control_characters_escaped(tmp_path: Path) -> None:
    agent_skill(tmp_path / "skills")
    where = ("--skills-dir", str(tmp_path / "skills"))
    r = cli("skills", "show", "house-style", "--instructions", *where, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stdout
    assert r.stdout.startswith("# House style\n\nUse short sentences.\tAlways.\n")
    assert "red" in r.stdout and "stays text." in r.stdout
    r = cli("skills", "show", "house-style", "--json", *where, cwd=tmp_path)
    body = json.loads(r.stdout)
    assert body["instructions"] == BODY.strip()  # the JSON carries the value itself
    assert body["scripts"] == ["scripts/build.sh", "scripts/check.py", "scripts/render.mjs"]
    assert {"path": "reference.md", "size": 12, "mime": "text/markdown"} in body["resources"]
    assert body["offers"] == "3 scripts"


def test_resources_are_bounded(tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "many"
    (folder / "data").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: many\ndescription: Many.\n---\nBody.\n")
    for i in range(MAX_RESOURCES + 50):
        (folder / "data" / f"f{i:04}.txt").write_text("x")
    # bailian-docs-llm-wiki: the file SKILL.md names first, and the scripts, sit shallower
    # than a full folder; a depth-first walk listed data/ and cut them, saying nothing.
    (folder / "wiki").mkdir()
    (folder / "wiki" / "index.md").write_text("# Index\n")
    (folder / "scripts").mkdir()
    (folder / "scripts" / "go.py").write_text("print('go')\n")
    (folder / ".env").write_text("TOKEN=secret\n")
    skill = load_skill(folder)
    assert len(skill.resources) == MAX_RESOURCES
    paths = {r.path for r in skill.resources}
    assert {"wiki/index.md", "scripts/go.py"} <= paths and skill.scripts == ("scripts/go.py",)
    assert any("more than 500 files" in w for w in skill.warnings)
    unlisted = next(f"data/f{i:04}.txt" for i in range(MAX_RESOURCES + 50)
                    if f"data/f{i:04}.txt" not in paths)
    assert bundled_file(skill, unlisted)[0] == (folder / unlisted).resolve()
    for hidden in (".env", "data/../.env", "SKILL.md", "nothing.txt"):
        with pytest.raises(SkillNotFoundError):
            bundled_file(skill, hidden)


def test_a_plugins_skill_lists_its_links_into_the_plugin(tmp_path: Path) -> None:
    """richfrem/agent-plugins-skills links skills' scripts to the plugin's scripts/: they
    ran, but were not listed (the skill showed as instructions only, and check said all
    resolved). A link out of the plugin is still not listed."""
    plugin = tmp_path / "skills" / "kit"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text('{"name": "kit"}')
    (plugin / "scripts").mkdir()
    (plugin / "scripts" / "index.py").write_text("import chromadb\n")
    (tmp_path / "outside.py").write_text("print('not the plugin's')\n")
    skill_dir = plugin / "skills" / "search"
    (skill_dir / "scripts").mkdir(parents=True)
    (skill_dir / "SKILL.md").write_text("---\nname: search\ndescription: S.\n---\n"
                                        "Run ${CLAUDE_PLUGIN_ROOT}/scripts/index.py.\n")
    # The repository's maintenance script, which no skill's instructions name (UiPath's
    # 26 skills each offered 14 of them): not listed.
    (plugin / "scripts" / "sync-version.mjs").write_text("// rewrites plugin.json\n")
    (skill_dir / "scripts" / "index.py").symlink_to("../../../scripts/index.py")
    (skill_dir / "scripts" / "away.py").symlink_to(tmp_path / "outside.py")
    skill = load_skill(skill_dir)
    # and the plugin's own scripts, as a call names them (trailofbits' c-review runs its
    # plan script from the plugin's scripts/, and showed "instructions only")
    assert skill.id == "kit:search" and skill.scripts == ("scripts/index.py",
                                                          "../../scripts/index.py")
    assert bundled_file(skill, "scripts/index.py")[0] == plugin / "scripts" / "index.py"


def test_an_agent_skill_without_entry_offers_its_top_level_scripts(tmp_path: Path) -> None:
    """Py Copilot's xlsx: SKILL.md tells the model to run ``recalc.py`` beside it."""
    folder = tmp_path / "skills" / "sheets"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: sheets\ndescription: S.\n---\nRun recalc.py.\n")
    (folder / "recalc.py").write_text("print('ok')\n")
    skill = load_skill(folder)
    assert skill.scripts == ("recalc.py",) and skill.offers == "1 script"
    (folder / "main.py").write_text("def execute(data):\n    return 1\n")
    skill = load_skill(folder)  # with an entry, Python files beside it are its modules
    assert skill.scripts == () and skill.offers == "entry"


def test_files_the_instructions_run_outside_scripts_are_scripts(tmp_path: Path) -> None:
    """A SKILL.md that tells the model to run ``python3 tools/extract.py`` or
    ``./deploy.sh``: those files are the skill's scripts (it showed "instructions only"),
    while files it only mentions, or names under another folder, are not."""
    folder = tmp_path / "skills" / "ops"
    (folder / "tools").mkdir(parents=True)
    (folder / "resources").mkdir()
    (folder / "examples").mkdir()
    (folder / "SKILL.md").write_text(
        "---\nname: ops\ndescription: Ops.\n---\n"
        "1. Extract: `python3 -u tools/extract.py in.pdf out.json`.\n"
        "2. Deploy with `./resources/deploy.sh` or `bash resources/rollback.sh.`\n"
        "3. Render: node tools/render.mjs --out x\n"
        "See examples/sample.py for the shape; vendor/tools/extract.py is not ours.\n")
    for rel in ("tools/extract.py", "tools/render.mjs", "tools/unused.py",
                "resources/deploy.sh", "resources/rollback.sh", "examples/sample.py"):
        (folder / rel).write_text("\n")
    skill = load_skill(folder)
    assert skill.scripts == ("resources/deploy.sh", "resources/rollback.sh",
                             "tools/extract.py", "tools/render.mjs")
    assert skill.offers == "4 scripts"


def test_files_run_by_the_path_the_skill_is_installed_at_are_scripts(tmp_path: Path) -> None:
    """vercel's deploy-to-vercel runs ``bash /mnt/skills/user/deploy-to-vercel/resources/
    deploy.sh`` (Claude.ai's path; Claude Code's is ~/.claude/skills/...): it showed as
    "instructions only"; another skill's file by the same relative path is not its."""
    folder = tmp_path / "skills" / "deploy-to-vercel"
    (folder / "resources").mkdir(parents=True)
    (folder / "lib").mkdir()
    (folder / "SKILL.md").write_text(
        "---\nname: deploy-to-vercel\ndescription: D.\n---\n```\n"
        "bash /mnt/skills/user/deploy-to-vercel/resources/deploy.sh [path]\n"
        "bash ~/.claude/skills/deploy-to-vercel/resources/deploy.sh\n"
        "node /mnt/skills/user/other-skill/lib/build.mjs\n```\n")
    (folder / "SKILL.md").write_text((folder / "SKILL.md").read_text() + (
        "```js\nimport { clean } from './lib/build.mjs';\n```\n"))  # a library, imported
    for rel in ("resources/deploy.sh", "lib/build.mjs"):
        (folder / rel).write_text("\n")
    skill = load_skill(folder)
    assert skill.scripts == ("resources/deploy.sh",) and skill.offers == "1 script"


def test_a_main_py_without_execute_is_a_script_not_an_entry(tmp_path: Path) -> None:
    """openclaw's abe-expense-tracker-pro: main.py is a program (a REPL with a __main__
    block): it was the skill's entry, an MCP tool that failed on every call, and not among
    the scripts that `skillexec script` runs."""
    folder = tmp_path / "skills" / "tracker"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: tracker\ndescription: T.\n---\n"
                                     "Run `python3 main.py --name you`.\n")
    (folder / "main.py").write_text("import sys\nif __name__ == '__main__':\n    print(1)\n")
    skill = load_skill(folder)
    assert not skill.runnable and skill.scripts == ("main.py",), skill.entry
    (folder / "main.py").write_text("def execute(data):\n    return 1\n")
    skill = load_skill(folder)
    assert skill.runnable and skill.entry.file == folder / "main.py"
    (folder / "main.py").write_text("def execute(:\n")  # its error is the call's to report
    assert load_skill(folder).runnable


def test_an_index_skill_at_the_top_does_not_own_the_skills_below_it(tmp_path: Path) -> None:
    """Agent-Skills' top-level SKILL.md (an index) loaded as a skill with all 43 scripts of
    the skills below it, a refused duplicate's among them: runnable under the index's id."""
    from skillexec.skills.loader import load_skills
    top = tmp_path / "repo"
    (top / "backend" / "builder" / "scripts").mkdir(parents=True)
    (top / "SKILL.md").write_text("# Agent Skills Index\n\nThe skills of this repository.\n")
    (top / "scripts").mkdir()
    (top / "scripts" / "index.py").write_text("print(1)\n")
    (top / "README.md").write_text("# Repo\n")
    builder = top / "backend" / "builder"
    (builder / "SKILL.md").write_text("---\nname: builder\ndescription: B.\n---\nGo.\n")
    (builder / "scripts" / "build.py").write_text("print(1)\n")
    copy = top / "utilities" / "builder"
    (copy / "scripts").mkdir(parents=True)
    (copy / "SKILL.md").write_text("---\nname: builder\ndescription: B.\n---\nGo.\n")
    (copy / "scripts" / "init.py").write_text("print(1)\n")
    report = load_skills(top)
    by_id = {s.id: s for s in report.skills}
    assert sorted(by_id) == ["builder", "repo"]
    assert by_id["repo"].scripts == ("scripts/index.py",)
    assert sorted(r.path for r in by_id["repo"].resources) == ["README.md", "scripts/index.py"]
    assert by_id["builder"].scripts == ("scripts/build.py",)
    # Nor runs them: a script in another skill's folder (the refused copy's) is refused.
    import asyncio

    from skillexec import SkillExecutionEngine

    async def go() -> Any:
        async with SkillExecutionEngine(skills_dir=top, data_dir=tmp_path / "d") as eng:
            return await eng.run_script("repo", "utilities/builder/scripts/init.py")
    r = asyncio.run(go())
    assert r.error is not None and r.error.code == "script_outside_skill", r
    assert "is in another skill's folder" in r.error.message
