"""``skills list``'s environment column (trial B, finding 7): a skill whose scripts import
packages it does not declare was "none needed", which reads as "will run"; every call of
the crispr pipeline then failed missing_module. It says what ``skills show`` says."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_environments import cli


def _skill(root: Path, name: str, files: dict[str, str]) -> None:
    folder = root / "skills" / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(f"---\nname: {name}\ndescription: The {name} skill.\n"
                                     "---\nRead me.\n")
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)


def _rows(text: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in text.splitlines() if line.strip()}


def test_a_skill_that_declares_nothing_is_none_declared_not_none_needed(
        tmp_path: Path) -> None:
    _skill(tmp_path, "crispr", {"scripts/qc.py": "import pandas\n"})
    _skill(tmp_path, "notes", {})  # instructions only: nothing runs, nothing needed
    where = ("--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data"))
    r = cli("skills", "list", *where, cwd=tmp_path, env={})
    assert r.returncode == 0, r.stderr
    rows = _rows(r.stdout)
    assert "none declared" in " ".join(rows["crispr"]) and \
        "needed" not in rows["crispr"], r.stdout
    assert "none needed" in " ".join(rows["notes"]), r.stdout
    assert ("none declared: a skill that runs code and declares no packages (skillexec skills "
            "check ID lists what its code imports that nothing provides)") in \
        " ".join(r.stdout.split()), r.stdout
    show = cli("skills", "show", "crispr", *where, cwd=tmp_path, env={})
    assert "environment    none declared" in show.stdout, show.stdout
    # --json keeps the environment's state, as the HTTP skill list does.
    listed = json.loads(cli("skills", "list", "--json", *where, cwd=tmp_path, env={}).stdout)
    assert {s["id"]: s["environment"]["state"] for s in listed} == {
        "crispr": "none needed", "notes": "none needed"}


def test_no_note_where_every_skill_declares_what_it_needs(tmp_path: Path) -> None:
    # A package no environment here has (pandas may be in the engine's own).
    _skill(tmp_path, "fit", {"scripts/fit.py": "import skillexec_absent_pkg\n",
                             "requirements.txt": "skillexec-absent-pkg\n"})
    r = cli("skills", "list", "--skills-dir", str(tmp_path / "skills"), "--data-dir",
            str(tmp_path / "data"), cwd=tmp_path, env={})
    assert "not installed" in " ".join(_rows(r.stdout)["fit"]), r.stdout
    assert "none declared" not in r.stdout
