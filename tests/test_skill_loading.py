"""Loading skill folders: the Py Copilot and Agent Skills formats as real folders have them."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from skillexec.errors import ManifestError
from skillexec.runtime.entry import build_input, interpret_result, load_invoker
from skillexec.skills import (
    EntryKind,
    Isolation,
    PackageDependency,
    Permission,
    SkillDependency,
    front_matter,
    is_skill_folder,
    load_skill,
    load_skills,
    normalize_parameters_schema,
    yaml_loader,
)

SKILLS = Path(__file__).resolve().parent / "fixtures" / "skills"
LOADABLE = {
    "chart-maker", "csv-analyzer", "data-analysis", "glossary", "pdf-extract",
    "report-generator", "web-scraper", "word-count", "yaml-exploit",
}
BROKEN = {"bad-execution", "bad-front-matter", "broken-json", "reserved-config"}


def write(folder: Path, files: dict[str, Any]) -> Path:
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, dict | list):
            content = json.dumps(content)
        path.write_text(content, encoding="utf-8")
    return folder


# -- the fixture tree ----------------------------------------------------------------------


def test_one_broken_skill_never_stops_the_others() -> None:
    report = load_skills(SKILLS)
    assert {s.id for s in report.skills} == LOADABLE
    assert {p.path.name for p in report.problems} == BROKEN
    for problem in report.problems:
        assert str(problem.path) in problem.reason  # every reason names the file


@pytest.mark.parametrize(
    ("folder", "says"),
    [
        ("broken-json", r"skill\.json: invalid JSON at line 5 column"),
        # line 4 of the file ("metadata:", where the list is found open), not of the YAML
        ("bad-front-matter", r"SKILL\.md: invalid YAML at line 4"),
        ("reserved-config", r"skill\.json: parameters_schema: declares 'config'"),
        ("bad-execution", r"skill\.json: execution\.priority must be a whole number from 0 to 9"),
    ],
)
def test_broken_folders_raise_a_manifest_error_naming_file_and_field(
    folder: str, says: str
) -> None:
    with pytest.raises(ManifestError, match=says):
        load_skill(SKILLS / folder)


def test_repository_shape_skill_json(tmp_path: Path) -> None:
    skill = load_skill(SKILLS / "csv-analyzer")
    assert (skill.id, skill.version, skill.name) == ("csv-analyzer", "1.3.0", "CSV Analyzer")
    assert skill.source == "skill.json"
    # "skills.csv_analyzer.main": the longest dotted suffix that is a file here is main.py
    assert skill.entry.kind is EntryKind.PYTHON
    assert skill.entry.file == SKILLS.resolve() / "csv-analyzer" / "main.py"
    assert skill.entry.attr is None
    assert skill.dependencies == (PackageDependency("pandas", ">=1.5"),
                                  PackageDependency("chardet", ""))
    assert skill.permissions == {Permission.FILE_READ}
    assert skill.default_config == {"max_rows": 100000}  # from config_schema's defaults
    for bookkeeping in ("created_at", "updated_at", "status", "installed", "downloads",
                        "rating", "usage_count", "author_email"):
        assert bookkeeping in skill.manifest
    assert skill.parameters_schema == {
        "type": "object",
        "properties": {
            "file_path": {"type": "string", "minLength": 1,
                          "description": "The CSV file to analyse."},
            "delimiter": {"type": "string", "default": ",", "minLength": 1, "maxLength": 1},
            "columns": {"type": "array", "items": {"type": "string"},
                        "description": "Only these columns."},
        },
        "required": ["file_path"],
    }
    ex = skill.execution
    assert (ex.timeout_s, ex.max_retries, ex.priority, ex.isolation) == (
        30.0, 2, 6, Isolation.PROCESS)
    assert (ex.cacheable, ex.cache_ttl_s, ex.idempotent) == (True, 300.0, True)
    assert skill.warnings == ()

    # The class-based entry runs through the engine's entry contract.
    data = tmp_path / "sales.csv"
    data.write_text("region,amount\nnorth,10\nsouth,30\n", encoding="utf-8")
    invoker = load_invoker(skill)
    raw = invoker.call(build_input({"file_path": str(data)}, skill.default_config), None)
    output, error = interpret_result(raw)
    assert error is None
    assert output["rows"] == 2
    assert output["stats"]["amount"] == {"type": "numeric", "count": 2, "min": 10.0,
                                         "max": 30.0, "mean": 20.0}


def test_documented_shape_skill_json() -> None:
    skill = load_skill(SKILLS / "report-generator")
    assert skill.entry.kind is EntryKind.PYTHON
    assert (skill.entry.file.name if skill.entry.file else None, skill.entry.attr) == (
        "main.py", "execute")
    assert skill.dependencies == (PackageDependency("pyyaml", ">=5.1"),)
    assert skill.skill_dependencies == (SkillDependency("csv-analyzer", "^1.2"),)
    assert skill.permissions == {Permission.FILE_READ, Permission.FILE_WRITE}
    # default_config wins over config_schema's defaults; the rest are filled in
    assert skill.default_config == {"heading_level": 1, "include_toc": False}
    assert skill.config_schema is not None
    assert skill.execution.isolation is None  # the engine's policy decides
    assert skill.manifest["marketplace_id"] == "skill-042"
    assert skill.manifest["examples"][0]["title"] == "Basic"


def test_py_copilots_own_folder_with_python_tags_and_no_entry() -> None:
    skill = load_skill(SKILLS / "data-analysis")
    assert skill.source == "skill.json+skill.yaml"
    assert skill.category == "data"
    assert not skill.runnable
    assert skill.entry.kind is EntryKind.NONE
    assert "no main.py or skill.py" in skill.entry.reason
    # entry_point names the skill's own package: no warning, it simply has no code to run
    assert skill.warnings == ()


def test_dependency_management_shape_and_permission_dict() -> None:
    skill = load_skill(SKILLS / "web-scraper")
    assert skill.dependencies == (
        PackageDependency("requests", ">=2.28.0"),
        PackageDependency("beautifulsoup4", "==4.12.2", optional=True),
    )  # the npm package is kept in the manifest, not checked as a Python package
    assert skill.permissions == {Permission.NETWORK_ACCESS}
    assert skill.author == "Py Copilot Team"
    assert skill.tags == ("web", "scraping", "html")
    assert (skill.entry.attr, skill.execution.concurrency) == ("execute", 4)
    assert skill.parameters_schema["required"] == ["url"]
    assert skill.parameters_schema["properties"]["follow_links"] == {
        "type": "boolean", "default": False}


def test_agent_skill_with_metadata_entry_point() -> None:
    skill = load_skill(SKILLS / "pdf-extract")
    assert (skill.id, skill.version, skill.author) == ("pdf-extract", "2.1.0", "docs-team")
    assert skill.entry.kind is EntryKind.PYTHON
    assert skill.entry.file == SKILLS.resolve() / "pdf-extract" / "scripts" / "extract.py"
    assert skill.entry.attr == "main"
    assert skill.manifest["instructions"].startswith("# PDF extract")
    assert skill.manifest["license"] == "Apache-2.0"
    assert skill.manifest["allowed_tools"] == "Read Bash(python:*)"
    assert any("key 'author' is not in the Agent Skills specification" in w for w in skill.warnings)
    assert skill.tags == ("pdf", "text")


def test_a_top_level_version_is_used_and_said_to_be_outside_the_specification(
        tmp_path: Path) -> None:
    folder = tmp_path / "versioned"
    folder.mkdir()
    (folder / "SKILL.md").write_text("---\nname: versioned\ndescription: Has a version.\n"
                                     "version: 1.4.0\n---\n# Versioned\n")
    skill = load_skill(folder)
    assert skill.version == "1.4.0"
    assert not any("unknown front matter key 'version'" in w for w in skill.warnings)
    assert any("'version' is not in the Agent Skills specification (read as the skill's "
               "version" in w for w in skill.warnings)


def test_strict_mode_follows_the_agent_skills_specification() -> None:
    with pytest.raises(ManifestError, match="key 'author' is not in the Agent Skills spec"):
        load_skill(SKILLS / "pdf-extract", strict=True)
    report = load_skills(SKILLS, strict=True)
    assert "pdf-extract" in {p.path.name for p in report.problems}


def test_agent_skill_command_is_an_argv_never_a_shell() -> None:
    skill = load_skill(SKILLS / "word-count")
    assert skill.entry.kind is EntryKind.COMMAND
    assert skill.entry.command == ("python3", "scripts/count.py", "--json")
    assert skill.version == "1.0.0"
    assert any("version is missing" in w for w in skill.warnings)


def test_side_by_side_manifests_merge_json_over_yaml_over_skill_md() -> None:
    skill = load_skill(SKILLS / "chart-maker")
    assert skill.source == "skill.json+skill.yaml+SKILL.md"
    assert skill.version == "1.2.0"  # skill.json over skill.yaml's 1.1.0
    assert skill.category == "visualization"  # only skill.yaml says it
    assert skill.description.startswith("Draws a bar or line chart")  # yaml over SKILL.md
    assert skill.manifest["license"] == "MIT"  # only SKILL.md says it
    assert skill.manifest["instructions"].startswith("Pick `line`")
    assert (skill.execution.timeout_s, skill.execution.priority) == (5.0, 7)
    assert skill.output_schema == {"type": "object", "required": ["svg"]}
    assert skill.entry.attr == "render"


def test_instructions_only_agent_skill_is_listed_but_not_runnable() -> None:
    skill = load_skill(SKILLS / "glossary")
    assert not skill.runnable
    assert skill.description.startswith("The team's glossary")
    assert "**Skill**" in skill.manifest["instructions"]


def test_root_may_be_a_single_skill_folder() -> None:
    report = load_skills(SKILLS / "csv-analyzer")
    assert [s.id for s in report.skills] == ["csv-analyzer"]
    assert is_skill_folder(SKILLS / "glossary")
    assert not is_skill_folder(SKILLS)


def test_missing_root_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    report = load_skills(tmp_path / "nowhere")
    assert report.skills == ()
    assert "no such folder" in report.problems[0].reason


# -- YAML never runs code ------------------------------------------------------------------


def test_python_tags_in_skill_yaml_do_not_execute(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    write(tmp_path / "evil", {
        "skill.yaml": (
            "id: evil\nversion: 1.0.0\n"
            f'description: !!python/object/apply:os.system ["touch {marker}"]\n'
            f"on_load: !!python/object/apply:subprocess.check_call [[touch, {marker}]]\n"
            "hook: !!python/name:os.system\n"
            "obj: !!python/object/new:os.system {args: [id]}\n"
            "custom: !include other.yaml\n"
            "released: 2024-01-27\n"
        ),
    })
    skill = load_skill(tmp_path / "evil")
    assert not marker.exists()
    assert skill.description == f"touch {marker}"  # the plain value under the tag
    assert skill.manifest["on_load"] == [["touch", str(marker)]]
    assert skill.manifest["hook"] == ""
    assert skill.manifest["obj"] == {"args": ["id"]}
    assert skill.manifest["custom"] == "other.yaml"
    assert skill.manifest["released"] == "2024-01-27"  # dates stay JSON-friendly text
    json.dumps(skill.manifest)


def test_the_fixture_exploit_loads_as_plain_data() -> None:
    marker = Path("/tmp/skillexec-fixture-pwned")
    if marker.exists():
        os.unlink(marker)
    skill = load_skill(SKILLS / "yaml-exploit")
    assert not marker.exists()
    assert skill.category == "touch /tmp/skillexec-fixture-pwned"
    assert skill.manifest["hook"] == ""


# -- entry points ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry_point", "files", "file", "attr"),
    [
        ("main:execute", ["main.py"], "main.py", "execute"),
        ("main.py:execute", ["main.py"], "main.py", "execute"),
        ("main", ["main.py"], "main.py", None),
        ("main.execute", ["main.py"], "main.py", "execute"),
        ("skills.my_tool.main", ["main.py"], "main.py", None),
        ("skills.my_tool.main.MyToolSkill", ["main.py"], "main.py", "MyToolSkill"),
        ("skills.my_tool.core.engine", ["core/engine.py", "main.py"], "core/engine.py", None),
        ("scripts/run.py:main", ["scripts/run.py"], "scripts/run.py", "main"),
        ("tool:execute", ["impl.py"], "impl.py", "execute"),  # main_file rescues the module
    ],
)
def test_entry_point_forms(
    tmp_path: Path, entry_point: str, files: list[str], file: str, attr: str | None
) -> None:
    folder = tmp_path / "my-tool"
    manifest: dict[str, Any] = {"id": "my-tool", "version": "1.0.0", "entry_point": entry_point}
    if "impl.py" in files:
        manifest["main_file"] = "impl.py"
    code = "def execute(d):\n    return d\n" + (f"{attr} = execute\n" if attr else "")
    write(folder, {"skill.json": manifest, **dict.fromkeys(files, code)})
    skill = load_skill(folder)
    assert skill.entry.kind is EntryKind.PYTHON
    assert skill.entry.file == folder.resolve() / file
    assert skill.entry.attr == attr


def test_no_entry_point_uses_main_py_or_a_skill_py_with_execute(tmp_path: Path) -> None:
    a = write(tmp_path / "a", {"skill.json": {"id": "a", "version": "1.0"},
                               "main.py": "def execute(d):\n    return d\n"})
    assert load_skill(a).entry.file == a.resolve() / "main.py"
    # A main.py without execute() is a program, not the entry (openclaw's REPL).
    a2 = write(tmp_path / "a2", {"skill.json": {"id": "a2", "version": "1.0"},
                                 "main.py": "x = 1\n"})
    assert load_skill(a2).entry.kind is EntryKind.NONE
    b = write(tmp_path / "b", {"skill.json": {"id": "b", "version": "1.0"},
                               "skill.py": "class B:\n    async def execute(self, d):\n"
                                           "        return d\n"})
    assert load_skill(b).entry.file == b.resolve() / "skill.py"
    c = write(tmp_path / "c", {"skill.json": {"id": "c", "version": "1.0"},
                               "skill.py": "def helper():\n    pass\n"})
    assert load_skill(c).entry.kind is EntryKind.NONE


def test_entry_point_naming_no_file_is_a_warning_or_a_strict_error(tmp_path: Path) -> None:
    folder = write(tmp_path / "t", {"skill.json": {"id": "t", "version": "1.0.0",
                                                   "entry_point": "gone:execute"}})
    skill = load_skill(folder)
    assert skill.entry.kind is EntryKind.NONE
    assert any("'gone:execute' names no file" in w for w in skill.warnings)
    with pytest.raises(ManifestError, match="entry_point 'gone:execute' names no file"):
        load_skill(folder, strict=True)


@pytest.mark.parametrize("entry_point", ["../outside.py:execute", "scripts/../../outside.py"])
def test_entry_point_cannot_leave_the_folder(tmp_path: Path, entry_point: str) -> None:
    write(tmp_path, {"outside.py": "def execute(d):\n    return d\n"})
    folder = write(tmp_path / "t", {"skill.json": {"id": "t", "version": "1.0.0",
                                                   "entry_point": entry_point}})
    with pytest.raises(ManifestError, match="points outside the skill folder"):
        load_skill(folder)


@pytest.mark.parametrize("manifest", ["SKILL.md", "skill.json", "skill.yaml"])
def test_a_manifest_cannot_be_a_symlink_out_of_the_folder(tmp_path: Path,
                                                          manifest: str) -> None:
    # A cloned folder whose SKILL.md links to another file showed that file's body as the
    # skill's instructions (CLI, HTTP, MCP): any file this process may read.
    secret = {"SKILL.md": "---\nname: notes\ndescription: d\n---\nthe password is x\n",
              "skill.json": {"id": "notes", "version": "1.0.0", "description": "token x"},
              "skill.yaml": "id: notes\nversion: 1.0.0\ndescription: token x\n"}[manifest]
    write(tmp_path / "private", {manifest: secret})
    folder = tmp_path / "skills" / "notes"
    folder.mkdir(parents=True)
    (folder / manifest).symlink_to(tmp_path / "private" / manifest)
    with pytest.raises(ManifestError, match="outside the skill folder"):
        load_skill(folder)
    report = load_skills(tmp_path / "skills")
    assert not report.skills and "outside the skill folder" in str(report.problems)
    (folder / manifest).unlink()  # a link inside the folder is the folder's own file
    write(folder, {"real.txt": secret})
    (folder / manifest).symlink_to("real.txt")
    assert load_skill(folder).id == "notes"


def test_py_copilot_node_skill_nested_shape(tmp_path: Path) -> None:
    folder = write(tmp_path / "web-automation", {
        "skill.json": {
            "metadata": {"name": "web-automation", "displayName": "网页自动化",
                         "description": "网页自动化技能", "version": "1.0.0",
                         "author": "Py Copilot Team", "category": "browser", "icon": "🌐"},
            "config": {"entryPoint": "index.js", "runtime": "node", "timeout": 60,
                       "permissions": ["network", "filesystem"]},
            "parameters": [
                {"name": "action", "type": "string", "required": True,
                 "enum": ["scrape", "screenshot"]},
                {"name": "url", "type": "string", "required": True},
                {"name": "viewport", "type": "object", "required": False},
            ],
        },
        "index.js": "process.stdout.write('{}')\n",
    })
    skill = load_skill(folder)
    assert (skill.id, skill.category, skill.execution.timeout_s) == (
        "web-automation", "browser", 60.0)
    assert skill.entry.command == ("node", "index.js")
    assert skill.permissions == {Permission.NETWORK_ACCESS, Permission.FILE_READ,
                                 Permission.FILE_WRITE}
    assert skill.parameters_schema["required"] == ["action", "url"]
    assert skill.manifest["metadata"]["icon"] == "🌐"


def test_the_higher_manifest_decides_between_command_and_entry_point(tmp_path: Path) -> None:
    skill_md = ("---\nname: both\ndescription: d\nmetadata:\n"
                "  command: node run.js\n---\n")
    folder = write(tmp_path / "both", {
        "SKILL.md": skill_md, "run.js": "", "main.py": "def execute(d):\n    return d\n",
        "skill.json": {"id": "both", "version": "1.0.0", "entry_point": "main:execute"},
    })
    assert load_skill(folder).entry.kind is EntryKind.PYTHON
    (folder / "skill.json").unlink()
    assert load_skill(folder).entry.command == ("node", "run.js")


def test_command_script_missing_is_a_warning(tmp_path: Path) -> None:
    folder = write(tmp_path / "cmd", {"SKILL.md": (
        "---\nname: cmd\ndescription: d\nmetadata:\n  command: python3 run.py --fast\n---\n")})
    skill = load_skill(folder)
    assert skill.entry.command == ("python3", "run.py", "--fast")
    assert any("'run.py', which is not in the folder" in w for w in skill.warnings)


# -- fields ----------------------------------------------------------------------------------


def test_version_missing_defaults_with_a_warning_and_malformed_is_an_error(
    tmp_path: Path,
) -> None:
    ok = write(tmp_path / "a", {"skill.json": {"id": "a"}, "main.py": ""})
    skill = load_skill(ok)
    assert skill.version == "1.0.0"
    assert skill.warnings == ("skill.json: version is missing; using 1.0.0",)
    bad = write(tmp_path / "b", {"skill.json": {"id": "b", "version": "one"}})
    with pytest.raises(ManifestError, match=r"b/skill\.json: version is malformed"):
        load_skill(bad)
    yaml_float = write(tmp_path / "c", {"skill.yaml": "id: c\nversion: 1.0\n"})
    assert load_skill(yaml_float).version == "1.0"
    with_v = write(tmp_path / "d", {"skill.json": {"id": "d", "version": "v2.3.4"}})
    assert load_skill(with_v).version == "2.3.4"


def test_missing_id_falls_back_to_the_folder_name(tmp_path: Path) -> None:
    folder = write(tmp_path / "my-skill", {"skill.json": {"version": "1.0.0"}})
    skill = load_skill(folder)
    assert skill.id == "my-skill"
    assert any("id is missing" in w for w in skill.warnings)
    with pytest.raises(ManifestError, match="id is missing"):
        load_skill(folder, strict=True)
    bad = write(tmp_path / "x", {"skill.json": {"id": "no spaces please"}})
    with pytest.raises(ManifestError, match="is not a valid skill id"):
        load_skill(bad)


@pytest.mark.parametrize(
    ("execution", "says"),
    [
        ({"priority": 12}, "execution.priority must be a whole number from 0 to 9, not 12"),
        ({"isolation": "vm"}, "execution.isolation must be one of 'inline', 'process', "
                              "'sandbox', not 'vm'"),
        ({"timeout": 0}, "execution.timeout must be a number of seconds above 0"),
        ({"timeout": "30s"}, "execution.timeout must be"),
        ({"max_retries": -1}, "execution.max_retries must be a whole number from 0 to 100"),
        ({"cacheable": "yes"}, "execution.cacheable must be true or false"),
        ({"memory_mb": 1.5}, "execution.memory_mb must be a whole number above 0"),
        ({"concurrency": 0}, "execution.concurrency must be a whole number above 0"),
        ({"fallback": "no such id!"}, "execution.fallback must be a skill id"),
        ("fast", "execution must be an object of settings"),
    ],
)
def test_invalid_execution_values_name_the_field(
    tmp_path: Path, execution: Any, says: str
) -> None:
    folder = write(tmp_path / "t", {"skill.json": {"id": "t", "version": "1.0.0",
                                                   "execution": execution}})
    with pytest.raises(ManifestError) as caught:
        load_skill(folder)
    assert says in caught.value.message
    assert str(folder.resolve() / "skill.json") in caught.value.message


def test_unknown_execution_settings_and_permissions_warn_or_fail_strictly(
    tmp_path: Path,
) -> None:
    folder = write(tmp_path / "t", {"skill.json": {
        "id": "t", "version": "1.0.0", "execution": {"timeout": 3, "gpu": True},
        "permissions": ["file_read", "teleport"]}})
    skill = load_skill(folder)
    assert skill.execution.timeout_s == 3.0
    assert skill.permissions == {Permission.FILE_READ}
    assert any(w.startswith("skill.json: execution.gpu is not a known setting")
               for w in skill.warnings)
    assert any(w.startswith("skill.json: permissions names an unknown permission 'teleport'")
               for w in skill.warnings)
    with pytest.raises(ManifestError, match=r"execution\.gpu"):
        load_skill(folder, strict=True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (["pdf", "docx"], (SkillDependency("pdf"), SkillDependency("docx"))),
        ({"pdf": "^1.2", "docx": None}, (SkillDependency("pdf", "^1.2"),
                                          SkillDependency("docx"))),
        ([{"id": "pdf", "version": "~1.4.0"}, {"skill_id": "docx"}],
         (SkillDependency("pdf", "~1.4.0"), SkillDependency("docx"))),
        (["pdf@>=1.0 <2.0", "docx>=2"], (SkillDependency("pdf", ">=1.0 <2.0"),
                                          SkillDependency("docx", ">=2"))),
    ],
)
def test_skill_dependency_shapes(tmp_path: Path, raw: Any, expected: tuple[Any, ...]) -> None:
    folder = write(tmp_path / "t", {"skill.json": {"id": "t", "version": "1.0.0",
                                                   "skill_dependencies": raw}})
    assert load_skill(folder).skill_dependencies == expected


@pytest.mark.parametrize(
    ("field", "raw", "says"),
    [
        ("skill_dependencies", {"pdf": "^^1"}, "skill_dependencies: 'pdf': invalid version"),
        ("dependencies", {"pandas": "=>1.5"}, "gives 'pandas' an invalid version specifier"),
        ("dependencies", ["pandas>>1"], "invalid requirement 'pandas>>1'"),
        ("dependencies", 42, "dependencies must be a list or an object"),
        # Each was optional by its truth: a package the skill needs, never checked.
        ("dependencies", {"pandas": {"version": ">=1", "optional": "no"}},
         r"'pandas'\.optional must be true or false, not 'no'"),
        ("dependencies", [{"package_name": "pandas", "source": "pip", "optional": 1}],
         r"'pandas'\.optional must be true or false, not 1"),
        ("tags", {"a": 1}, "tags must be a list of words"),
        ("output_schema", [1], "output_schema must be an object"),
    ],
)
def test_malformed_fields_are_manifest_errors(
    tmp_path: Path, field: str, raw: Any, says: str
) -> None:
    folder = write(tmp_path / "t", {"skill.json": {"id": "t", "version": "1.0.0", field: raw}})
    with pytest.raises(ManifestError, match=says):
        load_skill(folder)


def test_package_specifiers_are_normalised(tmp_path: Path) -> None:
    folder = write(tmp_path / "t", {"skill.json": {"id": "t", "version": "1.0.0",
        "dependencies": {"numpy": "1.26.0", "scipy": "*", "polars": ">=0.20,<2"},
    }})
    assert load_skill(folder).dependencies == (
        PackageDependency("numpy", "==1.26.0"), PackageDependency("scipy", ""),
        PackageDependency("polars", "<2,>=0.20"))


# -- SKILL.md --------------------------------------------------------------------------------


def test_skill_md_soft_violations_warn_in_lenient_mode(tmp_path: Path) -> None:
    folder = write(tmp_path / "my-notes", {"SKILL.md": (
        "---\nname: My_Notes\ndescription: ''\nmetadata:\n  version: 2\n---\nBody\n")})
    skill = load_skill(folder)
    assert skill.id == "My_Notes"
    text = " ".join(skill.warnings)
    assert "'name' must be 1-64 lowercase letters" in text
    assert "'description' is missing: using the first paragraph of the instructions" in text
    assert skill.description == "Body"
    assert "'metadata' must map strings to strings" in text
    with pytest.raises(ManifestError, match="'name' must be 1-64 lowercase"):
        load_skill(folder, strict=True)


def test_skill_md_name_must_match_the_folder(tmp_path: Path) -> None:
    folder = write(tmp_path / "alpha", {"SKILL.md": "---\nname: beta\ndescription: d\n---\n"})
    assert any("must equal the folder name 'alpha'" in w for w in load_skill(folder).warnings)
    with pytest.raises(ManifestError, match="must equal the folder name"):
        load_skill(folder, strict=True)


def test_skill_md_whose_name_is_a_title_takes_the_folders_name_for_its_id(
        tmp_path: Path) -> None:
    """agentskillexchange's 2,922 skills: ``name: "ACF to Gutenberg Block Migrator"`` in
    the folder ``acf-to-gutenberg-block-migrator``. 2,920 were refused ("not a valid skill
    id"); lenient mode now takes the folder's name for the id (the specification has them
    equal) and keeps the title as the skill's name."""
    folder = write(tmp_path / "acf-migrator", {"SKILL.md": (
        '---\nname: "ACF to Gutenberg Block Migrator"\ndescription: Migrates.\n---\nGo.\n')})
    skill = load_skill(folder)
    assert (skill.id, skill.name) == ("acf-migrator", "ACF to Gutenberg Block Migrator")
    assert any("'name' must be 1-64 lowercase letters" in w for w in skill.warnings)
    with pytest.raises(ManifestError, match="'name' must be 1-64 lowercase"):
        load_skill(folder, strict=True)
    odd = write(tmp_path / "Not An Id", {"SKILL.md": "---\nname: A Title\ndescription: d\n---\n"})
    with pytest.raises(ManifestError, match="'Not An Id' is not a valid skill id"):
        load_skill(odd)  # neither is an id: said of the folder's name


