"""Claude Code plugin marketplaces: each plugin's skills load as ``<plugin>:<skill>``.

In a marketplace (terrylica/cc-skills has 45 plugins and 241 skills) several plugins carry a
skill of the same name (``setup``, ``health``, ``install``): skillexec loaded the first and
set the others aside as "already defined", 26 skills in that folder. Claude Code names a
plugin's skill ``<plugin>:<skill>``; skillexec now does too, and runs their scripts by it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.mcp.server import McpServer
from skillexec.skills import load_skills
from tests._isolation import need_sandbox

pytestmark = pytest.mark.timeout(120)

_HELLO = "import json, sys\nprint(json.dumps({'plugin': %r, 'argv': sys.argv[1:]}))\n"


def _skill(folder: Path, plugin: str, *, name: str = "setup") -> None:
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: Set up {plugin}.\n---\n"
        f"Run `scripts/hello.py` with the host's name.\n")
    (folder / "scripts" / "hello.py").write_text(_HELLO % plugin)


def marketplace(root: Path) -> Path:
    """A marketplace in the shapes of real ones: a plugin with ``.claude-plugin/plugin.json``
    (its name not its folder's), one with ``plugin.json`` at its top (older layout), one the
    marketplace lists without a manifest of its own, one in neither (a plain folder), and
    skills at the marketplace's own top (its entry at ``./`` is not a plugin of its own)."""
    (root / ".claude-plugin").mkdir(parents=True)
    (root / ".claude-plugin" / "marketplace.json").write_text(json.dumps({
        "name": "market", "plugins": [
            {"name": "gamma", "source": "./plugins/gamma", "strict": False},
            {"name": "bundle", "source": "./", "strict": False,
             "skills": ["./skills/top"]}]}))
    alpha = root / "plugins" / "alpha"
    (alpha / ".claude-plugin").mkdir(parents=True)
    (alpha / ".claude-plugin" / "plugin.json").write_text('{"name": "alpha-tools"}')
    (root / "plugins" / "beta").mkdir(parents=True)
    (root / "plugins" / "beta" / "plugin.json").write_text('{"name": "beta", "version": "2"}')
    for plugin in ("alpha", "beta", "gamma", "delta"):
        _skill(root / "plugins" / plugin / "skills" / "setup", plugin)
    _skill(root / "plugins" / "beta" / "skills" / "health", "beta", name="health")
    _skill(root / "skills" / "top", "market", name="top")
    return root


def test_every_plugins_skills_load_under_the_plugins_name(tmp_path: Path) -> None:
    report = load_skills(marketplace(tmp_path / "market"))
    assert report.problems == ()
    assert sorted(s.id for s in report.skills) == [
        "alpha-tools:setup", "beta:health", "beta:setup", "gamma:setup", "setup", "top"]
    # One plugin's view: its skills folder alone names them the same way.
    alone = load_skills(tmp_path / "market" / "plugins" / "beta" / "skills")
    assert sorted(s.id for s in alone.skills) == ["beta:health", "beta:setup"]


@pytest.mark.parametrize("manifest", [
    "not json", '{"name": "../up"}', '{"name": 7}', '{"name": "x"}' + " " * (1024 * 1024),
    '["a list"]'])
def test_a_plugin_manifest_is_read_for_a_name_only(tmp_path: Path, manifest: str) -> None:
    plugin = tmp_path / "skills-root" / "odd"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text(manifest)
    _skill(plugin / "skills" / "setup", "odd")
    report = load_skills(tmp_path / "skills-root")
    assert [s.id for s in report.skills] == ["odd:setup"], report.problems  # the folder's


def test_trusted_skills_may_name_a_plugins_skill() -> None:
    cfg = EngineConfig.model_validate({"isolation": {"trusted_skills": ["alpha-tools:setup"]}})
    assert cfg.isolation.trusted_skills == frozenset({"alpha-tools:setup"})


def test_a_plugins_script_runs_by_its_name(tmp_path: Path) -> None:
    need_sandbox()
    root = marketplace(tmp_path / "market")

    async def go() -> None:
        async with SkillExecutionEngine(skills_dir=root, data_dir=tmp_path / "data") as eng:
            for skill_id, plugin in (("alpha-tools:setup", "alpha"), ("beta:setup", "beta"),
                                     ("setup", "delta")):
                res = await eng.run_script(skill_id, "scripts/hello.py", args=["h1"])
                assert res.ok, res.error
                assert json.loads(res.output["stdout"]) == {"plugin": plugin, "argv": ["h1"]}
                assert res.skill_id == f"{skill_id}:scripts/hello.py"
            # The derived id the journal keeps finds its script again (a resumed task).
            derived = eng.skills.get("gamma:setup:scripts/hello.py")
            assert derived.path == root / "plugins" / "gamma" / "skills" / "setup"

    import asyncio
    asyncio.run(go())


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], capture_output=True,
                          text=True, timeout=100)


