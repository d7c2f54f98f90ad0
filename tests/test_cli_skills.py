"""``skillexec skills ...`` on broken folders: every problem in one run, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT
from tests.test_cli import cli


def _folder(root: Path, manifest: dict[str, object], code: str) -> Path:
    root.mkdir(parents=True)
    (root / "skill.json").write_text(json.dumps(manifest))
    (root / "main.py").write_text(code)
    return root


def test_validate_reports_every_problem_of_a_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "skills" / "many", {
        "id": "many", "version": "1.0.0", "entry_point": "main:run_it",
        "parameters_schema": {"n": {"type": "intger"}},
        "execution": {"isolation": "inline", "priority": 12}},
        "def execute(input_data, context):\n    return 1\n")
    r = cli("skills", "validate", str(folder), "--json", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    [finding] = json.loads(r.stdout)
    errors = " | ".join(finding["errors"])
    assert "execution.priority must be a whole number from 0 to 9, not 12" in errors
    assert "unknown type 'intger'" in errors
    assert "main.py defines no 'run_it' (it defines execute)" in errors
    assert len(finding["errors"]) == 3 and finding["ok"] is False
    r = cli("skills", "validate", str(folder), cwd=tmp_path)  # the same, for a person
    assert r.returncode == 2 and r.stdout.count("  error ") == 3


def test_an_entry_point_naming_a_missing_function_is_refused(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    _folder(skills / "typo", {"id": "typo", "version": "1.0.0", "entry_point": "main:exec",
                              "execution": {"isolation": "inline"}},
            "def execute(input_data, context):\n    return 1\n")
    r = cli("skills", "validate", str(skills / "typo"), cwd=tmp_path)
    assert r.returncode == 2 and "main.py defines no 'exec'" in r.stdout
    r = cli("run", "typo", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 2, r.stderr  # refused before running, not failed
    assert "defines no 'exec'" in r.stderr and len(r.stderr.splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_validate_blames_the_linked_copy_not_the_folder_it_points_at(tmp_path: Path) -> None:
    """A symlink to a skill folder beside it defines that skill twice: the link is the
    invalid one (its target was reported invalid); an error is reported once."""
    skills = tmp_path / "skills"
    _folder(skills / "real", {"id": "real", "version": "1.0.0", "entry_point": "main:execute"},
            "def execute(input_data):\n    return 1\n")
    (skills / "zlink").symlink_to(skills / "real")
    _folder(skills / "bad-id", {"id": "bad id!", "version": "1.0.0"},
            "def execute(d):\n    return 1\n")
    r = cli("skills", "validate", str(skills), "--json", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    found = {Path(f["path"]).name: f for f in json.loads(r.stdout)}
    assert found["real"]["ok"] is True, found["real"]
    assert found["zlink"]["ok"] is False and "already defined" in found["zlink"]["errors"][0]
    assert len(found["bad-id"]["errors"]) == len(set(found["bad-id"]["errors"])) == 1


def test_validate_accepts_an_agent_skill_and_refuses_a_folder_that_offers_nothing(
        tmp_path: Path) -> None:
    """Py Copilot's 18 skills were each "invalid" (no executable entry), though `skills list`
    lists them as offering their instructions or scripts, and 6 of them run end to end."""
    skills = tmp_path / "skills"
    scripts = skills / "with-scripts"
    (scripts / "scripts").mkdir(parents=True)
    (scripts / "SKILL.md").write_text("---\nname: with-scripts\ndescription: D.\n---\nRun it.\n")
    (scripts / "scripts" / "go.py").write_text("print(1)\n")
    empty = skills / "empty"
    empty.mkdir()
    (empty / "skill.json").write_text('{"id": "empty", "version": "1.0.0"}')
    r = cli("skills", "validate", str(skills), "--json", cwd=tmp_path)
    found = {f["id"]: f for f in json.loads(r.stdout)}
    assert r.returncode == 2  # for the empty one
    assert found["with-scripts"]["ok"] is True, found["with-scripts"]
    # An Agent Skill that names no entry is told nothing of it (83 such warnings for
    # cat-agent-skills' 83 well-formed skills).
    assert found["with-scripts"]["warnings"] == [], found["with-scripts"]
    assert found["empty"]["ok"] is False
    assert found["empty"]["errors"] == [
        "no executable entry: no entry_point, command or main_file is given, and the folder "
        "has no Python file at its top level"]
    r = cli("skills", "validate", str(scripts), cwd=tmp_path)
    assert r.returncode == 0, r.stdout


def test_show_prints_a_summary_for_a_person_and_json_on_request(tmp_path: Path) -> None:
    """`skills show ID` printed the JSON document (it is behind --json): a person reads what
    the skill offers, its parameters with their types and defaults, how it runs, its
    environment and where it was loaded from."""
    skills = tmp_path / "skills"
    _folder(skills / "greet", {
        "id": "greet", "version": "1.2.0", "description": "Says hello.",
        "parameters_schema": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "description": "Who to greet."},
            "times": {"type": "integer", "default": 2},
            "tone": {"enum": ["warm", "dry"], "default": "warm"}}},
        "dependencies": ["no-such-pkg-5e1c>=1"]},
        "def execute(input_data, context):\n    return 1\n")
    (skills / "greet" / "scripts").mkdir()
    (skills / "greet" / "scripts" / "wave.py").write_text("print('o/')\n")
    r = cli("skills", "show", "greet", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert not out.lstrip().startswith("{"), out
    lines = [" ".join(line.split()) for line in out.splitlines()]
    assert lines[0] == "greet 1.2.0" and lines[1] == "Says hello."
    assert f"loaded from {skills / 'greet'} (skill.json)" in lines
    assert "offers entry + 1 script" in lines and "entry main.py:(discovered)" in lines
    assert "scripts scripts/wave.py" in lines
    assert "name: string, required — Who to greet." in lines
    assert "times: integer, default 2" in lines
    assert 'tone: one of "warm", "dry", default "warm"' in lines
    assert any(line.startswith("runs as sandbox, timeout ") for line in lines), out
    assert ("environment not installed (requires no-such-pkg-5e1c>=1, declared in "
            "skill.json)") in lines
    assert any(line.startswith("dependencies ") and "no-such-pkg-5e1c" in line
               for line in lines), out
    (skills / "greet" / "skill.json").write_text(json.dumps({"id": "greet", "version": "1.2.0"}))
    r = cli("skills", "show", "greet", "--skills-dir", str(skills), cwd=tmp_path)
    assert "environment none declared (skillexec skills check greet lists what its code " \
           "imports that nothing provides)" in " ".join(r.stdout.split()), r.stdout
    assert "parameters none" in " ".join(r.stdout.split())
    r = cli("skills", "show", "greet", "--json", "--skills-dir", str(skills), cwd=tmp_path)
    body = json.loads(r.stdout)
    assert body["id"] == "greet" and body["scripts"] == ["scripts/wave.py"]
    assert body["id"] == "greet" and body["environment"]["state"] == "none needed"


def _rounder(skills: Path) -> None:
    """A skill whose schema names `value` and `precision` and leaves other keys allowed."""
    _folder(skills / "rounder", {
        "id": "rounder", "version": "1.0.0",
        "parameters_schema": {"type": "object", "properties": {
            "value": {"type": "number"}, "precision": {"type": "integer", "default": 6}}}},
        "def execute(input_data, context):\n"
        "    return round(input_data['value'], input_data.get('precision', 6))\n")


def test_run_points_out_a_parameter_its_schema_does_not_name(tmp_path: Path) -> None:
    """`-p precison=2` (a typo) was accepted in silence: the schema allows other keys, so
    the call ran with the default precision. The command now says the key is not one of
    the skill's parameters, and which one was likely meant."""
    skills = tmp_path / "skills"
    _rounder(skills)
    where = ("--skills-dir", str(skills), "--data-dir", str(tmp_path / "d"))
    r = cli("run", "rounder", "-p", "value=1.23456789", "-p", "precison=2", *where,
            cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "1.234568", r.stderr
    assert ("note: 'precison' is not one of the parameters of skill 'rounder' (did you mean "
            "'precision'?); it was passed on as given") in r.stderr
    r = cli("run", "rounder", "-p", "value=1.23456789", "-p", "precision=2", *where,
            cwd=tmp_path)
    assert (r.returncode, r.stdout.strip()) == (0, "1.23") and "note:" not in r.stderr


def test_list_says_a_shared_reason_for_no_entry_once(tmp_path: Path) -> None:
    """Anthropic's 17 Agent Skills listed 17 lines below the table, each the same sentence
    (SKILL.md gives no entry_point ...). Skills that share a reason now share its line."""
    skills = tmp_path / "skills"
    for name in ("alpha", "beta", "gamma"):
        (skills / name).mkdir(parents=True)
        (skills / name / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: Does {name}.\n---\nSteps.\n")
    (skills / "gamma" / "scripts").mkdir()
    (skills / "gamma" / "scripts" / "go.py").write_text("print(1)\n")
    r = cli("skills", "list", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert out.count("SKILL.md gives no metadata.entry_point") == 1, r.stdout
    assert "no entry alpha, beta, gamma: SKILL.md gives no metadata.entry_point" in out, out


def test_list_with_a_text_shows_the_skills_that_hold_it(tmp_path: Path) -> None:
    """A marketplace of 241 skills (or OOMOL's 1,051) listed whole: ``skills list TEXT``
    keeps those whose id, name or description holds it, in any case, as the HTTP API's
    ``search`` does."""
    skills = tmp_path / "skills"
    for name, about in (("pdf-fill", "Fill forms."), ("slides", "Make PDF decks."),
                        ("gifs", "Animated images.")):
        (skills / name).mkdir(parents=True)
        (skills / name / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: {about}\n---\nSteps.\n")
    (skills / "broken").mkdir()
    (skills / "broken" / "SKILL.md").write_text("---\nname: broken\n")  # never closed
    where = ("--skills-dir", str(skills))
    doc = json.loads(cli("skills", "list", "pdf", "--json", *where, cwd=tmp_path).stdout)
    assert [d["id"] for d in doc] == ["pdf-fill", "slides"]
    r = cli("skills", "list", "PDF", *where, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "pdf-fill" in r.stdout and "slides" in r.stdout and "gifs" not in r.stdout
    assert "not loaded" not in r.stdout  # the folder's problems: in the whole list
    none = cli("skills", "list", "zebra", *where, cwd=tmp_path)
    assert none.returncode == 0, none.stderr
    assert " ".join(none.stdout.split()) == (
        "no skill's id, name or description holds 'zebra' (of the 3 skills)")


def test_show_and_check_take_the_path_of_a_skill_folder(tmp_path: Path) -> None:
    """``run`` and ``script`` took a skill folder's path; ``skills show`` said "no skills
    folder: pass --skills-dir", though the user had named the folder itself."""
    skill = tmp_path / "market" / "plugins" / "docs" / "skills" / "check"
    (skill / "scripts").mkdir(parents=True)
    (skill.parent.parent / "plugin.json").write_text('{"name": "docs"}')
    (skill / "SKILL.md").write_text("---\nname: check\ndescription: Checks.\n---\nSteps.\n")
    (skill / "scripts" / "go.py").write_text("import bs4\n")
    shown = cli("skills", "show", str(skill), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("docs:check 1.0.0")
    assert cli("skills", "show", str(skill), "--file", "scripts/go.py",
               cwd=tmp_path).stdout == "import bs4\n"
    checked = cli("skills", "check", str(skill), "--json", cwd=tmp_path)
    assert checked.returncode == 2, checked.stderr
    assert [m["module"] for m in json.loads(checked.stdout)["missing"]] == ["bs4"]
    said = " ".join(cli("skills", "check", str(skill), cwd=tmp_path).stdout.split())
    # The fix it names takes the folder as it was given (its id needs --skills-dir).
    assert said.endswith(f"or: skillexec skills install {skill} beautifulsoup4"), said
    many = cli("skills", "show", str(skill.parent), cwd=tmp_path)
    assert many.returncode == 2
    assert many.stderr.strip() == (f"skillexec: {skill.parent} is a folder of skills, not one "
                                   f"skill: pass --skills-dir {skill.parent} and a skill id")
    (tmp_path / "empty").mkdir()
    empty = cli("skills", "show", str(tmp_path / "empty"), cwd=tmp_path)
    assert empty.returncode == 2
    assert "empty: no skill.json, skill.yaml or SKILL.md" in empty.stderr
    assert "Traceback" not in many.stderr + empty.stderr


def test_list_does_not_name_a_whole_folder_without_an_entry(tmp_path: Path) -> None:
    """K-Dense's folder of 163 Agent Skills printed one line of 163 ids below the table
    (each skill's entry column says it already): past ten, the line counts them instead."""
    skills = tmp_path / "skills"
    names = [f"s{i:02d}" for i in range(12)]
    for name in names:
        (skills / name).mkdir(parents=True)
        (skills / name / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: Does {name}.\n---\nSteps.\n")
    r = cli("skills", "list", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert "no entry (every skill listed): SKILL.md gives no metadata.entry_point" in out, out
    assert "s00, s01" not in out
    (skills / "runner").mkdir()
    (skills / "runner" / "main.py").write_text("def execute(d):\n    return 1\n")
    (skills / "runner" / "skill.json").write_text(json.dumps(
        {"id": "runner", "version": "1.0.0", "entry_point": "main:execute"}))
    out = " ".join(cli("skills", "list", "--skills-dir", str(skills), cwd=tmp_path)
                   .stdout.split())
    assert "no entry (12 of the 13 skills; the entry column shows which): SKILL.md" in out, out


def test_show_prints_a_file_the_skill_bundles_and_nothing_else(tmp_path: Path) -> None:
    """The HTTP service and MCP served a skill's bundled files (the forms.md its
    instructions send a model to), the command line only listed them: ``--file`` prints
    one, byte for byte to a pipe; a file it does not list is refused by name."""
    skill = tmp_path / "skills" / "forms"
    (skill / "references").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: forms\ndescription: Fills forms.\n---\n"
                                    "Read references/forms.md first.\n")
    (skill / "references" / "forms.md").write_bytes(b"# Forms\n\x1b[2Jstep 1\n")
    (tmp_path / "secret.txt").write_text("not the skill's")
    where = ("--skills-dir", str(tmp_path / "skills"))
    r = subprocess.run([sys.executable, "-m", "skillexec", "skills", "show", "forms",
                        "--file", "references/forms.md", *where], cwd=tmp_path,
                       env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                       capture_output=True, timeout=60, check=False)
    assert (r.returncode, r.stdout) == (0, b"# Forms\n\x1b[2Jstep 1\n"), r.stderr
    for rel in ("../secret.txt", "SKILL.md", "references/none.md"):
        bad = cli("skills", "show", "forms", "--file", rel, *where, cwd=tmp_path)
        assert bad.returncode == 2 and bad.stdout == "", (rel, bad.stdout)
        assert f"skill 'forms' bundles no file {rel!r}" in bad.stderr, bad.stderr


def test_batch_points_out_a_parameter_its_schema_does_not_name(tmp_path: Path) -> None:
    """A batch line's params were taken as they came: `precison` (a typo) left the skill on
    its default, with no word, where `run -p precison=2` notes it. Each such line now gets
    the same note, with its line number."""
    skills = tmp_path / "skills"
    _rounder(skills)
    lines = [{"skill": "rounder", "params": {"value": 1.23456789, "precision": 2}},
             {"skill": "rounder", "params": {"value": 1.23456789, "precison": 2}}]
    (tmp_path / "calls.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    r = cli("batch", "calls.jsonl", "--json", "--skills-dir", str(skills), "--data-dir",
            str(tmp_path / "d"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    outputs = {row["line"]: row["output"] for row in map(json.loads, r.stdout.splitlines())}
    assert outputs == {1: 1.23, 2: 1.234568}
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("note:")]
    assert notes == ["note: line 2: 'precison' is not one of the parameters of skill "
                     "'rounder' (did you mean 'precision'?); it was passed on as given"]


def test_list_folds_py_copilot_package_paths_into_one_line(tmp_path: Path) -> None:
    """Py Copilot's own folder listed 13 near-identical lines below the table: each reason
    named its own ``app.skills.skills.<folder>`` path, so no two were the same sentence.
    The path is the folder's in every one of them: they now share one line."""
    skills = tmp_path / "skills"
    for name in ("alpha", "beta", "gamma"):
        (skills / name).mkdir(parents=True)
        (skills / name / "skill.json").write_text(json.dumps(
            {"name": name, "version": "1.0.0", "description": f"Does {name}.",
             "entry_point": f"app.skills.skills.{name}"}))
        (skills / name / "SKILL.md").write_text(
            f"---\nname: {name}\ndescription: Does {name}.\n---\nSteps.\n")
    r = cli("skills", "list", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    assert out.count("is a Py Copilot package path") == 1, r.stdout
    assert "no entry alpha, beta, gamma: entry_point 'app.skills.skills.<folder>' is a " \
           "Py Copilot package path" in out, out
    # and what can be done with them: said once
    assert out.count("skillexec skills show ID --instructions") == 1, out
    assert "skillexec script ID SCRIPT" in out, out


def test_a_skill_that_did_not_load_is_named_with_why(tmp_path: Path) -> None:
    """power-platform-skills, Qwayk, richfrem: a folder refused at load was answered "no skill
    'x' (did you mean <another>?)" by show, script, run, check and install."""
    skills = tmp_path / "skills"
    for name in ("add-sample-data", "add-dataverse"):
        (skills / name).mkdir(parents=True)
    (skills / "add-dataverse" / "SKILL.md").write_text(
        "---\nname: add-dataverse\ndescription: d\n---\nSteps.\n")
    (skills / "add-sample-data" / "SKILL.md").write_text(
        "---\nname: add-sample-data\ndescription: d\npps.\nuser-invocable: true\n---\nB.\n")
    where = ("--skills-dir", str(skills))
    for args in (("skills", "show", "add-sample-data"), ("skills", "check", "add-sample-data"),
                 ("script", "add-sample-data", "scripts/x.py"), ("run", "add-sample-data")):
        r = cli(*args, *where, cwd=tmp_path)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.count("was not loaded") == 1, (args, r.stderr)
        assert "skill 'add-sample-data' was not loaded: " in r.stderr
        assert "invalid YAML at line 5 column 1" in r.stderr and "did you mean" not in r.stderr


def test_validate_checks_the_skills_below_a_folder_that_is_one(tmp_path: Path) -> None:
    """Agent-Skills-for-Context-Engineering's top is a skill with 12 below it: skills list
    found 13, validate checked 1."""
    top = tmp_path / "ctx"
    for folder in (top, top / "skills" / "one", top / "skills" / "two"):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "SKILL.md").write_text(
            f"---\nname: {folder.name}\ndescription: D.\n---\nSteps.\n")
    r = cli("skills", "validate", str(top), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(f["id"] for f in json.loads(r.stdout)) == ["ctx", "one", "two"]


def test_run_of_a_plugins_skill_that_did_not_load_names_it(tmp_path: Path) -> None:
    """`run p:s` of a plugin's skill that did not load said "no skill 'p'" (the part before
    the colon), where show, script, check and install named it and why."""
    plugin = tmp_path / "skills" / "mobile"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text('{"name": "mobile-app"}')
    (plugin / "skills" / "add-data").mkdir(parents=True)
    (plugin / "skills" / "add-data" / "SKILL.md").write_text(
        "---\nname: add-data\ndescription: d\npps.\nx: 1\n---\nB.\n")
    r = cli("run", "mobile-app:add-data", "--skills-dir", str(tmp_path / "skills"),
            cwd=tmp_path)
    assert r.returncode == 2
    assert "skill 'mobile-app:add-data' was not loaded: " in r.stderr, r.stderr
    assert "no skill 'mobile-app'" not in r.stderr


def test_validate_refuses_a_skill_whose_packages_cannot_be_read(tmp_path: Path) -> None:
    """validate said "ok" of a skill whose requirements.txt holds a git URL, while `skills
    show` said its environment failed and every call was refused; the line is named as a
    URL, not with packaging's "Expected semicolon"."""
    folder = tmp_path / "skills" / "fetcher"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: fetcher\ndescription: F.\n---\nRun it.\n")
    (folder / "scripts" / "get.py").write_text("print(1)\n")
    (folder / "requirements.txt").write_text("requests\ngit+https://example.com/x/y.git\n")
    r = cli("skills", "validate", str(folder.parent), cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "invalid fetcher" in r.stdout
    assert ("requirements.txt: line 2: 'git+https://example.com/x/y.git' is a URL or a "
            "path, not a package") in r.stdout, r.stdout
    (folder / "requirements.txt").write_text("requests\n./vendor/y\n")
    r = cli("skills", "validate", str(folder.parent), "--json", cwd=tmp_path)
    [found] = json.loads(r.stdout)
    assert r.returncode == 2 and "'./vendor/y' is a URL or a path" in found["errors"][0]
    (folder / "requirements.txt").write_text("requests>=2\n")
    r = cli("skills", "validate", str(folder.parent), cwd=tmp_path)
    assert r.returncode == 0 and "ok fetcher" in r.stdout, r.stdout + r.stderr


def test_ids_are_printed_as_they_are_never_as_emoji(tmp_path: Path) -> None:
    """rich read ':x:' in 'plug:x: SKILL.md gives ...' as an emoji code: a plugin's skill
    showed as 'plug❌', and an author could pick names that print as another id."""
    plugin = tmp_path / "skills" / "plug"
    (plugin / ".claude-plugin").mkdir(parents=True)
    (plugin / ".claude-plugin" / "plugin.json").write_text('{"name": "plug"}')
    (plugin / "skills" / "x").mkdir(parents=True)
    (plugin / "skills" / "x" / "SKILL.md").write_text("---\nname: x\ndescription: D.\n---\nB.\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200",
           "FORCE_COLOR": "1", "TERM": "xterm"}
    r = subprocess.run([sys.executable, "-m", "skillexec", "skills", "list", "--skills-dir",
                        str(tmp_path / "skills")], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "plug:x:" in r.stdout + r.stderr and "\u274c" not in r.stdout + r.stderr


def test_list_says_older_versions_are_not_listed(tmp_path: Path) -> None:
    """tangled-skills keeps webfetch 1.0.0 and 0.1.0: the list showed one, saying nothing
    of the other."""
    for folder, version in (("webfetch", "1.0.0"), ("webfetch-0-1-0", "0.1.0")):
        d = tmp_path / "skills" / folder
        d.mkdir(parents=True)
        (d / "SKILL.md").write_text(f"---\nname: webfetch\ndescription: W.\nversion: {version}"
                                    "\n---\nGo.\n")
    r = cli("skills", "list", "--skills-dir", str(tmp_path / "skills"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "older versions 1 not listed, of webfetch" in r.stdout, r.stdout


def test_identical_copies_are_one_line_not_one_failure_each(tmp_path: Path) -> None:
    """yigitkonur keeps each of its 48 skills twice (skills/X and plugins/X/skills/X, the
    same files): 48 'not loaded ... already defined' lines read as 48 failures."""
    for where in ("a", "b"):
        for name in ("one", "two"):
            d = tmp_path / "skills" / where / name
            d.mkdir(parents=True)
            (d / "SKILL.md").write_text(f"---\nname: {name}\ndescription: D.\n---\nGo.\n")
    other = tmp_path / "skills" / "c" / "one"
    other.mkdir(parents=True)
    (other / "SKILL.md").write_text("---\nname: one\ndescription: Not the same.\n---\nGo.\n")
    r = cli("skills", "list", "--skills-dir", str(tmp_path / "skills"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("copies 2 folders hold an identical copy") == 1, r.stdout
    # A different skill under the same id is still named as not loaded, with why.
    refused = [ln for ln in r.stdout.splitlines() if ln.startswith("not loaded")]
    assert len(refused) == 1 and "c/one" in refused[0], r.stdout


def test_a_lower_case_skill_md_is_named_by_every_command_and_grouped_in_the_list(
        tmp_path: Path) -> None:
    """X-Skills ships 9,671 folders with skill.md: show, validate, check and script said
    'no SKILL.md' of a folder that visibly holds one, and list printed 9,671 lines."""
    for i in range(12):
        d = tmp_path / "skills" / f"x{i}"
        d.mkdir(parents=True)
        (d / "skill.md").write_text(f"---\nname: x{i}\ndescription: d\n---\n")
    said = "skill.md: the file must be named SKILL.md"
    for args in (("skills", "show", "skills/x1"), ("skills", "validate", "skills/x1"),
                 ("skills", "check", "skills/x1"), ("script", "skills/x1", "a.py")):
        r = cli(*args, cwd=tmp_path)
        assert r.returncode == 2 and said in r.stderr, (args, r.stderr)
    r = cli("skills", "list", "--skills-dir", "skills", cwd=tmp_path)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("not loaded")]
    assert len(lines) == 1 and lines[0].startswith("not loaded 12 folders, each: "), r.stdout
    assert lines[0].endswith("(and 11 more alike)")


def test_a_hidden_folder_of_skills_is_a_note_of_list_and_check(tmp_path: Path) -> None:
    """A marketplace's .claude/ (Claude Code's settings, hooks, skills) was 'not loaded' in
    red by skills list and 'a skill folder that could not be loaded' by skills check."""
    root = tmp_path / "skills"
    for folder in (root / "ok", root / ".claude" / "skills" / "hidden"):
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: {folder.name}\ndescription: D.\n---\nB.\n")
    listed = cli("skills", "list", "--skills-dir", str(root), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    out = " ".join(listed.stdout.split())
    assert "note " in out and "folders whose names start with '.' are not read" in out, out
    assert "not loaded" not in out
    checked = cli("skills", "check", "--skills-dir", str(root), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "could not be loaded" not in checked.stdout + checked.stderr