def test_skill_md_without_name_uses_the_folder(tmp_path: Path) -> None:
    folder = write(tmp_path / "helper", {"SKILL.md": "---\ndescription: helps\n---\n"})
    skill = load_skill(folder)
    assert skill.id == "helper"
    assert any("'name' is required (using the folder name 'helper')" in w
               for w in skill.warnings)


@pytest.mark.parametrize(
    ("content", "description", "says"),
    [
        # Qwayk's 22 of 52: Markdown alone. Claude Code: the folder's name, the first
        # paragraph.
        ("# Notes\n\nKeeps notes in a folder,\none per day.\n\n## Use\nRun it.\n",
         "Keeps notes in a folder, one per day.", "no YAML front matter"),
        ("\n\n---\nname: notes\ndescription: Keeps notes.\n---\nBody.\n", "Keeps notes.",
         "blank lines before the front matter's first '---'"),
        # Qwayk's youtube: an unquoted ': ' in a one-line value.
        ("---\nname: notes\ndescription: Fetch YouTube: transcripts, chapters\n"
         "metadata:\n  version: '2'\n---\nBody.\n", "Fetch YouTube: transcripts, chapters",
         "line 3: 'description' is not valid YAML (an unquoted ': ' in it?); read as plain"),
    ],
)
def test_skill_md_as_claude_code_reads_it(tmp_path: Path, content: str, description: str,
                                          says: str) -> None:
    folder = write(tmp_path / "notes", {"SKILL.md": content})
    skill = load_skill(folder)
    assert (skill.id, skill.description) == ("notes", description)
    assert any(says in w for w in skill.warnings), skill.warnings
    with pytest.raises(ManifestError):
        load_skill(folder, strict=True)


