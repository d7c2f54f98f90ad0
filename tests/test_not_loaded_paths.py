"""Every "not loaded" line names its folder one way, by its full path, however the skills
folder was given: over tomevault, a refused SKILL.md was named by its absolute path and a
duplicate by the path relative to where skillexec ran. The real CLI, real folders."""

from __future__ import annotations

import re
from pathlib import Path

from tests.test_cli import cli


def _write(folder: Path, name: str, text: str) -> None:
    folder.mkdir(parents=True)
    (folder / name).write_text(text, encoding="utf-8")


def _skills(root: Path) -> Path:
    skills = root / "skills"
    _write(skills / "a", "SKILL.md", "---\nname: tool\ndescription: A.\n---\nA.\n")
    _write(skills / "b", "SKILL.md", "---\nname: tool\ndescription: B.\n---\nB.\n")
    _write(skills / "bad", "SKILL.md", "---\nname: bad\ndescription: [open\n---\nx\n")
    _write(skills / "low", "skill.md", "---\nname: low\ndescription: l\n---\n")
    _write(skills / ".hidden" / "h", "SKILL.md", "---\nname: h\ndescription: h\n---\n")
    return skills


def _paths(line: str) -> list[str]:
    """The folder or file a line names first, and the one it is a duplicate of."""
    named = [line.split(" ", 1)[0]]
    if (dup := re.search(r"already defined in (\S+)", line)) is not None:
        named.append(dup[1])
    return named


def test_list_names_every_folder_by_its_full_path(tmp_path: Path) -> None:
    top = _skills(tmp_path).resolve()
    r = cli("skills", "list", "--skills-dir", "skills", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    said = [ln.split(" ", 2)[2] if ln.startswith("not loaded ") else ln.split(" ", 1)[1]
            for ln in r.stdout.splitlines() if ln.startswith(("not loaded ", "note "))]
    assert len(said) == 4, r.stdout  # the duplicate, the YAML, the skill.md, the hidden
    for line in said:
        for path in _paths(line):
            assert path.startswith(f"{top}/"), line
    assert f"{top / 'b'}: skill tool@1.0.0 is already defined in {top / 'a'}" in r.stdout
    r = cli("skills", "list", "--skills-dir", "skills", "--json", cwd=tmp_path)
    lines = [ln.removeprefix("skillexec: not loaded: ") for ln in r.stderr.splitlines()]
    assert len(lines) == 4 and all(
        p.startswith(f"{top}/") for ln in lines for p in _paths(ln)), r.stderr


def test_validate_names_them_as_list_does(tmp_path: Path) -> None:
    top = _skills(tmp_path).resolve()
    r = cli("skills", "validate", "skills", cwd=tmp_path)
    assert r.returncode == 2
    errors = [ln.strip().removeprefix("error ") for ln in r.stdout.splitlines()
              if ln.strip().startswith("error ")]
    assert len(errors) == 3, r.stdout
    for line in errors:
        for path in _paths(line):
            assert path.startswith(f"{top}/"), line


def test_a_reason_many_folders_share_is_one_line_with_a_relative_skills_folder(
        tmp_path: Path) -> None:
    """The list groups a reason by what follows the folder's name: with the folder named
    two ways, twelve empty SKILL.md files were twelve lines."""
    for i in range(12):
        _write(tmp_path / "skills" / f"x{i}", "SKILL.md", "\n")
    r = cli("skills", "list", "--skills-dir", "skills", cwd=tmp_path)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("not loaded")]
    assert len(lines) == 1 and lines[0].startswith("not loaded 12 folders, each: "), r.stdout
