"""Py Copilot's dotted entry points (``app.skills.skills.<folder>``), and the operator's
``[skills.<id>] entry`` in skillexec.toml that names the real one: a class's method or a
function in the folder (DESIGN §3.5)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from skillexec import SkillExecutionEngine
from skillexec.config import EngineConfig
from skillexec.skills.loader import load_skill
from skillexec.skills.model import EntryKind
from skillexec.skills.overrides import override_entry
from skillexec.task import TaskStatus
from tests.conftest import ROOT, arun

# The shape of Py Copilot's data-analysis: skill.json with a dotted entry_point and no
# execute(), skill.yaml with python tags, a module with a class whose methods do the work.
TALLY = '''
import os


class TallyReportSkill:
    def __init__(self):
        self.calls = 0

    def load(self, file_path):
        with open(file_path) as f:
            return [float(x) for x in f.read().split()]

    def run_complete_analysis(self, numbers, label="total"):
        self.calls += 1
        return {"success": True, "result": {label: sum(numbers), "calls": self.calls,
                                            "cwd_is_workspace": os.getcwd() != "/"}}


def summarize(input_data):
    return {"count": len(input_data["numbers"])}
'''


def py_copilot_skill(root: Path) -> Path:
    folder = root / "tally-report"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps({
        "skill_id": "tally-report", "name": "tally-report", "version": "1.0.0",
        "entry_point": "app.skills.skills.tally-report", "dependencies": [],
        "config_schema": None, "status": "active"}))
    (folder / "skill.yaml").write_text(
        "category: !!python/object/apply:app.schemas.skill_metadata.SkillCategory\n- data\n"
        "entry_point: app.skills.skills.tally-report\nskill_id: tally-report\n"
        "version: 1.0.0\n")
    (folder / "tally_report.py").write_text(TALLY)
    return folder


def engine_config(tmp_path: Path, entry: str | None) -> EngineConfig:
    return EngineConfig(skills_dir=tmp_path / "skills", data_dir=tmp_path / "data",
                        skills={"tally-report": {"entry": entry}} if entry else {})


def test_the_dotted_entry_is_reported_as_before_with_the_way_out(tmp_path: Path) -> None:
    skill = load_skill(py_copilot_skill(tmp_path / "skills"))
    assert skill.entry.kind is EntryKind.NONE
    assert "'app.skills.skills.tally-report' is a Py Copilot package path" in skill.entry.reason
    assert ("skillexec.toml [skills.tally-report] entry = 'tally_report.py:Class.method'"
            in skill.entry.reason)

    async def go() -> None:
        async with SkillExecutionEngine(config=engine_config(tmp_path, None)) as engine:
            r = await engine.execute("tally-report", {"numbers": [1, 2]})
            assert r.status is TaskStatus.REJECTED and r.error is not None
            assert r.error.code == "no_entry_point"

    arun(go())


def test_a_class_method_named_by_the_operator_runs(tmp_path: Path) -> None:
    py_copilot_skill(tmp_path / "skills")

    async def go() -> None:
        cfg = engine_config(tmp_path, "tally_report.py:TallyReportSkill.run_complete_analysis")
        async with SkillExecutionEngine(config=cfg) as engine:
            skill = engine.skills.get("tally-report")
            assert skill.runnable and skill.entry.attr == "TallyReportSkill.run_complete_analysis"
            assert engine.isolation_of(skill) == "sandbox"  # a folder skill: not trusted
            r = await engine.execute("tally-report", {"numbers": [1, 2, 3.5], "label": "sum"})
            assert r.status is TaskStatus.SUCCEEDED, r.error
            assert r.output == {"sum": 6.5, "calls": 1, "cwd_is_workspace": True}
            r = await engine.execute("tally-report", {"numbers": [1]})
            assert r.output["total"] == 1  # the method's own default; one instance per parent
            bad = await engine.execute("tally-report", {"nums": [1]})
            assert bad.status is TaskStatus.FAILED and bad.error is not None
            # No schema: the method's signature checks the parameters.
            assert bad.error.type.value == "parameter_error"
            assert "missing a required argument: 'numbers'" in bad.error.message

    arun(go())


def test_a_function_named_by_the_operator_runs_with_the_entry_contract(tmp_path: Path) -> None:
    py_copilot_skill(tmp_path / "skills")

    async def go() -> None:
        async with SkillExecutionEngine(config=engine_config(
                tmp_path, "tally_report.py:summarize")) as engine:
            r = await engine.execute("tally-report", {"numbers": [4, 5, 6]})
            assert r.status is TaskStatus.SUCCEEDED, r.error
            assert r.output == {"count": 3}

    arun(go())


def test_an_override_that_names_nothing_is_refused_with_why(tmp_path: Path) -> None:
    skill = load_skill(py_copilot_skill(tmp_path / "skills"))
    for text, why in (
        ("tally_report.py:TallyReportSkill.nope", "class TallyReportSkill in tally_report.py "
                                                  "has no method 'nope'"),
        ("tally_report.py:Missing", "tally_report.py defines no 'Missing' at its top level"),
        ("../outside.py:f", "points outside the skill folder"),
        ("tally_report.py", "is not 'file.py:function' or 'file.py:Class.method'"),
        ("absent.py:f", "no Python file 'absent.py'"),
        ("tally_report.py:summarize.x", "'summarize' in tally_report.py is not a class"),
    ):
        entry = override_entry(skill, text).entry
        assert entry.kind is EntryKind.NONE and why in entry.reason, (text, entry.reason)


def test_the_override_from_skillexec_toml_through_the_cli(tmp_path: Path) -> None:
    py_copilot_skill(tmp_path / "skills")
    (tmp_path / "skillexec.toml").write_text(
        '[skills.tally-report]\nentry = "tally_report.py:TallyReportSkill.run_complete_analysis"\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200"}
    run = [sys.executable, "-m", "skillexec"]
    r = subprocess.run([*run, "skills", "list", "--json", "--skills-dir", "skills"],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    [listed] = json.loads(r.stdout)
    assert listed["offers"] == "entry"
    assert listed["entry"] == "tally_report.py:TallyReportSkill.run_complete_analysis"
    r = subprocess.run([*run, "run", "tally-report", "--skills-dir", "skills", "--json",
                        "--params", "-"], input='{"numbers": [2, 3]}', cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["output"]["total"] == 5


def test_a_folder_whose_python_files_are_scripts_is_not_told_to_name_one_as_entry(
        tmp_path: Path) -> None:
    """Py Copilot's xlsx: its only Python file, ``recalc.py``, is a command-line program.
    The reason said to name it in skillexec.toml as ``'recalc.py:Class.method'``; it now
    says it is a script, which ``skillexec script`` runs."""
    folder = tmp_path / "skills" / "sheets"
    folder.mkdir(parents=True)
    (folder / "skill.json").write_text(json.dumps(
        {"skill_id": "sheets", "version": "1.0.0", "entry_point": "app.skills.skills.sheets"}))
    (folder / "SKILL.md").write_text("---\nname: sheets\ndescription: Sheets.\n---\nGo.\n")
    (folder / "recalc.py").write_text(
        "import sys\n\ndef main():\n    print(sys.argv)\n\nif __name__ == '__main__':\n"
        "    main()\n")
    skill = load_skill(folder)
    assert skill.entry.kind is EntryKind.NONE and skill.scripts == ("recalc.py",)
    reason = skill.entry.reason
    assert "(recalc.py) are scripts" in reason and "skillexec script" in reason, reason
    assert "Class.method" not in reason