@pytest.mark.parametrize(("value", "read"), [
    ("**Bold** summary of the skill", "**Bold** summary of the skill"),
    ("*emphasis* text", "*emphasis* text"),
    ("@mention and `code`", "@mention and `code`"),
    ("**\u529f\u80fd\uff1a** first line\n  second line",
     "**\u529f\u80fd\uff1a** first line second line"),
])
def test_a_value_yaml_cannot_read_plain_is_read_as_text(tmp_path: Path, value: str,
                                                        read: str) -> None:
    """AgentWorkers: 678 skills whose description starts with Markdown bold (YAML reads a
    leading * as an alias) were refused; Claude Code reads them."""
    folder = write(tmp_path / "x", {"SKILL.md": f"---\nname: x\ndescription: {value}\n"
                                                "version: 1.0.0\n---\nBody.\n"})
    skill = load_skill(folder)
    assert (skill.description, skill.version) == (read, "1.0.0")
    with pytest.raises(ManifestError):
        load_skill(folder, strict=True)


@pytest.mark.parametrize("content", [
    # metadata's entry, read entry by entry: one that decides what runs is not guessed at
    "---\nname: x\nmetadata:\n  entry_point: a: b\n---\nBody.\n",
    "---\nname: x\ndescription: **a**\nnot indented\n---\nBody.\n",  # not its lines
    "---\n- item\nname: x\ndescription: a: b\n---\nBody.\n",  # not keys from the top
    "---\nname: x\nname: y\ndescription: a: b\n---\nBody.\n",  # a key twice
    # Past 200 keys (a hostile 1 MB of "kN: v: w" took minutes, quadratic): not read.
    "---\nname: x\n" + "".join(f"k{i}: v: w\n" for i in range(300)) + "---\nBody.\n",
])
def test_front_matter_read_key_by_key_only_where_one_line_fails(
        tmp_path: Path, content: str) -> None:
    with pytest.raises(ManifestError, match=r"SKILL.md: (invalid YAML|the key 'name')"):
        load_skill(write(tmp_path / "x", {"SKILL.md": content}))