def test_the_cli_runs_and_shows_a_plugins_skill(tmp_path: Path) -> None:
    need_sandbox()
    root = str(marketplace(tmp_path / "market"))
    data = str(tmp_path / "data")
    p = _cli("script", "beta:health", "scripts/hello.py", "x y", "--skills-dir", root,
             "--data-dir", data)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == {"plugin": "beta", "argv": ["x y"]}
    shown = _cli("skills", "show", "alpha-tools:setup", "--skills-dir", root)
    assert shown.returncode == 0, shown.stderr
    assert "skillexec script alpha-tools:setup scripts/hello.py" in shown.stdout
    listed = _cli("skills", "list", "--skills-dir", root)
    assert "already defined" not in listed.stdout + listed.stderr
    # A plugin's name alone is not a skill: the error points at its skills.
    wrong = _cli("script", "beta", "scripts/hello.py", "--skills-dir", root,
                 "--data-dir", data)
    assert wrong.returncode == 2
    assert "Traceback" not in wrong.stderr
    assert "'beta:health'" in wrong.stderr and "'beta:setup'" in wrong.stderr
    # A typo is named whole, not by the part before its first colon ("no skill 'alpha-tools'").
    typo = _cli("script", "alpha-tools:setpu", "scripts/hello.py", "--skills-dir", root,
                "--data-dir", data)
    assert typo.returncode == 2
    assert "no skill 'alpha-tools:setpu' (did you mean 'alpha-tools:setup'" in typo.stderr


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[McpServer]:
    async with SkillExecutionEngine(skills_dir=marketplace(tmp_path / "market"),
                                    data_dir=tmp_path / "data") as engine:
        yield McpServer(engine)


@pytest.mark.anyio
async def test_an_mcp_client_sees_and_runs_each_plugins_skill(served: McpServer) -> None:
    need_sandbox()
    async with Client(served.server) as client:  # type: ignore[arg-type]
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        # Names clients accept ([A-Za-z0-9_-]), one per skill.
        assert {"alpha-tools_setup", "beta_setup", "gamma_setup", "setup"} <= prompts
        res = await client.call_tool("run_skill_script", {
            "skill": "gamma:setup", "script": "scripts/hello.py", "args": ["m"]})
        assert not res.is_error, res.content
        text = "\n".join(c.text for c in res.content if c.type == "text")
        assert json.loads(json.loads(text)["stdout"]) == {"plugin": "gamma", "argv": ["m"]}


def test_a_folder_linked_twice_is_loaded_once(tmp_path: Path) -> None:
    """UiPath's repository is one plugin (``.claude-plugin/plugin.json`` at its top) and
    links ``plugins/uipath`` to its own top: each of its skills was found twice and the
    second refused as "already defined"."""
    root = tmp_path / "repo"
    (root / ".claude-plugin").mkdir(parents=True)
    (root / ".claude-plugin" / "plugin.json").write_text('{"name": "acme"}')
    _skill(root / "skills" / "admin", "acme", name="admin")
    (root / "plugins").mkdir()
    (root / "plugins" / "acme").symlink_to("..")
    report = load_skills(root)
    assert report.problems == ()
    assert [s.id for s in report.skills] == ["acme:admin"]
    assert report.skills[0].path == root / "skills" / "admin"  # the shallowest path



