"""``skillexec script --out DIR`` writes the files the script made or changed back into
DIR at their paths in its workspace (``--out .``: an in-place edit of a ``-f`` file, as a
plain run makes it), never outside DIR; ``skillexec artifacts get --task ID -o DIR``
fetches every artifact of a task alike. The user's ``paper.tex`` stayed unedited, and
getting results meant one ``artifacts get`` per file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REFLOW = """\
import os, pathlib, sys
p = pathlib.Path(sys.argv[1])
p.write_text(p.read_text().replace('. ', '.\\n'))
os.makedirs('out/tables', exist_ok=True)
pathlib.Path('out/tables/t1.json').write_text('[1]')
"""

SNEAKY = """\
import os, pathlib
pathlib.Path('ok.txt').write_text('fine')
pathlib.Path('link/x.txt').write_text('through a link')  # link: a folder in the workspace
"""


def _setup(root: Path) -> list[str]:
    folder = root / "skills" / "copyedit"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: copyedit\ndescription: Edit prose. Use "
                                     "on drafts.\n---\nRun scripts/reflow.py FILE.\n")
    (folder / "scripts" / "reflow.py").write_text(REFLOW)
    (folder / "scripts" / "sneaky.py").write_text(SNEAKY)
    return [sys.executable, "-m", "skillexec", "--data-dir", str(root / "data")]


def _run(cmd: list[str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SKILLEXEC_SKILLS_DIR", "COLUMNS")}
    base, rest = cmd[:3], cmd[3:]
    return subprocess.run([*base, *args, *rest], capture_output=True, text=True, timeout=120,
                          cwd=cwd, env=env, stdin=subprocess.DEVNULL)


def test_out_dot_edits_in_place_and_adds_what_it_made(tmp_path: Path) -> None:
    cmd = _setup(tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    (work / "paper.tex").write_text("One. Two. Three.\n")
    p = _run(cmd, work, "script", "--skills-dir", str(tmp_path / "skills"), "-f", "paper.tex",
             "--out", ".", "copyedit", "scripts/reflow.py", "paper.tex")
    assert p.returncode == 0, p.stderr
    assert (work / "paper.tex").read_text() == "One.\nTwo.\nThree.\n"
    assert (work / "out" / "tables" / "t1.json").read_text() == "[1]"
    assert "wrote paper.tex\n" in p.stderr and "wrote out/tables/t1.json\n" in p.stderr

    # without --out nothing comes back; then every artifact of that task, by its id
    (work / "paper.tex").write_text("A. B.\n")
    p = _run(cmd, work, "script", "--skills-dir", str(tmp_path / "skills"), "-f", "paper.tex",
             "--json", "copyedit", "scripts/reflow.py", "paper.tex")
    assert (work / "paper.tex").read_text() == "A. B.\n"
    task = json.loads(p.stdout)["task_id"]
    got = _run(cmd, work, "artifacts", "get", "--task", task, "-o", "fetched")
    assert got.returncode == 0, got.stderr
    assert sorted(got.stdout.split()) == ["fetched/out/tables/t1.json", "fetched/paper.tex"]
    assert (work / "fetched" / "paper.tex").read_text() == "A.\nB.\n"


def test_out_never_writes_through_a_link_or_outside(tmp_path: Path) -> None:
    cmd = _setup(tmp_path)
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    (work / "dest").mkdir(parents=True)
    elsewhere.mkdir()
    (work / "dest" / "link").symlink_to(elsewhere)  # a link left in DIR, out of it
    (work / "link").mkdir()  # the script's own folder of that name
    p = _run(cmd, work, "script", "--skills-dir", str(tmp_path / "skills"), "-f", "link",
             "--out", "dest", "copyedit", "scripts/sneaky.py")
    assert p.returncode == 0, p.stderr
    assert (work / "dest" / "ok.txt").read_text() == "fine"
    assert list(elsewhere.iterdir()) == []
    assert "(link/x.txt) not written to dest: link is a link here, never written through" \
        in p.stderr, p.stderr

    # the same refusal from artifacts get, which then exits 1
    p = _run(cmd, work, "script", "--skills-dir", str(tmp_path / "skills"), "-f", "link",
             "--json", "copyedit", "scripts/sneaky.py")
    got = _run(cmd, work, "artifacts", "get", "--task", json.loads(p.stdout)["task_id"],
               "-o", "dest")
    assert got.returncode == 1 and "never written through" in got.stderr, got.stderr
    assert list(elsewhere.iterdir()) == []


def test_refusals_are_one_sentence(tmp_path: Path) -> None:
    cmd = _setup(tmp_path)
    (tmp_path / "afile").write_text("")
    p = _run(cmd, tmp_path, "script", "--skills-dir", str(tmp_path / "skills"), "--out",
             "afile", "copyedit", "scripts/reflow.py", "x")
    assert (p.returncode, p.stderr) == (2, "skillexec: --out afile: is a file, not a folder\n")
    p = _run(cmd, tmp_path, "artifacts", "get", "--task", "t1")
    assert (p.returncode, p.stderr) == (
        2, "skillexec: --task t1: name the folder to write its artifacts into with -o DIR\n")