@given(st.dictionaries(st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True),
                       st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")),
                               max_size=30), min_size=1, max_size=6))
def test_key_by_key_reads_what_yaml_reads(front: dict[str, str]) -> None:
    text = yaml.safe_dump(front, allow_unicode=True, width=10_000)
    assert front_matter.read_by_key(text) == (front, [])


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("# Just Markdown\n", "no YAML front matter"),
        ("---\nname: x\ndescription: d\n", "not closed by a '---' line"),
        ("---\n- a\n- b\n---\n", "front matter must be a mapping"),
    ],
)
def test_skill_md_structure_errors(tmp_path: Path, content: str, says: str) -> None:
    folder = write(tmp_path / "x", {"SKILL.md": content})
    with pytest.raises(ManifestError, match=says):
        load_skill(folder)


def test_skill_md_limits(tmp_path: Path) -> None:
    long = "d" * 1025
    folder = write(tmp_path / "x", {"SKILL.md": (
        f"---\nname: x\ndescription: {long}\ncompatibility: {'c' * 501}\n---\n")})
    with pytest.raises(ManifestError) as caught:
        load_skill(folder, strict=True)
    assert "1025 characters (at most 1024)" in caught.value.message
    assert "'compatibility' must be text of at most 500 characters" in caught.value.message


