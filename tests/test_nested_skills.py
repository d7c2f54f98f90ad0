"""Skill folders below another skill's folder are skills of their own.

aero-agent-skills keeps 12 family "router" skills at ``skills/<family>/SKILL.md`` and its
926 leaf skills below them at ``<family>/<pack>/<leaf>/SKILL.md``. The walk stopped at the
router: no leaf was listed, validated or checked, the router listed every leaf's scripts
as its own, and a call of one was refused "run it as that skill's" (that skill had no id).
A SKILL.md in a skill's own folders (its templates/, its tests/fixtures/) stays the
skill's material: a template or a fixture, not a skill.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_cli import cli

_LOGIC = "def ratio(done, total):\n    return done / total\n"
_TEST = """import unittest
from verification_logic import ratio


class RatioTest(unittest.TestCase):
    def test_half(self):
        self.assertEqual(ratio(1, 2), 0.5)


if __name__ == "__main__":
    unittest.main()
"""


def _skill(folder: Path, name: str, body: str = "Route.") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: {name} skill.\n---\n"
                                     f"{body}\n")
    return folder


def _aero(root: Path) -> Path:
    """A router with two leaves in two packs, a template skill and a test fixture."""
    router = _skill(root / "avionics", "avionics",
                    "Sub-skills: avionics/do178c/verification, avionics/do254/hw-check.")
    for pack, leaf in (("do178c", "verification"), ("do254", "hw-check")):
        scripts = _skill(router / pack / leaf, leaf,
                         "Run `python3 scripts/test_verification.py`.") / "scripts"
        scripts.mkdir()
        (scripts / "verification_logic.py").write_text(_LOGIC)
        (scripts / "test_verification.py").write_text(_TEST)
    # A skill-creator's template and a validator's fixture (unikabiz/claude-skills keeps
    # nine invalid-* folders in skill-creator/tests/fixtures/).
    template = _skill(router / "templates" / "new-leaf", "new-leaf", "Copy me.")
    (template / "scripts").mkdir()
    (template / "scripts" / "example.py").write_text("print('template')\n")
    fixture = router / "do178c" / "verification" / "tests" / "fixtures" / "bad"
    fixture.mkdir(parents=True)
    (fixture / "SKILL.md").write_text("---\nname: [unclosed\n---\nBroken on purpose.\n")
    return router


def test_the_skills_below_a_router_are_listed_validated_and_checked(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    _aero(skills)
    r = cli("skills", "list", "--skills-dir", str(skills), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    listed = {s["id"]: s for s in json.loads(r.stdout)}
    # Neither the template nor the fixture is a skill; nothing is "not loaded".
    assert sorted(listed) == ["avionics", "hw-check", "verification"], listed
    assert listed["verification"]["offers"] == "2 scripts"
    assert listed["avionics"]["offers"] == "instructions only"
    assert "not loaded" not in r.stderr
    r = cli("skills", "validate", str(skills), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert sorted(f["id"] for f in json.loads(r.stdout)) == [
        "avionics", "hw-check", "verification"]
    r = cli("skills", "check", "--skills-dir", str(skills), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    checked = {c["id"]: c for c in json.loads(r.stdout)}
    assert sorted(checked) == ["avionics", "hw-check", "verification"]
    # The router reads its own files (the template's), not its leaves' four.
    assert checked["avionics"]["read"]["python_files"] == 1, checked["avionics"]


def test_the_router_no_longer_owns_its_leaves_files(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    router = _aero(skills)
    for named in ("avionics", str(router)):  # by id, and by its folder's path
        r = cli("skills", "show", named, "--skills-dir", str(skills), "--json", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
        shown = json.loads(r.stdout)
        assert shown["id"] == "avionics", shown  # not the first of its leaves by id
        # No leaf's file, and no script: the template's is a template's.
        assert shown["scripts"] == [], shown["scripts"]
        paths = [res["path"] for res in shown["resources"]]
        assert not [p for p in paths if p.startswith(("do178c/", "do254/"))], paths
        assert "templates/new-leaf/SKILL.md" in paths, paths


def test_a_leaf_runs_by_its_id_and_the_router_says_how(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    router = _aero(skills)
    r = cli("script", "--skills-dir", str(skills), "verification",
            "scripts/test_verification.py", cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stderr, r.stderr
    # Through the router: refused, naming a call that works.
    r = cli("script", "--skills-dir", str(skills), "avionics",
            "templates/new-leaf/scripts/example.py", cwd=tmp_path)
    assert r.returncode == 2, r.stdout + r.stderr
    template = (router / "templates" / "new-leaf").resolve()
    said = f"(skillexec script {template} scripts/example.py)"
    assert said in r.stderr, r.stderr
    r = cli("script", str(template), "scripts/example.py", cwd=tmp_path)
    assert r.returncode == 0 and "template" in r.stdout, r.stdout + r.stderr


def test_a_skills_folder_that_is_a_skill_keeps_its_fixtures_to_itself(tmp_path: Path) -> None:
    """The folder named as the skills folder is a skill: its tests/fixtures/ are not
    loaded either (skill-creator's invalid-* fixtures were each "not loaded")."""
    skill = _skill(tmp_path / "skill-creator", "skill-creator")
    for bad in ("invalid-missing-name", "invalid-bad-yaml"):
        (skill / "tests" / "fixtures" / bad).mkdir(parents=True)
        (skill / "tests" / "fixtures" / bad / "SKILL.md").write_text("---\nname: [x\n---\n")
    _skill(skill / "packs" / "helper", "helper")
    r = cli("skills", "list", "--skills-dir", str(skill), "--json", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(s["id"] for s in json.loads(r.stdout)) == ["helper", "skill-creator"]
    assert "not loaded" not in r.stderr, r.stderr
    r = cli("skills", "validate", str(skill), cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
