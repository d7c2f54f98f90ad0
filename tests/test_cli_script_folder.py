"""``skillexec script`` as a new user meets it on a skill folder of SKILL.md and scripts.

- ``SKILL`` is "an id from --skills-dir or the path of a skill folder" (README), and ``run
  FOLDER`` on a skill with scripts only says to try ``skillexec script FOLDER SCRIPT``:
  that command answered ``no skill '/path'; no skills are loaded`` (exit 2).
- The ``artifact ID: NAME (MIME, N B)`` line was wrapped at 80 columns when stderr is not a
  terminal (``2>&1 | grep artifact`` lost its mime type and size to the next line).
- A script that timed out lost what it had printed: Py Copilot's ``init-artifact.sh``
  said only "did not finish within 1 min", not that it hung at "Installing pnpm...".
- A script's own option (``--path``) before ``--`` got only "No such option".
- A script that died of a chained exception was summed up by the chain's cause (Py
  Copilot's ``convert_pdf_to_images.py``: ``FileNotFoundError: ... 'pdfinfo'``), not by the
  exception that ended it (``PDFInfoNotInstalledError: ... Is poppler installed?``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

NAME = "a-rather-long-report-name-that-a-user-would-grep-for-later.txt"


def _skill(root: Path) -> Path:
    folder = root / "notes"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: notes\ndescription: Keep notes. Use when asked to remember.\n---\n"
        "Run scripts/add.py TEXT.\n", encoding="utf-8")
    (folder / "scripts" / "add.py").write_text(
        "import pathlib, sys\n"
        f"pathlib.Path({NAME!r}).write_text(' '.join(sys.argv[1:]))\n"
        "print('added')\n", encoding="utf-8")
    (folder / "scripts" / "broken.py").write_text(
        "try:\n"
        "    open('missing-input.txt')\n"
        "except FileNotFoundError:\n"
        "    raise RuntimeError('no input: pass in.txt with -f')\n", encoding="utf-8")
    (folder / "scripts" / "setup.sh").write_text(
        "echo 'pnpm not found. Installing pnpm...'\n"
        "echo 'npm warn: retrying the registry' >&2\n"
        "exec sleep 120\n", encoding="utf-8")
    return folder


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.pop("SKILLEXEC_SKILLS_DIR", None)
    return subprocess.run([sys.executable, "-m", "skillexec", *args,
                           "--data-dir", str(cwd / "data")],
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_the_script_command_that_run_suggests_for_a_folder_works(tmp_path: Path) -> None:
    folder = _skill(tmp_path)
    refused = _cli(tmp_path, "run", str(folder))
    assert refused.returncode == 2
    hinted = re.search(r"skillexec script (\S+) (scripts/\S+)", refused.stderr)
    assert hinted is not None, refused.stderr
    assert shlex.split(hinted.group(1)) == [str(folder)]

    p = _cli(tmp_path, "script", str(folder), hinted.group(2), "buy", "milk")
    assert (p.returncode, p.stdout) == (0, "added\n"), p.stderr
    # and a folder of skills is told apart from one skill, as `run` does
    wrong = _cli(tmp_path, "script", str(tmp_path), "scripts/add.py")
    assert wrong.returncode == 2
    assert wrong.stderr == (f"skillexec: {tmp_path} is a folder of skills, not one skill: "
                            f"pass --skills-dir {tmp_path} and a skill id\n")


def test_an_artifact_line_is_one_line_in_a_pipe(tmp_path: Path) -> None:
    _skill(tmp_path)
    p = _cli(tmp_path, "script", "notes", "scripts/add.py", "x", "--skills-dir", str(tmp_path))
    assert p.returncode == 0, p.stderr
    line = re.compile(rf"artifact art_\w+: {re.escape(NAME)} \(text/plain, 1 B\)")
    assert [ln for ln in p.stderr.splitlines() if line.fullmatch(ln)], p.stderr


def test_a_chained_traceback_is_summed_up_by_the_exception_that_ended_it(
        tmp_path: Path) -> None:
    _skill(tmp_path)
    p = _cli(tmp_path, "script", "notes", "scripts/broken.py", "--skills-dir", str(tmp_path))
    assert p.returncode == 1
    last = p.stderr.splitlines()[-1]
    assert last == ("skillexec: failed: the script exited with status 1 "
                    "[execution_error/script_exit] "
                    "(stderr: RuntimeError: no input: pass in.txt with -f)"), p.stderr


def test_a_scripts_own_option_is_refused_with_where_it_goes(tmp_path: Path) -> None:
    """Py Copilot's ``init_skill.py NAME --path DIR``: ``--path`` is the script's, and the
    refusal says how to hand it over, not only that ``skillexec script`` has no such option."""
    _skill(tmp_path)
    p = _cli(tmp_path, "script", "notes", "scripts/add.py", "x", "--path", "out",
             "--skills-dir", str(tmp_path))
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr.startswith(
        "skillexec: No such option: --path; a script's own options go after --: "
        "skillexec script SKILL SCRIPT [--session ID ...] -- ARG... (see '"), p.stderr
    # simota's --batch-id: click's guess among skillexec's own options ("--data-dir") is
    # left out: the option was the script's.
    p = _cli(tmp_path, "script", "notes", "scripts/add.py", "--batch-id", "b1",
             "--skills-dir", str(tmp_path))
    assert p.stderr.startswith("skillexec: No such option: --batch-id; a script's own "), (
        p.stderr)
    ok = _cli(tmp_path, "script", "notes", "scripts/add.py", "--skills-dir", str(tmp_path),
              "--", "x", "--path", "out")
    assert (ok.returncode, ok.stdout) == (0, "added\n"), ok.stderr


def test_a_timed_out_script_shows_what_it_printed_before_it_hung(tmp_path: Path) -> None:
    _skill(tmp_path)
    p = _cli(tmp_path, "script", "notes", "scripts/setup.sh", "--timeout", "10",
             "--skills-dir", str(tmp_path))
    assert (p.returncode, p.stdout) == (1, "pnpm not found. Installing pnpm...\n"), p.stderr
    assert p.stderr == (
        "npm warn: retrying the registry\n"
        "skillexec: timed_out: skill 'notes:scripts/setup.sh' did not finish within 10 s "
        "[timeout_error/execution_timeout] (stderr: npm warn: retrying the registry)\n")


def test_a_file_given_as_the_skill_is_named_as_a_file(tmp_path: Path) -> None:
    """simota/agent-skills' readers named a script's file where the skill goes, and were
    asked 'did you mean <another skill>?'."""
    folder = tmp_path / "skills" / "notes"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: notes\ndescription: N.\n---\nGo.\n")
    (folder / "scripts" / "go.py").write_text("print(1)\n")
    p = subprocess.run([sys.executable, "-m", "skillexec", "script", "skills/notes/scripts/go.py",
                        "x", "--data-dir", str(tmp_path / "d")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert p.stderr == ("skillexec: skills/notes/scripts/go.py is a file, not a skill folder: "
                        "name the skill (or its folder), then the script\n")
