"""``skillexec script -f``: two files for one destination were one file (the later replaced
the earlier, silently); the command now refuses them, naming both, before anything runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", "script", "s", "run.py", *args,
                           "--data-dir", str(cwd / "data"), "--skills-dir", str(cwd)],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.mark.parametrize(("files", "says"), [
    (("a/x.txt", "a/x.txt=b/x.txt"),
     "--file a/x.txt=b/x.txt: a/x.txt is given twice (--file a/x.txt first)"),
    (("./y.txt=a/x.txt", "y.txt=b/x.txt"),
     "--file y.txt=b/x.txt: y.txt is given twice (--file ./y.txt=a/x.txt first)"),
])
def test_two_files_for_one_destination_are_refused(tmp_path: Path, files: tuple[str, ...],
                                                    says: str) -> None:
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "x.txt").write_text(d)
    args = [a for f in files for a in ("-f", f)]
    p = cli(tmp_path, *args)
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == (f"skillexec: {says}; name another destination with DEST=PATH\n")
    assert not (tmp_path / "data").exists()  # refused before an engine was made


def _reader(root: Path) -> Path:
    skill = root / "skills" / "reader"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: reader\ndescription: Reads a file.\n---\nRead.\n")
    (skill / "scripts" / "read.py").write_text(
        "import sys\nprint(open(sys.argv[1]).read().upper())\n")
    return root / "skills"


def _script(cwd: Path, skills: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", "script", "reader",
                           "scripts/read.py", *args, "--data-dir", str(cwd / "data"),
                           "--skills-dir", str(skills)],
                          capture_output=True, text=True, timeout=60, cwd=cwd)


def test_a_local_file_named_without_file_is_pointed_out(tmp_path: Path) -> None:
    """A new user's first call names a file of the folder they are in: the script, in a
    workspace of its own, said only FileNotFoundError. The command now says which argument
    is a file here and the -f that would have sent it."""
    skills = _reader(tmp_path)
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.txt").write_text("more")
    p = _script(tmp_path, skills, "notes.txt")
    assert p.returncode == 1 and "FileNotFoundError" in p.stderr, p.stderr
    assert ("note: notes.txt is a file here, but the script runs in a workspace of its own "
            "that holds only what -f sends: add -f notes.txt") in p.stderr
    p = _script(tmp_path, skills, str(tmp_path / "sub" / "more.txt"))
    assert p.returncode == 1
    assert (f"note: {tmp_path / 'sub' / 'more.txt'} is a file here, but the script runs in "
            "a workspace of its own that holds only what -f sends: add -f "
            f"{tmp_path / 'sub' / 'more.txt'} and give it as more.txt") in p.stderr
    p = _script(tmp_path, skills, "sub/more.txt")
    assert "a workspace of its own that holds only what -f sends: add -f " \
           "sub/more.txt=sub/more.txt" in p.stderr, p.stderr
    p = _script(tmp_path, skills, "notes.txt", "-f", "notes.txt")
    assert (p.returncode, p.stdout) == (0, "HELLO\n") and "note:" not in p.stderr, p.stderr
    # Sent at its relative path (UiPath's audit_plan.py tasks/tasks.md), as read from here.
    p = _script(tmp_path, skills, "sub/more.txt", "-f", "sub/more.txt")
    assert (p.returncode, p.stdout) == (0, "MORE\n") and "note:" not in p.stderr, p.stderr
    # Sent by its absolute path: at its name, the argument naming it passed as that name,
    # and said so (the script was given a path its sandbox hides).
    more = tmp_path / "sub" / "more.txt"
    p = _script(tmp_path, skills, str(more), "-f", str(more))
    assert (p.returncode, p.stdout) == (0, "MORE\n"), p.stderr
    assert f"note: {more} is what -f {more} sent, at more.txt in the script's workspace: " \
        "passed as more.txt" in p.stderr, p.stderr
    # A failure the file is not in (the script's missing option: cat-agent-skills' gantt)
    # gets no note: the script said nothing of the file.
    (skills / "reader" / "scripts" / "opts.py").write_text(
        "import sys\nsys.exit('opts.py: error: the following arguments are required: --x')\n")
    p = subprocess.run([sys.executable, "-m", "skillexec", "script", "reader", "scripts/opts.py",
                        "notes.txt", "--data-dir", str(tmp_path / "data"), "--skills-dir",
                        str(skills)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 1 and "--x" in p.stderr and "note:" not in p.stderr, p.stderr


def test_a_folder_is_sent_with_its_files(tmp_path: Path) -> None:
    """vercel-optimize scans a project folder: -f nextapp was refused ("a folder, not a
    file"), and the project had to be sent file by file. A folder sends its files (not its
    .git, node_modules, .venv, __pycache__, nor links); named without -f, it is pointed out."""
    skill = tmp_path / "skills" / "scanner"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text("---\nname: scanner\ndescription: Scans.\n---\nScan.\n")
    (skill / "scripts" / "scan.py").write_text(
        "import os, sys\ntop = sys.argv[1]\n"
        "if not os.path.isdir(top):\n    sys.exit(f'{top}: no such folder')\n"
        "print(sorted(os.path.relpath(os.path.join(d, f), top)\n"
        "             for d, _, fs in os.walk(top) for f in fs))\n")
    app = tmp_path / "nextapp"
    for rel in ("app/page.tsx", ".vercel/project.json", "package.json",
                "node_modules/react/index.js", ".git/HEAD", "app/__pycache__/x.pyc"):
        (app / rel).parent.mkdir(parents=True, exist_ok=True)
        (app / rel).write_text("x")
    (app / "link.txt").symlink_to("/etc/hostname")

    def scan(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "skillexec", "script", "scanner",
                               "scripts/scan.py", *args, "--data-dir", str(tmp_path / "data"),
                               "--skills-dir", str(tmp_path / "skills")],
                              capture_output=True, text=True, timeout=60, cwd=tmp_path)
    p = scan("nextapp", "-f", "nextapp")
    assert p.returncode == 0, p.stderr
    assert p.stdout == "['.vercel/project.json', 'app/page.tsx', 'package.json']\n"
    p = scan("code", "-f", "code=nextapp")
    assert p.returncode == 0 and "app/page.tsx" in p.stdout, p.stderr
    p = scan("nextapp")
    assert p.returncode == 1
    assert ("note: nextapp is a folder here, but the script runs in a workspace of its own "
            "that holds only what -f sends: add -f nextapp") in p.stderr, p.stderr