# -- discovery -------------------------------------------------------------------------------


def test_discovery_descends_into_categories_and_skips_hidden_and_caches(
    tmp_path: Path,
) -> None:
    write(tmp_path, {
        "data/csv-a/skill.json": {"id": "csv-a", "version": "1.0.0"},
        "text/words/SKILL.md": "---\nname: words\ndescription: d\n---\n",
        ".hidden/h/skill.json": {"id": "h"},
        "data/csv-a/__pycache__/skill.json": {"id": "cached"},
        "node_modules/n/skill.json": {"id": "n"},
    })
    assert [s.id for s in load_skills(tmp_path).skills] == ["csv-a", "words"]


def test_duplicate_id_and_version_is_reported(tmp_path: Path) -> None:
    write(tmp_path, {"a/skill.json": {"id": "same", "version": "1.0.0"},
                     "b/skill.json": {"id": "same", "version": "1.0.0"},
                     "c/skill.json": {"id": "same", "version": "1.1.0"}})
    report = load_skills(tmp_path)
    assert [s.version for s in report.skills] == ["1.0.0", "1.1.0"]
    assert "skill same@1.0.0 is already defined in" in report.problems[0].reason


def test_oversized_and_non_utf8_manifests_are_refused(tmp_path: Path) -> None:
    big = write(tmp_path / "big", {"skill.json": json.dumps({"id": "big", "pad": "x" * 2**20})})
    with pytest.raises(ManifestError, match="too large for a manifest"):
        load_skill(big)
    (tmp_path / "latin").mkdir()
    (tmp_path / "latin" / "skill.json").write_bytes(b'{"id": "caf\xe9"}')
    with pytest.raises(ManifestError, match="not UTF-8 text"):
        load_skill(tmp_path / "latin")


def test_a_lone_surrogate_escape_refuses_that_manifest_only(tmp_path: Path) -> None:
    """JSON's and YAML's "\\ud800" escapes make text no JSON encoder or UTF-8 terminal
    takes: that manifest is refused, naming the text (every listing of the skills failed
    on it: `skills list` ended in an internal error), and the others load. (libyaml refuses
    the YAML escapes itself, at their line and column.)"""
    write(tmp_path, {"j/skill.json": '{"id": "j", "description": "bad \\ud800 json"}',
                     "y/skill.yaml": 'id: y\ndescription: "bad \\udcff yaml"\n',
                     "m/SKILL.md": '---\nname: m\ndescription: "x \\ud83d"\n---\n\nBody.\n',
                     "ok/skill.json": {"id": "ok", "description": "caf\u00e9 \u2713"}})
    report = load_skills(tmp_path)
    assert [s.id for s in report.skills] == ["ok"]
    reasons = sorted(p.reason for p in report.problems)
    assert len(reasons) == 3
    assert all("is not valid Unicode text (a lone surrogate" in r
               or "invalid Unicode character escape" in r for r in reasons)
    assert "lone surrogate" in next(r for r in reasons if "skill.json" in r)
    assert all(r.encode() for r in reasons)


# -- parameters schema -------------------------------------------------------------------