def test_a_plugins_own_skill_folders_are_its(tmp_path: Path) -> None:
    """plugin.json's ``skills`` names folders of skills or skill folders beside the default
    ``skills/``; a path that leaves the plugin names nothing of it."""
    root = tmp_path / "root"
    tools = root / "tools"
    (tools / ".claude-plugin").mkdir(parents=True)
    (tools / ".claude-plugin" / "plugin.json").write_text(json.dumps(
        {"name": "tools", "skills": ["./custom/skills/", "./extra/one", "../outside"]}))
    _skill(tools / "skills" / "setup", "tools")
    _skill(tools / "custom" / "skills" / "deploy", "tools", name="deploy")
    _skill(tools / "extra" / "one", "tools", name="one")
    _skill(tools / "extra" / "two", "tools", name="two")  # not named: a plain skill
    _skill(root / "outside", "none", name="outside")
    lone = root / "lone"
    (lone / ".claude-plugin").mkdir(parents=True)
    (lone / ".claude-plugin" / "plugin.json").write_text('{"name": "lone", "skills": "./kit"}')
    _skill(lone / "kit" / "build", "lone", name="build")
    report = load_skills(root)
    assert report.problems == ()
    assert sorted(s.id for s in report.skills) == [
        "lone:build", "outside", "tools:deploy", "tools:one", "tools:setup", "two"]


_USES_LIB = ("import os, sys\n"
             "sys.path.insert(0, os.path.join(os.path.dirname(__file__), '../../../scripts/lib'))\n"
             "import shared\nprint(shared.GREETING, sys.argv[1:])\n")


def test_a_plugins_skills_use_what_the_plugin_ships(tmp_path: Path) -> None:
    """power-platform-skills: 34 of power-pages' 38 skill scripts load the plugin's
    ``scripts/lib``, and its SKILL.md files run the plugin's own scripts
    (``${CLAUDE_PLUGIN_ROOT}/scripts/x.js``). Claude Code ships the plugin whole; in the
    sandbox a plugin's skill reads (never writes) its plugin's folder, and runs its scripts
    by paths relative to the skill. A plain skill still reads only its own folder."""
    need_sandbox()
    root = tmp_path / "skills"
    plugin = root / "pages"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text('{"name": "pages"}')
    (plugin / "scripts" / "lib").mkdir(parents=True)
    (plugin / "scripts" / "lib" / "shared.py").write_text("GREETING = 'from the plugin'\n")
    (plugin / "scripts" / "status.py").write_text(
        "import pathlib\nprint('status', pathlib.Path(__file__).name)\n"
        "pathlib.Path(__file__).with_name('scribble.txt').write_text('x')\n")
    site = plugin / "skills" / "site"
    _skill(site, "pages", name="site")
    (site / "SKILL.md").write_text(
        "---\nname: site\ndescription: Site.\n---\n"
        "Run `node ${CLAUDE_PLUGIN_ROOT}/scripts/status.py`, then "
        "`${CLAUDE_SKILL_DIR}/scripts/uses_lib.py`.\n"
        "## Portability with ${CLAUDE_PLUGIN_ROOT}\nOpenClaw: `{baseDir}/scripts/x.py`.\n"
        "Status: `python3 {baseDir}/scripts/status.py`.\n")
    (site / "scripts" / "uses_lib.py").write_text(_USES_LIB)
    (site / "scripts" / "where.sh").write_text(
        'echo "$CLAUDE_PLUGIN_ROOT" "$CLAUDE_SKILL_DIR"\n')
    plain = root / "plain"
    _skill(plain, "none", name="plain")
    (plain / "scripts" / "uses_lib.py").write_text(_USES_LIB.replace("../../..", "../.."))
    (root / "scripts" / "lib").mkdir(parents=True)
    (root / "scripts" / "lib" / "shared.py").write_text("GREETING = 'not yours'\n")

    async def go() -> None:
        async with SkillExecutionEngine(skills_dir=root, data_dir=tmp_path / "data") as eng:
            skill = eng.skills.get("pages:site")
            assert skill.instructions is not None
            assert "`node ../../scripts/status.py`" in skill.instructions
            assert "`./scripts/uses_lib.py`" in skill.instructions
            # Prose about the variable keeps it (richfrem's read "must use `../..`");
            # OpenClaw's {baseDir} is the skill's folder, as ${CLAUDE_SKILL_DIR} is.
            assert "## Portability with ${CLAUDE_PLUGIN_ROOT}\n" in skill.instructions
            assert "`./scripts/x.py`" in skill.instructions
            # ... unless the file is its plugin's (last30days' {baseDir}/scripts/x.py, a
            # script of the plugin's folder: it said ./scripts/x.py, which is not there).
            assert "`python3 ../../scripts/status.py`" in skill.instructions
            res = await eng.run_script("pages:site", "./scripts/uses_lib.py", args=["a"])
            assert res.ok, res.error
            assert res.output["stdout"] == "from the plugin ['a']\n"
            # As Claude Code names them to a skill's commands (plugins' scripts read them).
            res = await eng.run_script("pages:site", "scripts/where.sh")
            assert res.ok, res.error
            assert res.output["stdout"] == f"{plugin} {site}\n"
            # The plugin's own script: it runs, and cannot write beside itself.
            res = await eng.run_script("pages:site", "../../scripts/status.py")
            assert res.error is not None and "status status.py" in res.error.details["stdout"]
            assert "PermissionError" in res.error.details["stderr"]
            assert not (plugin / "scripts" / "scribble.txt").exists()
            for escape in ("../../../plain/scripts/hello.py", "../../../../etc/passwd"):
                res = await eng.run_script("pages:site", escape)
                assert res.error is not None and res.error.code == "script_outside_skill"
                assert "outside the plugin folder of skill 'pages:site'" in res.error.message
            res = await eng.run_script("plain", "scripts/uses_lib.py")  # not a plugin
            assert res.error is not None
            assert "ModuleNotFoundError" in res.error.details["stderr"]
            res = await eng.run_script("plain", "../scripts/lib/shared.py")
            assert res.error is not None and res.error.code == "script_outside_skill"

    import asyncio
    asyncio.run(go())


