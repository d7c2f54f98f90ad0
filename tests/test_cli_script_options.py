"""``skillexec script`` as new users met it (trial reports):

- ``--session $SID --skills-dir DIR`` with ``$SID`` empty took ``--skills-dir`` as the session
  id; the call then said "no skills folder ... pass --skills-dir DIR", which had been passed.
  An option given where another option's value goes is refused, naming both.
- A file sent into a session where the session holds a folder of that name was refused "a
  link or a file is in the way": it is a folder that is.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(180)


def _skill(root: Path) -> Path:
    folder = root / "skills" / "steps"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: steps\ndescription: Two steps.\n---\n"
                                     "Run scripts/make.py, then scripts/show.py.\n")
    (folder / "scripts" / "make.py").write_text(
        "import os\nos.makedirs('nextapp/app', exist_ok=True)\n"
        "open('notes', 'w').write('n')\nprint('made')\n")
    (folder / "scripts" / "show.py").write_text("import sys\nprint('args', sys.argv[1:])\n")
    return root / "skills"


def _cli(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.pop("SKILLEXEC_SKILLS_DIR", None)
    return subprocess.run([sys.executable, "-m", "skillexec", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def _refused(r: subprocess.CompletedProcess[str], says: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "" and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skillexec: "), r.stderr
    assert says in lines[0], lines[0]


def test_an_option_where_a_value_goes_is_refused_naming_both(tmp_path: Path) -> None:
    skills = _skill(tmp_path)
    run = ("script", "steps", "scripts/show.py")
    # An empty $SID, unquoted: the next option was taken as the session id.
    r = _cli(tmp_path, *run, "--session", "--skills-dir", str(skills), "--", "a")
    _refused(r, "--session needs a session id (got the option --skills-dir)")
    assert "no skills folder" not in r.stderr and "empty shell variable" in r.stderr
    # Every option of the command that takes a value, the same way.
    for given, says in (
            (("--skills-dir", "--data-dir", "d"), "--skills-dir needs a folder (got the option "
                                                  "--data-dir)"),
            (("--skills-dir", str(skills), "-f", "--json"), "-f needs a PATH or DEST=PATH (got "
                                                            "the option --json)"),
            (("--skills-dir", str(skills), "--timeout", "--json"), "--timeout needs a number "
                                                                   "of seconds (got the option "
                                                                   "--json)"),
            (("--skills-dir", str(skills), "-e", "-f", "x"), "-e needs NAME=VALUE (got the "
                                                             "option -f)"),
            (("--skills-dir", str(skills), "--stdin", "--session=s"), "--stdin needs a file, "
                                                                      "or - (got the option "
                                                                      "--session)"),
            # The script's own option, before --: not a session id either.
            (("--skills-dir", str(skills), "--session", "--format", "o"), "--session needs a "
                                                                          "session id (got "
                                                                          "--format, an "
                                                                          "option)"),
            (("--skills-dir", str(skills), "--session", "--", "a"), "--session needs a session "
                                                                    "id (got --, which ends "
                                                                    "skillexec's own options)")):
        _refused(_cli(tmp_path, *run, *given), says)
    assert not (tmp_path / ".skillexec").exists()  # refused before anything opened
    # What is a value stays one: stdin's -, an inline --opt=value, a script's own options
    # after --.
    ok = _cli(tmp_path, *run, "--skills-dir", str(skills), "--stdin", "-",
              "--data-dir=data", "--timeout", "60", "--", "--session", "--json", stdin="")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "args ['--session', '--json']\n"


def test_a_file_sent_onto_a_folder_of_the_session_says_a_folder_is_in_the_way(
        tmp_path: Path) -> None:
    skills = _skill(tmp_path)
    made = _cli(tmp_path, "sessions", "create")
    assert made.returncode == 0, made.stderr
    sid = made.stdout.strip()
    common = ("--skills-dir", str(skills), "--session", sid)
    first = _cli(tmp_path, "script", "steps", "scripts/make.py", *common)
    assert first.returncode == 0, first.stderr
    (tmp_path / "page.tsx").write_text("export default 1\n")
    r = _cli(tmp_path, "script", "steps", "scripts/show.py", *common, "-f", "nextapp=page.tsx")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "file 'nextapp' could not be written into the workspace: 'nextapp' is a folder " \
        "there: send the file under another name, or each file of a folder under its own " \
        "path (nextapp/NAME) [parameter_error/file_not_written]" in r.stderr, r.stderr
    # A file where a folder of the path goes: that file is named.
    r = _cli(tmp_path, "script", "steps", "scripts/show.py", *common, "-f", "notes/a=page.tsx")
    assert "'notes' is a file there, not a folder" in r.stderr, r.stderr
    # Under the folder, by its path: written, and the script runs.
    r = _cli(tmp_path, "script", "steps", "scripts/show.py", *common,
             "-f", "nextapp/app/page.tsx=page.tsx")
    assert r.returncode == 0, r.stderr


def test_an_option_that_names_one_thing_given_twice_is_refused(tmp_path: Path) -> None:
    """`skillexec mcp --skills-dir a --skills-dir b` served b alone, unsaid (an integrator
    with two skills folders found the first one's skills missing)."""
    for argv in (["skills", "list", "--skills-dir", "a", "--skills-dir=b"],
                 ["mcp", "--skills-dir", "a", "--skills-dir", "b"]):
        p = subprocess.run([sys.executable, "-m", "skillexec", *argv], capture_output=True,
                           text=True, timeout=60, cwd=tmp_path)
        assert (p.returncode, p.stdout) == (2, "")
        assert p.stderr.startswith("skillexec: --skills-dir is given twice: skillexec reads "
                                   "one skills folder"), p.stderr
    # A script's own arguments, after --, are its own.
    p = subprocess.run([sys.executable, "-m", "skillexec", "script", "x", "y.py", "--data-dir",
                        str(tmp_path / "d"), "--", "--data-dir", "z"], capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert "given twice" not in p.stderr, p.stderr
