"""Two skills of one name in different folders: the second is refused as "already
defined", and the refusal says how to use it anyway, by its folder's path.

aero-agent-skills has avionics/do178c/verification and avionics/do254/verification, both
``name: verification`` with a ``scripts/verification_logic.py``: the second was "not
loaded" with no word of how to run it, though its folder's path runs it.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from tests.test_cli import cli


def _leaf(folder: Path, standard: str) -> None:
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: verification\ndescription: Verify {standard} "
                                     "items.\nversion: 0.1.0\n---\nRun scripts/check.py.\n")
    (folder / "scripts" / "check.py").write_text(f"print('checked under {standard}')\n")


def test_the_refused_twin_says_the_call_that_runs_it(tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    _leaf(skills / "avionics" / "do178c" / "verification", "do178c")
    twin = skills / "avionics" / "do254" / "verification"
    _leaf(twin, "do254")
    r = cli("skills", "list", "--skills-dir", str(skills), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    [refused] = [ln for ln in r.stdout.splitlines() if ln.startswith("not loaded")]
    assert "skill verification@0.1.0 is already defined in" in refused, refused
    said = f"use this one by its folder's path (skillexec script {twin.resolve()} " \
        "scripts/check.py)"
    assert said in refused, refused
    # validate gives the same way out.
    r = cli("skills", "validate", str(skills), "--json", cwd=tmp_path)
    [twin_found] = [f for f in json.loads(r.stdout) if f["path"] == str(twin.resolve())]
    assert said in twin_found["errors"][0], twin_found
    # And the call it names runs the twin, not the skill that has the id.
    call = re.search(r"\(skillexec (script [^)]*)\)", refused)
    assert call is not None, refused
    r = cli(*shlex.split(call.group(1)), cwd=tmp_path)
    assert r.returncode == 0 and "checked under do254" in r.stdout, r.stdout + r.stderr
    r = cli("script", "--skills-dir", str(skills), "verification", "scripts/check.py",
            cwd=tmp_path)
    assert r.returncode == 0 and "checked under do178c" in r.stdout, r.stdout + r.stderr


def test_a_twin_with_an_entry_or_instructions_only_is_named_the_same_way(
        tmp_path: Path) -> None:
    skills = tmp_path / "skills"
    for pack in ("a", "b"):
        folder = skills / pack / "notes"
        folder.mkdir(parents=True)
        (folder / "SKILL.md").write_text(f"---\nname: notes\ndescription: {pack}.\n---\n"
                                         "Read me.\n")  # not identical: a copy is one line
        folder = skills / pack / "adder"
        folder.mkdir(parents=True)
        (folder / "skill.json").write_text(json.dumps({
            "id": "adder", "version": "1.0.0", "description": pack,
            "entry_point": "main:execute"}))
        (folder / "main.py").write_text(f"def execute(input_data):\n    return {pack!r}\n")
    r = cli("skills", "list", "--skills-dir", str(skills), cwd=tmp_path)
    refused = "\n".join(ln for ln in r.stdout.splitlines() if ln.startswith("not loaded"))
    b = (skills / "b").resolve()
    said = f"(skillexec run adder --skills-dir {b / 'adder'})"
    assert said in refused, refused
    assert f"(skillexec skills show {b / 'notes'} --instructions)" in refused, refused
    # Each runs b's, here where the skills folder holds a's under the same ids.
    r = cli("run", "adder", "--skills-dir", str(b / "adder"), cwd=skills.parent)
    assert r.returncode == 0 and r.stdout.strip() == "b", r.stdout + r.stderr
    r = cli("skills", "show", str(b / "notes"), "--instructions", cwd=skills.parent)
    assert r.returncode == 0 and "Read me." in r.stdout, r.stdout + r.stderr