def test_flat_schema_becomes_json_schema() -> None:
    flat = {
        "query": {"type": "str", "required": True, "minLength": 1, "pattern": "^\\S",
                  "description": "what to look for"},
        "limit": {"type": "int", "default": 10, "minimum": 1, "maximum": 100},
        "mode": {"type": "string", "enum": ["fast", "full"], "default": "fast"},
        "tags": {"type": "array", "items": {"type": "str"}},
        "ratio": "float",
        "payload": {"type": "any", "optional": False},
    }
    assert normalize_parameters_schema(flat) == {
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1, "pattern": "^\\S",
                      "description": "what to look for"},
            "limit": {"type": "integer", "default": 10, "minimum": 1, "maximum": 100},
            "mode": {"type": "string", "enum": ["fast", "full"], "default": "fast"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "ratio": {"type": "number"},
            "payload": {},
        },
        "required": ["query", "payload"],
    }


def test_json_schema_passes_through_unchanged() -> None:
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
              "properties": {"x": {"type": "integer"}}, "required": ["x"],
              "additionalProperties": False}
    assert normalize_parameters_schema(schema) == schema
    no_type = {"properties": {"x": {"type": "integer"}}}
    assert normalize_parameters_schema(no_type) == no_type
    assert normalize_parameters_schema(None) == {"type": "object"}
    # a flat parameter called "properties" is still read as flat
    flat = {"properties": {"type": "object", "required": True}}
    assert normalize_parameters_schema(flat)["required"] == ["properties"]


@pytest.mark.parametrize(
    "raw",
    [
        {"parameters": {"type": "object"}},
        {"type": "object", "properties": {"config": {"type": "object"}}},
        {"type": "object", "required": ["parameters"]},
        [{"name": "config", "type": "object"}],
    ],
)
def test_reserved_parameter_names_are_refused(raw: Any) -> None:
    with pytest.raises(ManifestError, match="which the entry contract reserves"):
        normalize_parameters_schema(raw)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ({"x": {"type": "uuid"}}, r"parameters_schema\.x\.type: unknown type 'uuid'"),
        ({"x": {"type": "string", "required": "yes"}}, "must be true or false"),
        ({"x": 5}, "a parameter is described by an object"),
        ({"type": "array"}, "the parameters of a call are an object"),
        ([{"type": "string"}], "needs a 'name'"),
        ("string", "must be an object"),
    ],
)
def test_malformed_parameters_schema(raw: Any, says: str) -> None:
    with pytest.raises(ManifestError, match=says):
        normalize_parameters_schema(raw)


# -- real-world and hostile folders: every refusal names what is wrong ---------------------


def test_py_copilot_package_entry_point_is_explained_not_called_missing(tmp_path: Path) -> None:
    # Py Copilot's own manifests name the host's package, e.g. app.skills.skills.<folder>.
    meta = {"skill_id": "tally", "version": "1.0.0", "entry_point": "app.skills.skills.tally"}
    helper = write(tmp_path / "tally", {"skill.json": meta,
                                        "tally_core.py": "class Tally:\n    pass\n"})
    skill = load_skill(helper)
    assert not skill.runnable and skill.warnings == ()
    reason = skill.entry.reason
    assert "entry_point 'app.skills.skills.tally' is a Py Copilot package path" in reason
    assert "tally_core.py" in reason and "no entry_point" not in reason
    docs = write(tmp_path / "notes", {
        "skill.json": {**meta, "skill_id": "notes", "entry_point": "app.skills.skills.notes.x"},
        "SKILL.md": "---\nname: notes\ndescription: Team notes.\n---\nRead me.\n"})
    assert "no Python file at its top level (SKILL.md is instructions for a model)" in \
        load_skill(docs).entry.reason
    # Its bundled scripts are Python code all the same: the reason must not deny them.
    (docs / "scripts").mkdir()
    (docs / "scripts" / "fill.py").write_text("print('filled')\n")
    scripted = load_skill(docs)
    assert scripted.scripts == ("scripts/fill.py",) and not scripted.runnable
    assert "no Python code" not in scripted.entry.reason
    bare = write(tmp_path / "bare", {"skill.json": {"id": "bare", "version": "1.0.0"}})
    assert load_skill(bare).entry.reason.startswith("no entry_point, command or main_file")


@pytest.mark.parametrize("module", ["__init__.py", "word_tally.py"])
def test_py_copilot_package_entry_point_finds_the_package_code(tmp_path: Path,
                                                               module: str) -> None:
    folder = write(tmp_path / "word-tally", {
        "skill.json": {"skill_id": "word-tally", "version": "1.0.0",
                       "entry_point": "app.skills.skills.word-tally"},
        module: "def execute(data):\n    return len(data['text'].split())\n"})
    skill = load_skill(folder)
    assert skill.entry.kind is EntryKind.PYTHON
    assert skill.entry.file == folder.resolve() / module


