"""``skills list`` of a folder of loose markdown pages (MCP-Skills-Universe: 25,722 scraped
``.md`` files, no skill folder) says why none loads: it printed an empty table and one
"not loaded" line for the one page named skill.md, the other pages silently ignored."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

NOTE = ("note 3 markdown files here are not in skill folders (a skill is a folder holding "
        "SKILL.md, or skill.json / skill.yaml), e.g. ")


def _list(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "skillexec", "skills", "list", "--skills-dir", "pages", *extra],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "300"})


def test_loose_markdown_files_are_counted(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    for rel in ("01-dev/git.md", "01-dev/docker.md", "02-science/notes/math.md",
                "21-education/skill.md", ".hidden/x.md"):
        (pages / rel).parent.mkdir(parents=True, exist_ok=True)
        (pages / rel).write_text("# a page\n")
    out = _list(tmp_path)
    assert out.returncode == 0, out.stderr
    said = " ".join(out.stdout.split())
    assert NOTE in said, said
    as_json = _list(tmp_path, "--json")
    assert as_json.stdout.strip() == "[]"
    assert "skillexec: note: 3 markdown files here are not in skill folders" in as_json.stderr


def test_no_note_where_skills_load(tmp_path: Path) -> None:
    folder = tmp_path / "pages" / "guide"
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: guide\ndescription: D.\n---\nSteps.\n")
    (folder / "reference.md").write_text("more\n")
    out = _list(tmp_path)
    assert out.returncode == 0 and "markdown files" not in out.stdout
