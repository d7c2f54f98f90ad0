"""``skillexec script``: an argument that names what ``-f`` sent, as the user wrote it
(absolute or relative), is passed as its path in the workspace, with a note; one naming a
path here the sandbox cannot see gets a note, on success too. A SKILL.md's ``--scan-dir
/path/to/repo`` made a secrets scanner walk a folder its sandbox hides and say CLEAN."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests._isolation import need_sandbox

SCAN = """\
import argparse, os, sys
p = argparse.ArgumentParser()
p.add_argument('--scan-dir')
p.add_argument('--file')
a = p.parse_args()
found = []
if a.file:
    found += [a.file] if 'AKIA' in open(a.file).read() else []
for top, _, names in os.walk(a.scan_dir or '/nonexistent'):  # swallows what it cannot list
    found += [n for n in names if 'AKIA' in open(os.path.join(top, n)).read()]
print('BLOCKED' if found else 'CLEAN', sorted(found))
sys.exit(2 if found else 0)
"""


def _setup(root: Path) -> tuple[list[str], Path]:
    folder = root / "skills" / "scan"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: scan\ndescription: Scan for secrets. Use "
                                     "before a commit.\n---\nRun scripts/scan.py --scan-dir "
                                     "/path/to/repo.\n")
    (folder / "scripts" / "scan.py").write_text(SCAN)
    repo = root / "elsewhere" / "repo"
    repo.mkdir(parents=True)
    (repo / "config.py").write_text('AWS_KEY = "AKIAIOSFODNN7EXAMPLE"\n')
    (root / "cwd").mkdir()
    return [sys.executable, "-m", "skillexec", "script", "--skills-dir", str(root / "skills"),
            "--data-dir", str(root / "data")], repo


def _run(cmd: list[str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SKILLEXEC_SKILLS_DIR", "COLUMNS")}
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=env, stdin=subprocess.DEVNULL)


def test_an_argument_naming_a_sent_folder_is_its_workspace_path(tmp_path: Path) -> None:
    need_sandbox()
    cmd, repo = _setup(tmp_path)
    cwd = tmp_path / "cwd"
    for sent, given in ((str(repo), str(repo)), ("../elsewhere/repo", "../elsewhere/repo"),
                        (str(repo), "../elsewhere/repo/")):
        p = _run(cmd, cwd, "-f", sent, "scan", "scripts/scan.py", "--", "--scan-dir", given)
        assert (p.returncode, p.stdout) == (2, "BLOCKED ['config.py']\n"), p.stderr
        assert f"note: {given} is what -f {sent} sent, at repo in the script's workspace: " \
               "passed as repo\n" in p.stderr, p.stderr
    # --opt=PATH, and a file within a folder sent
    p = _run(cmd, cwd, "-f", str(repo), "scan", "scripts/scan.py", "--",
             f"--file={repo}/config.py")
    assert (p.returncode, p.stdout) == (2, "BLOCKED ['repo/config.py']\n"), p.stderr
    assert "passed as --file=repo/config.py\n" in p.stderr


def test_a_host_path_the_sandbox_hides_is_noted_on_success(tmp_path: Path) -> None:
    need_sandbox()
    cmd, repo = _setup(tmp_path)
    p = _run(cmd, tmp_path / "cwd", "scan", "scripts/scan.py", "--", "--scan-dir", str(repo))
    assert (p.returncode, p.stdout) == (0, "CLEAN []\n"), p.stderr  # what it could see
    assert f"note: {repo} is a path on this machine, which the script's sandbox does not " \
           f"see (it sees its workspace, its skill's folder and system files): add -f {repo} " \
           "(the argument is then passed as repo)\n" in p.stderr, p.stderr
    # a system file it does see: no note
    quiet = _run(cmd, tmp_path / "cwd", "scan", "scripts/scan.py", "--", "--file", "/etc/passwd")
    assert (quiet.returncode, quiet.stdout) == (0, "CLEAN []\n"), quiet.stderr
    assert "note:" not in quiet.stderr