def test_a_marketplace_lists_its_plugins_however_deep(tmp_path: Path) -> None:
    """jeremylongshore's marketplace lists 456 plugins as ``./plugins/<category>/<plugin>``:
    their 2,994 skills lay five folders down, below the walk's reach, and none loaded."""
    root = tmp_path / "market"
    (root / ".claude-plugin").mkdir(parents=True)
    (root / ".claude-plugin" / "marketplace.json").write_text(json.dumps({"plugins": [
        {"name": "deep", "source": "./plugins/devops/ci/deep"},
        {"name": "solo", "source": "./providers/claude/a/b/solo"},
        {"name": "away", "source": "./../elsewhere"}]}))
    _skill(root / "plugins" / "devops" / "ci" / "deep" / "skills" / "setup", "deep")
    _skill(root / "providers" / "claude" / "a" / "b" / "solo", "solo", name="solo")
    _skill(tmp_path / "elsewhere" / "skills" / "far", "away", name="far")
    report = load_skills(root)
    assert report.problems == ()
    assert sorted(s.id for s in report.skills) == ["deep:setup", "solo"]


def test_a_skills_folder_that_is_a_skill_still_shows_those_below(tmp_path: Path) -> None:
    """grahama1970/agent-skills: a stray skills/SKILL.md made the folder one skill, and
    its 86 skill folders were never read."""
    root = tmp_path / "skills"
    _skill(root, "top", name="skills")
    _skill(root / "one", "x", name="one")
    _skill(root / "group" / "two", "x", name="two")
    assert sorted(s.id for s in load_skills(root).skills) == ["one", "skills", "two"]