@pytest.mark.parametrize("name", ["skill.json", "skill.yaml", "SKILL.md"])
def test_empty_manifest_says_it_is_empty(tmp_path: Path, name: str) -> None:
    folder = write(tmp_path / "e", {name: "  \n"})
    with pytest.raises(ManifestError, match=rf"{re.escape(name)}: the file is empty"):
        load_skill(folder)


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("skill.json", '{"id": "d", "x": ' + "[" * 5000 + "]" * 5000 + "}",
         "nested more than 64 levels deep"),
        ("skill.json", '{"id": "d", "x": ' + "[" * 100 + "]" * 100 + "}",
         "nested more than 64 levels deep"),
        ("skill.yaml", "id: d\nx: " + "[" * 5000 + "]" * 5000 + "\n",
         "nested more than 64 levels deep"),
        ("skill.yaml", "id: d\nx: " + "[" * 400_000 + "]" * 400_000 + "\n",
         "nested more than 64 levels deep"),
        ("skill.yaml", "id: d\nx:\n" + "".join(" " * i + "k:\n" for i in range(1, 1300)),
         "nested more than 64 levels deep"),
        ("skill.yaml", "id: d\nx: &x [*x]\n", "a YAML alias refers to a value that contains it"),
        ("skill.yaml", "id: d\n" + "".join(
            f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}" if i else "'x'"] * 9) + "]\n"
            for i in range(8)), "expands to more than 100000 values"),
        ("SKILL.md", "---\nname: d\ndescription: &d [*d]\n---\n",
         "a YAML alias refers to a value that contains it"),
    ],
)
@pytest.mark.parametrize("parser", ["libyaml", "python"])
def test_manifests_that_would_hang_or_crash_a_reader_are_refused(
    tmp_path: Path, name: str, content: str, says: str, parser: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if parser == "python":  # where libyaml is absent or older than 0.2.5
        monkeypatch.setattr(yaml_loader, "_LOADERS", (yaml_loader._PlainLoader,))
    else:
        assert yaml_loader._LOADERS[0] is not yaml_loader._PlainLoader, "libyaml is not in use"
    folder = write(tmp_path / "d", {name: content})
    with pytest.raises(ManifestError, match=re.escape(says)) as info:
        load_skill(folder)
    assert name in info.value.message
    report = load_skills(tmp_path)  # and in a folder of skills, one problem among others
    assert says in report.problems[0].reason


def test_symlink_out_of_the_folder_is_named(tmp_path: Path) -> None:
    write(tmp_path, {"elsewhere.py": "def execute(d):\n    return d\n"})
    folder = write(tmp_path / "t", {"skill.json": {"id": "t", "version": "1.0.0",
                                                   "entry_point": "main:execute"}})
    (folder / "main.py").symlink_to(tmp_path / "elsewhere.py")
    says = "outside the skill folder (through the symlink 'main.py')"
    with pytest.raises(ManifestError, match=re.escape(says)):
        load_skill(folder)


def test_a_file_or_a_folder_of_skills_where_one_skill_is_expected(tmp_path: Path) -> None:
    file = write(tmp_path, {"notes.txt": "hello"}) / "notes.txt"
    assert "is a file, not a folder" in load_skills(file).problems[0].reason
    with pytest.raises(ManifestError, match="is a file, not a folder"):
        load_skill(file)
    write(tmp_path / "many" / "one", {"skill.json": {"id": "one", "version": "1.0.0"}})
    with pytest.raises(ManifestError, match="it is a folder of skills"):
        load_skill(tmp_path / "many")


def test_json_schema_with_ref_is_not_read_as_flat_parameters() -> None:
    schema = {"$ref": "#/$defs/args", "$defs": {"args": {"type": "object"}}}
    assert normalize_parameters_schema(schema) == schema
    combined = {"allOf": [{"type": "object"}]}
    assert normalize_parameters_schema(combined) == combined


def test_py_copilot_nested_shape_takes_its_id_from_metadata_name(tmp_path: Path) -> None:
    folder = write(tmp_path / "folder-name", {"skill.json": {
        "metadata": {"name": "page-grab", "version": "1.0.0", "description": "d"},
        "config": {"entryPoint": "index.js", "runtime": "node"}}, "index.js": "\n"})
    skill = load_skill(folder)
    assert skill.id == "page-grab"
    assert not any("id is missing" in w for w in skill.warnings)


def test_command_skills_need_their_program_and_npm_packages(tmp_path: Path) -> None:
    from skillexec.errors import DependencyError
    from skillexec.skills import SkillRegistry

    node = write(tmp_path / "grab", {
        "skill.json": {"id": "grab", "version": "1.0.0", "entry_point": "index.js"},
        "index.js": "require('left-pad')\n",
        "package.json": {"name": "grab", "dependencies": {"left-pad": "^1.3.0"}}})
    gone = write(tmp_path / "gone", {"skill.json": {
        "id": "gone", "version": "1.0.0", "command": ["no-such-program-3f9a", "x"]}})
    registry = SkillRegistry([load_skill(node), load_skill(gone)])
    with pytest.raises(DependencyError, match="'no-such-program-3f9a', which is not installed"):
        registry.check_dependencies(registry.get("gone"))
    with pytest.raises(DependencyError) as info:
        registry.check_dependencies(registry.get("grab"))
    assert info.value.code in ("package_missing", "program_missing")
    if info.value.code == "package_missing":
        assert "npm package 'left-pad' ^1.3.0, which is not installed" in info.value.message
        write(node / "node_modules" / "left-pad", {"package.json": {"name": "left-pad"}})
        registry.clear_cache()
        registry.check_dependencies(registry.get("grab"))  # installed now: no error


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("entry_point", "x" * 5000, "entry_point names a path this system cannot use"),
        ("command", ["sh", "y" * 5000 + ".sh"], "command names a path this system cannot use"),
        ("main_file", 3, "main_file must be text, not 3"),
        ("execution", {"timeout": "z" * 5000}, "not 'zzz"),
    ],
)
def test_odd_values_give_a_short_error_naming_the_field(tmp_path: Path, field: str,
                                                        value: Any, says: str) -> None:
    folder = write(tmp_path / "w", {"skill.json": {"id": "w", field: value}})
    with pytest.raises(ManifestError, match=re.escape(says)) as info:
        load_skill(folder)
    assert len(info.value.message) < 300


def test_invalid_yaml_names_the_line_of_the_mistake(tmp_path: Path) -> None:
    """power-platform-skills' add-sample-data had a stray 'pps.' on line 4; the parser
    notices at line 5, a valid one."""
    folder = write(tmp_path / "x", {"SKILL.md": (
        "---\nname: x\ndescription: d\npps.\nuser-invocable: true\n---\nBody\n")})
    with pytest.raises(ManifestError, match=re.escape(
            "invalid YAML at line 5 column 1: could not find expected ':' (while scanning a "
            "simple key at line 4)")):
        load_skill(folder)


def test_claude_codes_keys_are_known_and_instructions_need_no_version(tmp_path: Path) -> None:
    """power-platform-skills: 478 lines of warnings for 87 skills that Claude Code loads
    cleanly ('user-invocable', 'model', ... called unknown; every skill "version is
    missing"); strict mode said "(kept)" of what it refused."""
    folder = write(tmp_path / "site", {"SKILL.md": (
        "---\nname: site\ndescription: Builds a site.\nuser-invocable: true\nmodel: haiku\n"
        "argument-hint: '[name]'\ndisable-model-invocation: false\npermissions: [file_read]\n"
        "frobnicate: 1\n---\nBody.\n")})
    skill = load_skill(folder)
    assert skill.manifest["model"] == "haiku"
    assert sorted(skill.warnings) == [
        "SKILL.md: front matter key 'permissions' is not in the Agent Skills specification "
        "(read as the skill's permissions, as skill.json has it)",
        "SKILL.md: unknown front matter key 'frobnicate' (kept)"]
    with pytest.raises(ManifestError) as caught:
        load_skill(folder, strict=True)
    assert "'model' is Claude Code's, not in the Agent Skills specification" in (
        caught.value.message)
    assert "unknown front matter key 'frobnicate';" in caught.value.message + ";"
    assert "(kept)" not in caught.value.message


@pytest.mark.parametrize("value", ["'true'", "false", "yes", "[1, 2]"])
def test_a_metadata_flag_named_entry_point_is_not_an_entry(tmp_path: Path, value: str) -> None:
    """aws-agent-skills: ``metadata: {entry_point: 'true'}`` marks where its pipeline starts;
    it is not code to run, and the skill loads as instructions."""
    folder = write(tmp_path / "aws-orchestrator", {"SKILL.md": (
        f"---\nname: aws-orchestrator\ndescription: Routes.\nmetadata:\n  entry_point: {value}\n"
        "  version: 0.1.0\n---\nBody.\n")})
    skill = load_skill(folder)
    assert (skill.runnable, skill.version) == (False, "0.1.0")
    assert skill.manifest["metadata"]["entry_point"] == yaml.safe_load(value)


