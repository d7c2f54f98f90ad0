"""``skillexec script -f FOLDER`` copies the folder as ``cp -a`` would, within the workspace.

A folder became ``{path: bytes}``: only its regular files' contents travelled. A script
that writes into the project's empty ``out/`` failed (``No such file or directory:
'out/report.csv'``), ``./helper.sh`` was ``Permission denied`` (126), an inventory of a
codebase said every file was "0 days old", and ``docs/README.md -> real.md`` was missing
without a word. Now folders (empty ones too), the owner execute bit, modification times and
links into the folder arrive; a link out of it is never followed: left out, with a note
that gives the -f which sends what it leads to.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

PROBE = r'''
import json, os, stat, sys
out = {}
for here, dirs, names in os.walk("."):
    for n in dirs + names:
        p = os.path.relpath(os.path.join(here, n), ".")
        st = os.lstat(p)
        kind = ("link" if stat.S_ISLNK(st.st_mode) else "dir" if stat.S_ISDIR(st.st_mode)
                else "file")
        out[p] = {"kind": kind, "x": bool(st.st_mode & stat.S_IXUSR), "mtime": int(st.st_mtime),
                  "link": os.readlink(p) if kind == "link" else None,
                  "text": open(p).read() if kind != "dir" and os.path.exists(p) else None}
print(json.dumps(out, sort_keys=True))
'''

OLD = 1_577_836_800  # 2020-01-01


def _skills(root: Path) -> Path:
    skill = root / "skills" / "proj"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: proj\ndescription: Project tools.\n---\nGo.\n")
    (skill / "scripts" / "probe.py").write_text(PROBE)
    (skill / "scripts" / "runit.sh").write_text("./helper.sh a b\n")
    (skill / "scripts" / "report.py").write_text(
        "open('out/report.csv', 'w').write('a,b\\n')\nprint('written')\n")
    return root / "skills"


def _project(root: Path) -> Path:
    proj = root / "work" / "lproj"
    (proj / "out").mkdir(parents=True)  # empty: the script writes its report there
    (proj / "docs").mkdir()
    (proj / "docs" / "real.md").write_text("the docs")
    (proj / "docs" / "README.md").symlink_to("real.md")
    (proj / "top.md").symlink_to(proj / "docs" / "real.md")  # absolute, into the folder
    (proj / "helper.sh").write_text("#!/bin/bash\necho helper ran with \"$@\"\n")
    (proj / "helper.sh").chmod(0o755)
    (proj / "old.txt").write_text("old")
    os.utime(proj / "old.txt", (OLD, OLD))
    shared = root / "work" / "shared"
    (shared / "folder").mkdir(parents=True)
    (shared / "settings.env").write_text("A=1")
    (proj / ".env").symlink_to("../shared/settings.env")  # out of it: left out
    (proj / "theirs").symlink_to(shared / "folder")
    (proj / "gone").symlink_to("/nowhere/x")
    (proj / "docs" / "draft.md").symlink_to("unwritten.md")  # dangling, inside: a link
    os.mkfifo(proj / "pipe")
    return proj


def _script(cwd: Path, skills: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", "script", "proj", *args,
                           "--skills-dir", str(skills), "--data-dir",
                           str(skills.parent / "data")],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def test_a_folder_arrives_as_cp_a_copies_it(tmp_path: Path) -> None:
    skills, proj = _skills(tmp_path), _project(tmp_path)
    p = _script(proj, skills, "scripts/probe.py", "-f", ".")
    assert p.returncode == 0, p.stderr
    seen = json.loads(p.stdout)
    assert seen["out"]["kind"] == "dir"
    assert seen["helper.sh"]["x"] and not seen["old.txt"]["x"]
    assert seen["old.txt"]["mtime"] == OLD
    assert seen["docs/README.md"] == {"kind": "link", "x": True, "mtime": seen[
        "docs/README.md"]["mtime"], "link": "real.md", "text": "the docs"}
    assert (seen["top.md"]["link"], seen["top.md"]["text"]) == ("docs/real.md", "the docs")
    assert (seen["docs/draft.md"]["link"], seen["docs/draft.md"]["text"]) == (
        "unwritten.md", None)
    assert ".env" not in seen and "theirs" not in seen and "pipe" not in seen
    theirs = tmp_path / "work" / "shared" / "folder"
    assert ("note: -f . left out .env (a link out of it, to ../shared/settings.env: send "
            "that with -f .env=../shared/settings.env), gone (a link to /nowhere/x, which "
            "is not there), pipe (not a file, a folder or a link), theirs (a link out of it, "
            f"to {theirs}: send that with -f theirs=../shared/folder)\n") in p.stderr, p.stderr


def test_an_empty_output_folder_is_there_to_write_into(tmp_path: Path) -> None:
    skills, proj = _skills(tmp_path), _project(tmp_path)
    p = _script(proj, skills, "scripts/report.py", "-f", ".=.")
    assert (p.returncode, p.stdout) == (0, "written\n"), p.stderr
    assert "out/report.csv (text/csv" in p.stderr
    # sent alone under its own name, an empty folder arrives too
    p = _script(proj, skills, "scripts/probe.py", "-f", "out")
    seen = {k: v for k, v in json.loads(p.stdout).items() if k != ".tmp"}  # its TMPDIR
    assert seen == {"out": {"kind": "dir", "x": True, "link": None,
                                            "mtime": int(os.stat(proj / "out").st_mtime),
                                            "text": None}}, p.stderr


def test_a_sent_file_keeps_its_execute_bit(tmp_path: Path) -> None:
    skills, proj = _skills(tmp_path), _project(tmp_path)
    p = _script(proj, skills, "scripts/runit.sh", "-f", "helper.sh")
    assert (p.returncode, p.stdout) == (0, "helper ran with a b\n"), p.stderr
