"""``skillexec script -f .``: the folder one is in, sent as the workspace's top.

``-f .`` and ``-f ./`` were refused ("expected PATH or DEST=PATH") though ``.`` is a PATH
and "send the folder I am in" a new user's first try; ``-f .=.`` worked. And after ``-f
.=.`` a failed call still said "note: . is a folder here ...: add -f .=.", what was given.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _skills(root: Path) -> Path:
    skill = root / "skills" / "lister"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: lister\ndescription: Lists.\n---\nList.\n")
    # lists the folder it is given, then fails when asked to (a scanner's "found issues")
    (skill / "scripts" / "ls.py").write_text(
        "import os, sys\n"
        "for here, dirs, names in sorted(os.walk(sys.argv[1])):\n"
        "    for n in sorted(names):\n"
        "        print(os.path.relpath(os.path.join(here, n), sys.argv[1]))\n"
        "sys.exit(1 if sys.argv[2:] == ['fail'] else 0)\n")
    return root / "skills"


def _script(cwd: Path, skills: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # the data dir beside the skills, never in a folder sent
    return subprocess.run([sys.executable, "-m", "skillexec", "script", "lister",
                           "scripts/ls.py", "--skills-dir", str(skills),
                           "--data-dir", str(skills.parent / "data"), *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


@pytest.mark.parametrize("spec", [".", "./", ".=."])
def test_dot_sends_this_folder_as_the_workspace_top(tmp_path: Path, spec: str) -> None:
    skills = _skills(tmp_path)
    proj = tmp_path / "proj"
    (proj / "sub").mkdir(parents=True)
    (proj / "a.txt").write_text("a")
    (proj / "sub" / "b.txt").write_text("b")
    p = _script(proj, skills, "-f", spec, "--", ".")
    assert (p.returncode, p.stdout) == (0, "a.txt\nsub/b.txt\n"), p.stderr
    failed = _script(proj, skills, "-f", spec, "--", ".", "fail")
    assert failed.returncode == 1
    assert "note:" not in failed.stderr, failed.stderr


def test_dot_unsent_is_still_pointed_out(tmp_path: Path) -> None:
    skills = _skills(tmp_path)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "a.txt").write_text("a")
    p = _script(proj, skills, "--", ".", "fail")
    assert p.returncode == 1
    assert ("note: . is a folder here, but the script runs in a workspace of its own that "
            "holds only what -f sends: add -f .\n") in p.stderr, p.stderr


def test_the_parent_folder_is_sent_under_its_name(tmp_path: Path) -> None:
    skills = _skills(tmp_path)
    proj = tmp_path / "proj"
    (proj / "inner").mkdir(parents=True)
    (proj / "a.txt").write_text("a")
    p = _script(proj / "inner", skills, "-f", "..", "--", "proj")
    assert (p.returncode, p.stdout) == (0, "a.txt\n"), p.stderr