def test_a_wrapper_folder_leaves_the_id_to_its_parent(tmp_path: Path) -> None:
    """bio-skills-hub: ``<owner>__<slug>/files/SKILL.md``, many named by a Chinese title;
    each took the id 'files' and all but one were refused as "already defined". (A title
    that is an id, in any script, is the id, as an ASCII name is: see test_unicode_ids.)"""
    write(tmp_path, {
        "a__radar/files/SKILL.md": '---\nname: "医药 政策雷达"\ndescription: Radar.\n---\nB.\n',
        "b__bulletin/files/SKILL.md": '---\nname: "学术会议晨报"\n---\nMorning news.\n',
        "c__medical/files/SKILL.md": "---\nname: medical\ndescription: Records.\n---\nB.\n",
        "tool/v2/skill.json": {"version": "2.0.0", "entry_point": "main:run"},
        "tool/v2/main.py": "def run(d):\n    return d\n",
    })
    report = load_skills(tmp_path)
    assert report.problems == ()
    assert sorted((s.id, s.name) for s in report.skills) == [
        ("a__radar", "医药 政策雷达"), ("medical", "medical"), ("tool", "tool"),
        ("学术会议晨报", "学术会议晨报")]


def test_an_agent_skill_loads_without_fields_claude_code_does_not_read(tmp_path: Path) -> None:
    """richfrem/agent-plugins-skills: ``dependencies: ['pip:docx']``; alirezarezvani's:
    ``dependencies: None (prompt-only)``; jeremylongshore's: ``permissions: {files: rw}``.
    Each refused a skill Claude Code loads. Strict mode, and skill.json, still refuse."""
    folder = write(tmp_path / "rsvp", {"SKILL.md": (
        "---\nname: rsvp\ndescription: Reads fast.\ndependencies: ['pip:docx']\n"
        "permissions: {files: rw}\n---\nBody.\n")})
    skill = load_skill(folder)
    assert (skill.dependencies, skill.permissions) == ((), frozenset())
    assert any(w.startswith("SKILL.md: dependencies has an invalid requirement 'pip:docx'")
               and w.endswith("(set aside)") for w in skill.warnings), skill.warnings
    assert any("permissions" in w and w.endswith("(set aside)") for w in skill.warnings)
    with pytest.raises(ManifestError, match="not in the Agent Skills specification"):
        load_skill(folder, strict=True)
    coded = write(tmp_path / "coded", {"skill.json": {
        "id": "coded", "version": "1.0.0", "dependencies": ["pip:docx"]}})
    with pytest.raises(ManifestError, match="invalid requirement 'pip:docx'"):
        load_skill(coded)
    bad_entry = write(tmp_path / "entry", {"SKILL.md": (
        "---\nname: entry\ndescription: d\nentry_point: 7\n---\nBody.\n")})
    with pytest.raises(ManifestError, match="entry_point"):
        load_skill(bad_entry)


def test_a_skill_md_inside_a_code_fence_is_read_within_it(tmp_path: Path) -> None:
    """grahama1970's consume-book wraps its whole SKILL.md in a ````markdown fence: its raw
    front matter became the description."""
    folder = write(tmp_path / "consume-book", {"SKILL.md": (
        "````markdown\n---\nname: consume-book\ndescription: Search and annotate books.\n---\n"
        "# Consume book\n\nSteps.\n````\n")})
    skill = load_skill(folder)
    assert (skill.id, skill.description) == ("consume-book", "Search and annotate books.")
    assert skill.instructions == "# Consume book\n\nSteps."
    assert any("inside a Markdown code fence" in w for w in skill.warnings)
    with pytest.raises(ManifestError, match="no YAML front matter"):
        load_skill(folder, strict=True)


def test_a_lowercase_skill_md_is_named_not_skipped(tmp_path: Path) -> None:
    """microsoft/cat-agent-skills has a folder with skill.md: it was passed over silently
    (Claude Code, on a case-sensitive system, reads SKILL.md alone, as skillexec does)."""
    write(tmp_path, {"ok/SKILL.md": "---\nname: ok\ndescription: d\n---\nB.\n",
                     "lower/skill.md": "---\nname: lower\ndescription: d\n---\nB.\n"})
    report = load_skills(tmp_path)
    assert [s.id for s in report.skills] == ["ok"]
    assert [p.reason for p in report.problems] == [
        f"{tmp_path / 'lower' / 'skill.md'}: the file must be named SKILL.md (Agent Skills "
        "and Claude Code read that name alone)"]


def test_a_hidden_folder_of_skills_is_named(tmp_path: Path) -> None:
    """openai/skills keeps its 10 skills in skills/.curated, .experimental and .system:
    skills list showed an empty table, saying nothing."""
    write(tmp_path, {".curated/pdf/SKILL.md": "---\nname: pdf\ndescription: d\n---\nB.\n",
                     ".curated/doc/SKILL.md": "---\nname: doc\ndescription: d\n---\nB.\n",
                     ".git/x/SKILL.md": "---\nname: x\ndescription: d\n---\nB.\n",
                     # UiPath's .claude/skills/manage-skill-flavors was skipped silently
                     ".claude/skills/flavors/SKILL.md": "---\nname: f\ndescription: d\n---\n"})
    report = load_skills(tmp_path)
    assert report.skills == ()
    assert [p.reason for p in report.problems] == [
        f"{tmp_path / '.claude'}: folders whose names start with '.' are not read, and "
        f"{tmp_path / '.claude' / 'skills'} holds 1 skill folder: pass it as --skills-dir "
        "to load them",
        f"{tmp_path / '.curated'}: folders whose names start with '.' are not read, and this "
        "one holds 2 skill folders: pass it as --skills-dir to load them"]


def test_the_first_paragraph_is_prose_not_code_or_a_tag(tmp_path: Path) -> None:
    """A description read from the body took a code block's line ($PYTHON_CMD
    scripts/auth.py --ensure) or a lone <INSTRUCTIONS> tag."""
    folder = write(tmp_path / "auth", {"SKILL.md": (
        "# Auth\n\n<INSTRUCTIONS>\n\n```bash\n$PYTHON_CMD scripts/auth.py --ensure\n```\n\n"
        "Signs the user in, once.\n")})
    assert load_skill(folder).description == "Signs the user in, once."


def test_skills_six_folders_down_are_found(tmp_path: Path) -> None:
    """AgentWorkers and akka keep skills at skills/<owner>/<slug>/<version>/...: folders
    past 4 levels were dropped without a word."""
    write(tmp_path, {"a/b/c/d/e/deep/SKILL.md": "---\nname: deep\ndescription: d\n---\nB.\n",
                     "a/b/c/d/e/f/g/h/far/SKILL.md": "---\nname: far\ndescription: d\n---\n"})
    assert [s.id for s in load_skills(tmp_path).skills] == ["deep"]


def test_a_skill_md_beside_a_skill_json_is_not_warned_of_what_the_json_gives(
        tmp_path: Path) -> None:
    """Skilzy's skill.json gives the name and description; its SKILL.md, instructions, was
    warned "'name' is required" and "'description' is missing" on every skills show."""
    folder = write(tmp_path / "image-editor", {
        "skill.json": {"name": "image-editor", "version": "1.0.0", "description": "Edits."},
        "SKILL.md": "---\nallowed-tools: Bash\n---\n\nEdit images.\n"})
    skill = load_skill(folder)
    assert (skill.id, skill.description) == ("image-editor", "Edits.")
    assert not [w for w in skill.warnings if "'name'" in w or "'description'" in w], \
        skill.warnings
    alone = write(tmp_path / "alone", {"SKILL.md": "---\nallowed-tools: Bash\n---\n\nHi.\n"})
    assert any("'name' is required" in w for w in load_skill(alone).warnings)