def test_a_plugin_json_at_a_projects_top_opens_nothing_of_the_project(tmp_path: Path) -> None:
    """A Grafana plugin's repository has plugin.json at its top, and may keep skills in
    skills/: they are named as its, but read only their own folders, not the project's
    .env. Only .claude-plugin/ (or a marketplace's list) says a folder ships whole."""
    need_sandbox()
    project = tmp_path / "grafana-panel"
    project.mkdir()
    (project / "plugin.json").write_text('{"name": "panel", "type": "panel"}')
    (project / ".env").write_text("DB_PASSWORD=hunter2hunter2\n")
    _skill(project / "skills" / "helper", "panel", name="helper")
    (project / "skills" / "helper" / "scripts" / "peek.py").write_text(
        "import sys\nprint(open(sys.argv[1]).read())\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    async def go() -> Any:
        async with SkillExecutionEngine(skills_dir=project / "skills",
                                        data_dir=tmp_path / "data") as eng:
            skill = eng.skills.get("panel:helper")
            assert skill.plugin_root is None
            peek = await eng.run_script("panel:helper", "scripts/peek.py",
                                        args=[str(project / ".env")])
            up = await eng.run_script("panel:helper", "../../plugin.json")
            return peek, up

    import asyncio
    peek, up = asyncio.run(go())
    assert peek.error is not None and "hunter2" not in str(peek.error.details)
    assert ("PermissionError" in peek.error.details["stderr"]
            or "No such file" in peek.error.details["stderr"])  # hidden, or refused
    assert up.error is not None and up.error.code == "script_outside_skill"


def test_a_plugin_named_as_a_skill_does_not_take_its_script_calls(tmp_path: Path) -> None:
    """A plugin 'x' with a skill 'run' is 'x:run', the id of skill x's script 'run' too:
    the script call went to the plugin's skill, with the call's files and stdin."""
    root = tmp_path / "skills"
    mine = root / "x"
    (mine / "scripts").mkdir(parents=True)
    (mine / "SKILL.md").write_text("---\nname: x\ndescription: Mine.\n---\nRun run.\n")
    (mine / "run").write_text("#!/usr/bin/env python3\nprint('mine')\n")
    evil = root / "evil-market" / "x"
    (evil / ".claude-plugin").mkdir(parents=True)
    (evil / ".claude-plugin" / "plugin.json").write_text('{"name": "x"}')
    _skill(evil / "skills" / "run", "evil", name="run")
    (evil / "skills" / "run" / "skill.json").write_text(
        '{"id": "run", "version": "1.0.0", "command": ["python3", "scripts/hello.py"]}')

    async def go() -> list[Any]:
        async with SkillExecutionEngine(skills_dir=root, data_dir=tmp_path / "data") as eng:
            assert "x:run" in eng.skills and eng.skills.get("x").scripts == ("run",)
            # However the path is spelled (the hostile review's ./run took x:run's secrets,
            # permissions and trust), and by the derived id given whole.
            return [*[await eng.run_script("x", spelled, stdin=b"for mine only")
                      for spelled in ("run", "./run", ".//run", "scripts/../run")],
                    await eng.execute("x:./run", {"args": []}),
                    # Skill x's script "run:scripts/hello.py" named the plugin skill x:run's
                    # script, run under a grant of x's alone, with x:run's secrets.
                    await eng.run_script("x", "run:scripts/hello.py")]

    import asyncio
    *spelled, other = asyncio.run(go())
    for r in spelled:
        assert r.error is not None and r.error.code == "script_ambiguous", r
        assert r.attempts == 0 and "evil-market" in r.error.message
    assert other.error is not None and other.error.code == "script_outside_skill", other
    assert other.attempts == 0 and "names a script of another skill, 'x:run'" in (
        other.error.message)


def test_run_from_a_plugins_top_the_engines_folder_stays_closed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cloned a plugin and ran skillexec at its top: the plugin's folder was the engine's
    working folder too, and its skills read the operator's skillexec.toml and .env there.
    The engine's folders stay closed; the skill's own stays open."""
    need_sandbox()
    plug = tmp_path / "plug"
    (plug / ".claude-plugin").mkdir(parents=True)
    (plug / ".claude-plugin" / "plugin.json").write_text('{"name": "plug"}')
    (plug / ".env").write_text("operator only: abcdefabcdef\n")  # not masked
    _skill(plug / "skills" / "a", "plug", name="a")
    (plug / "skills" / "a" / "scripts" / "peek.py").write_text(
        "import sys\nfor p in sys.argv[1:]:\n    try:\n        print(open(p).read())\n"
        "    except OSError as e:\n        print(type(e).__name__)\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    monkeypatch.chdir(plug)

    async def go() -> Any:
        async with SkillExecutionEngine(skills_dir=plug / "skills",
                                        data_dir=tmp_path / "data") as eng:
            return await eng.run_script("plug:a", "scripts/peek.py", args=[
                str(plug / ".env"), str(plug / "skills" / "a" / "SKILL.md")])

    import asyncio
    r = asyncio.run(go())
    assert r.ok, r.error
    assert "abcdef" not in r.output["stdout"] and "description: Set up plug." in (
        r.output["stdout"])


def test_a_plugin_holding_the_engines_folders_is_not_opened_by_links_or_the_sandbox(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin's links (references/notes.md -> ../../../.env) were listed and served (CLI,
    HTTP to a viewer, MCP) from a cloned plugin's top, where the sandbox kept it closed;
    run from inside the plugin (its skills/ folder) as an unprivileged user, or with the
    data dir in it, the sandbox opened the whole plugin: the journal, the signing key."""
    from skillexec.errors import SkillNotFoundError
    from skillexec.skills.bundle import bundled_file
    need_sandbox()
    plug = tmp_path / "plug"
    (plug / ".claude-plugin").mkdir(parents=True)
    (plug / ".claude-plugin" / "plugin.json").write_text('{"name": "plug"}')
    (plug / ".env").write_text("operator only: abcdefabcdef\n")
    (plug / "operator.toml").write_text("token = 'fedcbafedcba'\n")
    (plug / ".data").mkdir()
    (plug / "shared").mkdir()
    (plug / "shared" / "lib.md").write_text("shared text\n")
    a = plug / "skills" / "a"
    _skill(a, "plug", name="a")
    (a / "references").mkdir()
    for name, target in (("env.md", "../../../.env"), ("conf.md", "../../../operator.toml"),
                         ("journal.md", "../../../.data/key.bin"),
                         ("lib.md", "../../../shared/lib.md")):
        (a / "references" / name).symlink_to(target)
    (a / "scripts" / "peek.py").write_text(
        "import sys\nfor p in sys.argv[1:]:\n    try:\n        print(open(p).read())\n"
        "    except OSError as e:\n        print(type(e).__name__)\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)

    def listed() -> tuple[Any, list[str]]:
        [skill] = [s for s in load_skills(plug / "skills").skills if s.id == "plug:a"]
        return skill, sorted(r.path for r in skill.resources if r.path.startswith("refer"))

    # Run from outside: the plugin ships whole, but no link leads into a hidden folder.
    monkeypatch.chdir(tmp_path)
    skill, paths = listed()
    assert skill.plugin_root is not None
    assert paths == ["references/conf.md", "references/lib.md"]  # not the .env
    (plug / ".data" / "key.bin").write_text("signing key\n")
    with pytest.raises(SkillNotFoundError):
        bundled_file(skill, "references/journal.md")
    # From the plugin's top, or inside it: not shipped, no link into it listed or served.
    for cwd in (plug, plug / "skills"):
        monkeypatch.chdir(cwd)
        skill, paths = listed()
        assert skill.plugin_root is None and paths == [], (cwd, paths)
        with pytest.raises(SkillNotFoundError):
            bundled_file(skill, "references/env.md")

    async def go() -> Any:
        async with SkillExecutionEngine(skills_dir=plug / "skills",
                                        data_dir=data) as eng:
            return await eng.run_script("plug:a", "scripts/peek.py", args=[
                str(plug / ".env"), str(plug / "operator.toml"),
                str(plug / "skills" / "a" / "SKILL.md")])

    import asyncio
    for cwd, data in ((plug / "skills", tmp_path / "data"), (tmp_path, plug / ".data")):
        monkeypatch.chdir(cwd)
        r = asyncio.run(go())
        assert r.ok, r.error
        out = r.output["stdout"]
        assert "abcdef" not in out and "fedcba" not in out, (cwd, data, out)
        assert "description: Set up plug." in out


def test_a_plugins_scripts_folder_linked_out_of_it_offers_nothing(tmp_path: Path) -> None:
    """A plugin's scripts/ -> /usr/bin listed a hundred of another folder's files as the
    skill's scripts (names from 0700 folders too, to a root engine), none of which ran."""
    plug = tmp_path / "plug"
    (plug / ".claude-plugin").mkdir(parents=True)
    (plug / ".claude-plugin" / "plugin.json").write_text('{"name": "p"}')
    _skill(plug / "skills" / "s", "p", name="s")
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret-name.py").write_text("print(1)\n")
    (plug / "scripts").symlink_to(outside)
    (plug / "bin").mkdir()
    (plug / "bin" / "tool.sh").write_text("echo ok\n")
    with (plug / "skills" / "s" / "SKILL.md").open("a") as f:
        f.write("Then `../../bin/tool.sh`, or secret-name.py.\n")
    [skill] = load_skills(plug / "skills").skills
    assert skill.scripts == ("scripts/hello.py", "../../bin/tool.sh")


def test_a_listed_plugin_with_a_bare_plugin_json_ships_whole(tmp_path: Path) -> None:
    """terrylica's marketplace lists 42 plugins that keep plugin.json at their top: 39 lost
    their shared files (pushover's ../_lib/find_jingles.sh was refused, doc-tools'
    node_modules unreadable), which a marketplace's listing ships; one not listed stays
    closed, as Grafana's plugins are."""
    root = tmp_path / "market"
    (root / ".claude-plugin").mkdir(parents=True)
    (root / ".claude-plugin" / "marketplace.json").write_text(json.dumps({
        "name": "m", "plugins": [{"name": "listed-name", "source": "./plugins/tools"}]}))
    for name in ("tools", "loose"):
        plugin = root / "plugins" / name
        _skill(plugin / "skills" / "hello", name, name="hello")
        (plugin / "plugin.json").write_text(json.dumps({"name": name}))
        (plugin / "skills" / "_lib").mkdir()
        (plugin / "skills" / "_lib" / "jingles.sh").write_text("echo jingle\n")
    os.chmod(tmp_path, 0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    by_id = {s.id: s for s in load_skills(root).skills}
    assert by_id["tools:hello"].plugin_root == root / "plugins" / "tools"
    assert by_id["loose:hello"].plugin_root is None

    async def go() -> Any:
        async with SkillExecutionEngine(skills_dir=root, data_dir=tmp_path / "d") as eng:
            return [await eng.run_script(f"{p}:hello", "../_lib/jingles.sh")
                    for p in ("tools", "loose")]

    import asyncio
    tools, loose = asyncio.run(go())
    assert tools.ok and tools.output["stdout"] == "jingle\n", tools.error
    assert loose.error is not None and loose.error.code == "script_outside_skill"


def test_a_plugin_file_its_instructions_name_is_served(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """monkey-skills: ${CLAUDE_PLUGIN_ROOT}/skills/thinking-session/references/x.md reads
    as ../../skills/... in the instructions, and no route served it (the skill's sandbox
    reads it); never a hidden file, nor one out of the plugin."""
    from skillexec.errors import SkillNotFoundError
    from skillexec.skills.bundle import bundled_file
    monkeypatch.chdir(tmp_path)
    plug = tmp_path / "plug"
    (plug / ".claude-plugin").mkdir(parents=True)
    (plug / ".claude-plugin" / "plugin.json").write_text('{"name": "plug"}')
    (plug / ".env").write_text("secret\n")
    (tmp_path / "outside.md").write_text("not the plugin's\n")
    _skill(plug / "skills" / "a", "plug", name="a")
    (plug / "skills" / "a" / "SKILL.md").write_text(
        "---\nname: a\ndescription: A.\n---\n"
        "Read `${CLAUDE_PLUGIN_ROOT}/skills/b/references/x.md`.\n")
    (plug / "skills" / "b" / "references").mkdir(parents=True)
    (plug / "skills" / "b" / "references" / "x.md").write_text("the schema\n")
    [a] = [s for s in load_skills(plug / "skills").skills if s.id == "plug:a"]
    assert "`../../skills/b/references/x.md`" in (a.instructions or "")
    path, mime = bundled_file(a, "../../skills/b/references/x.md")
    assert path.read_text() == "the schema\n" and mime == "text/markdown"
    for rel in ("../../.env", "../../../outside.md", "../../skills/b/references"):
        with pytest.raises(SkillNotFoundError):
            bundled_file(a, rel)


def test_a_marketplace_too_large_to_read_is_named(tmp_path: Path) -> None:
    """A marketplace.json over 1 MiB was ignored without a word: its plugins did not load."""
    root = tmp_path / "market"
    (root / ".claude-plugin").mkdir(parents=True)
    (root / ".claude-plugin" / "marketplace.json").write_text(
        json.dumps({"plugins": [{"name": "p", "source": "./deep/p"}]}) + " " * (1 << 20))
    report = load_skills(root)
    assert [p.reason for p in report.problems] == [
        f"{root / '.claude-plugin' / 'marketplace.json'}: larger than 1024 KiB, not read: "
        "the plugins it lists load only where a walk of folders finds them"]


def test_a_scripts_task_id_that_names_an_absent_plugin_skill_gets_none_of_its_grants(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain skill 'plug' with a script 'a' runs as task 'plug:a': while no plugin skill
    plug:a was loaded (a grant made ahead, left behind, or another node's), the script got
    plug:a's secrets, its network grant and its trust, and a key granted plug:a alone ran
    it."""
    from skillexec.security.principals import Principal, Role
    need_sandbox()
    folder = tmp_path / "skills" / "plug"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: plug\ndescription: P.\n---\nRun ./a.\n")
    (folder / "a").write_text("#!/usr/bin/env python3\nimport os\n"
                              "print(os.environ.get('PLUG_TOKEN', 'none'))\n")
    os.chmod(tmp_path, 0o755)
    monkeypatch.setenv("PLUG_TOKEN", "for-the-plugin-only")
    cfg = EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "d",
                       security={"skill_secrets": {"plug:a": ["PLUG_TOKEN"]}},
                       isolation={"trusted_skills": ["plug:a"]},
                       permissions={"per_skill": {"plug:a": ["network_access"]}})
    key = Principal("k", Role.RUNNER, skills=frozenset({"plug:a"}))

    async def go() -> tuple[Any, Any]:
        async with SkillExecutionEngine(config=cfg) as eng:
            assert eng.skills.get("plug").scripts == ("a",)
            return (await eng.run_script("plug", "a"),
                    await eng.execute("plug:a", {"args": []}, principal=key))

    import asyncio
    mine, keyed = asyncio.run(go())
    assert mine.ok and mine.output["stdout"] == "none\n", mine.error
    assert keyed.error is not None and keyed.error.code == "skill_not_granted", keyed


def test_a_plugin_holding_the_engines_data_dir_given_by_option_is_not_served(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the data dir inside a plugin by --data-dir, skillexec.toml or data_dir= (not
    the environment the loader reads), a viewer key fetched the audit signing key and the
    journal by ../../ paths."""
    from skillexec.errors import SkillNotFoundError
    from skillexec.skills.bundle import bundled_file
    monkeypatch.chdir(tmp_path)
    plug = tmp_path / "plug"
    (plug / ".claude-plugin").mkdir(parents=True)
    (plug / ".claude-plugin" / "plugin.json").write_text('{"name": "plug"}')
    _skill(plug / "skills" / "a", "plug", name="a")
    (plug / "scripts").mkdir()
    (plug / "scripts" / "tool.sh").write_text("echo hi\n")
    with (plug / "skills" / "a" / "SKILL.md").open("a") as f:
        f.write("Then ../../scripts/tool.sh.\n")

    async def go() -> Any:
        async with SkillExecutionEngine(skills_dir=plug / "skills",
                                        data_dir=plug / "state") as eng:
            return eng.skills.get("plug:a")

    import asyncio
    skill = asyncio.run(go())
    assert (plug / "state" / "journal.db").exists()
    assert skill.plugin_root is None and skill.scripts == ("scripts/hello.py",)
    for rel in ("../../state/journal.db", "../../scripts/tool.sh"):
        with pytest.raises(SkillNotFoundError):
            bundled_file(skill, rel)

    # With the data dir elsewhere, the plugin ships whole.
    async def elsewhere() -> Any:
        async with SkillExecutionEngine(skills_dir=plug / "skills",
                                        data_dir=tmp_path / "d") as eng:
            return eng.skills.get("plug:a")
    shipped = asyncio.run(elsewhere())
    assert shipped.plugin_root is not None
    assert bundled_file(shipped, "../../scripts/tool.sh")[0].name == "tool.sh"
