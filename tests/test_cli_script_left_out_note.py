"""``skillexec script -f DIR`` leaves out a repository and installed packages (``.git``,
``node_modules``, ...) and says so on stderr, with the ``-f`` that sends each: a git
scanner answered "Not a git repo" and a Node script "typescript: not installed", and
nothing said the folder had not been sent."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _skill(root: Path) -> Path:
    folder = root / "skills" / "probe"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: probe\ndescription: Look at a project. Use "
                                     "to probe.\n---\nRun scripts/look.py DIR.\n")
    (folder / "scripts" / "look.py").write_text(
        "import os, sys\n"
        "top = sys.argv[1]\n"
        "print(sorted(os.listdir(top)))\n"
        "print(open(os.path.join(top, '.git', 'HEAD')).read().strip())\n")
    return folder.parent


def _project(root: Path) -> None:
    repo = root / "repo"
    for sub in (".git", "node_modules/typescript", "__pycache__", "src"):
        (repo / sub).mkdir(parents=True)
    (repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (repo / "node_modules" / "typescript" / "package.json").write_text('{"version": "5.4.5"}')
    (repo / "__pycache__" / "a.cpython-311.pyc").write_bytes(b"\0")
    (repo / "src" / "a.py").write_text("x = 1\n")


def _script(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "SKILLEXEC_SKILLS_DIR")}
    return subprocess.run([sys.executable, "-m", "skillexec", "script", "--skills-dir",
                           str(cwd / "skills"), "--data-dir", str(cwd / "data"), *args],
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_a_folder_says_what_it_left_out_and_how_to_send_it(tmp_path: Path) -> None:
    _skill(tmp_path)
    _project(tmp_path)
    p = _script(tmp_path, "-f", "repo", "probe", "scripts/look.py", "repo")
    assert p.returncode == 1  # the script's own failure: no .git/HEAD in its workspace
    assert "note: -f repo left out .git (send it with -f repo/.git), node_modules (send it " \
           "with -f repo/node_modules)\n" in p.stderr, p.stderr
    assert "__pycache__" not in p.stderr  # a cache Python makes anew: not worth a note

    # as the note says: sent, it is there, and no note claims it was left out
    sent = _script(tmp_path, "-f", "repo", "-f", "repo/.git", "probe", "scripts/look.py", "repo")
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == "['.git', 'src']\nref: refs/heads/main\n"
    assert "note: -f repo left out node_modules (send it with -f repo/node_modules)\n" \
        in sent.stderr
    assert ".git (send" not in sent.stderr


def test_a_folder_from_elsewhere_is_sent_with_dest_and_path(tmp_path: Path) -> None:
    _skill(tmp_path)
    _project(tmp_path / "elsewhere")
    here = tmp_path / "cwd"
    here.mkdir()
    (here / "skills").symlink_to(tmp_path / "skills")
    repo = tmp_path / "elsewhere" / "repo"
    p = _script(here, "-f", str(repo), "probe", "scripts/look.py", "repo")
    assert f"note: -f {repo} left out .git (send it with -f repo/.git={repo}/.git)" in p.stderr
    sent = _script(here, "-f", str(repo), "-f", f"repo/.git={repo}/.git", "probe",
                   "scripts/look.py", "repo")
    assert (sent.returncode, sent.stdout.splitlines()[-1]) == (0, "ref: refs/heads/main"), \
        sent.stderr
