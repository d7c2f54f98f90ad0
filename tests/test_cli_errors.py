"""Every command, given bad input or an unusable machine: one sentence on stderr, never a
traceback, the exit codes of DESIGN §4.2."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

CODE = """
def execute(input_data, context):
    context.save_artifact("out.txt", "hello")
    return 1
"""


@pytest.fixture()
def home() -> Iterator[Path]:
    """A folder another user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="skillexec-cli-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def cli(cwd: Path, *args: str, other_user: bool = False,
        env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "80",
           "SKILLEXEC_TRUSTED_SKILLS": '["one"]',  # inline: the operator names it
           **(env_extra or {})}
    python = sys.executable
    extra: dict[str, Any] = {}
    if other_user:
        # This interpreter may live where another user cannot go (root's home): use the
        # system's, same minor version, with this environment's packages.
        python = _OTHER_PYTHON or pytest.skip("no system python3.11 for another user")
        env["PYTHONPATH"] += os.pathsep + sysconfig.get_paths()["purelib"]
        extra = {"user": 65534, "group": 65534, "extra_groups": []}
    return subprocess.run([python, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60, **extra)


_OTHER_PYTHON = shutil.which(f"python3.{sys.version_info.minor}", path="/usr/bin:/bin")


def inline_skill(tmp_path: Path) -> None:
    """``tmp_path/skills/one``: an inline skill answering {"ok": true}; tmp_path readable
    by all (the CLI may run as another user)."""
    tmp_path.chmod(0o755)
    folder = tmp_path / "skills" / "one"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text("def execute(data):\n    return {'ok': True}\n")
    (folder / "skill.json").write_text(json.dumps({
        "id": "one", "version": "1.0.0", "entry_point": "main:execute",
        "execution": {"isolation": "inline"}}))


def one_sentence(r: subprocess.CompletedProcess[str], code: int, says: str) -> None:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == code, (r.returncode, r.stderr)
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("skillexec: ") and says in r.stderr, r.stderr


@pytest.fixture()
def ran(home: Path) -> tuple[Path, str]:
    """A skills folder, a journal with one task and its artifact."""
    d = home / "skills" / "one"
    d.mkdir(parents=True)
    (d / "main.py").write_text(CODE)
    (d / "skill.json").write_text(json.dumps({
        "id": "one", "version": "1.0.0", "entry_point": "main:execute",
        "execution": {"isolation": "inline"}}))
    r = cli(home, "run", "one", "--json")
    assert r.returncode == 0, r.stderr
    return home, json.loads(r.stdout)["artifacts"][0]["id"]


@pytest.mark.timeout(600)  # 21 CLI starts: over 120 s at a load of 40
def test_bad_input_on_every_command(ran: tuple[Path, str]) -> None:
    home, art = ran
    (home / "afile").write_text("x")
    cases: list[tuple[tuple[str, ...], int, str]] = [
        (("artifacts", "get", art, "-o", "missing/dir/out.txt"), 2, "no such folder"),
        (("artifacts", "get", art, "-o", "skills"), 2, "is a folder; name a file in it"),
        (("artifacts", "get", art, "-o", "afile/out.txt"), 2, "is a file, not a folder"),
        (("artifacts", "get", "art_nope"), 2, "art_nope"),
        (("artifacts", "prune", "--older-than", "soon"), 2, "is not an age"),
        (("tasks", "show", "nope"), 2, "no task with id 'nope'"),
        (("tasks", "cancel", "nope"), 2, "no task with id 'nope'"),
        (("tasks", "replay", "nope"), 2, "no task with id 'nope'"),
        (("tasks", "list", "--data-dir", "afile"), 2, "is a file, not a folder"),
        (("run", "one", "--data-dir", "afile"), 2, "is a file, not a folder"),
        (("report", "summary", "--since", "someday"), 2, "someday"),
        (("report", "errors", "--since", "someday"), 2, "someday"),
        (("report", "task", "nope"), 2, "nope"),
        (("report", "errors", "-f", "html", "-o", "missing/e.html"), 2, "cannot be written"),
        (("skills", "show", "nope"), 2, "nope"),
        (("skills", "validate", "nowhere"), 2, "no such path: nowhere"),
        (("skills", "list", "--skills-dir", "afile"), 2, "is a file, not a folder"),
        (("batch", "nowhere.jsonl"), 2, "no such file"),
        (("tasks", "list", "--status", "sleeping"), 2, "--status"),
        (("report", "suggestions", "--min-calls", "-1"), 2, "--min-calls"),
        (("report", "suggestions", "--min-calls", "0"), 2, "--min-calls"),
    ]
    for args, code, says in cases:
        one_sentence(cli(home, *args), code, says)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a command as another user")
@pytest.mark.timeout(600)
def test_a_read_only_data_dir_and_an_unreadable_skills_dir(ran: tuple[Path, str]) -> None:
    home, _ = ran
    for path in (home, *home.rglob("*")):  # everything readable, nothing writable by others
        mode = path.stat().st_mode
        path.chmod((mode | stat.S_IROTH | (stat.S_IXOTH if path.is_dir() else 0))
                   & ~stat.S_IWOTH)
    for args in (("tasks", "list"), ("report", "summary"), ("report", "errors"),
                 ("artifacts", "list"), ("tasks", "show", "x")):
        one_sentence(cli(home, *args, other_user=True), 2, "journal")
    one_sentence(cli(home, "run", "one", other_user=True), 2, ".skillexec")
    (home / "skills").chmod(0o700)
    for args in (("skills", "list"), ("run", "one", "--data-dir", "/tmp"),
                 ("skills", "validate", "skills")):
        one_sentence(cli(home, *args, other_user=True), 2, "skills")


def test_a_bad_log_level_is_a_usage_error_not_a_crash(ran: tuple[Path, str]) -> None:
    home, _ = ran
    one_sentence(cli(home, "serve", "--port", "0", "--log-level", "loud"), 2, "--log-level")
    loud = {"SKILLEXEC_MONITOR__LOG_LEVEL": "LOUD"}
    for args in (("run", "one"), ("tasks", "list")):
        one_sentence(cli(home, *args, env_extra=loud), 2, "log_level")


def test_a_command_option_given_before_the_command_is_shown_where_it_goes(
        ran: tuple[Path, str]) -> None:
    home, _ = ran
    r = cli(home, "--skills-dir", "my skills", "skills", "list")
    one_sentence(r, 2, "--skills-dir goes after the command: "
                 "skillexec skills list --skills-dir 'my skills'")
    one_sentence(cli(home, "--json", "tasks", "list"), 2, "skillexec tasks list --json")
    # Right after the command: at the end it went to the script after its -- (the
    # suggested command then found no skill), or met the script's own options.
    r = cli(home, "--skills-dir", "s", "script", "x", "run.py", "--", "--out", "o")
    one_sentence(r, 2, "--skills-dir goes after the command: skillexec script --skills-dir "
                 "s x run.py -- --out o")


def test_an_option_missing_its_value_points_at_its_own_commands_help(
        ran: tuple[Path, str]) -> None:
    """The parser fails before the command's context exists: the help named is still the
    command's, and an option in its place is not said to be misplaced."""
    home, _ = ran
    one_sentence(cli(home, "mcp", "--include"), 2, "(see 'skillexec mcp --help')")
    r = cli(home, "skills", "list", "--data-dir")
    one_sentence(r, 2, "(see 'skillexec skills list --help')")
    assert "goes after the command" not in r.stderr


def test_serve_on_a_data_folder_it_cannot_open_says_so_in_one_sentence(home: Path) -> None:
    """The engine starts before uvicorn's lifespan: a journal that cannot be opened is the
    command's one sentence and exit 2, not uvicorn's traceback and exit 3."""
    (home / "data" / "journal.db").mkdir(parents=True)  # a folder where the file goes
    r = cli(home, "serve", "--port", "0", "--data-dir", "data")
    one_sentence(r, 2, "cannot open the data folder data")


def test_serve_and_script_take_the_journal_url_as_every_journal_command_does(
        home: Path) -> None:
    """README: --journal-url goes with every command that reads the journal; serve and
    script said 'No such option'. An unreachable database is then one sentence."""
    url = "postgresql://nobody@127.0.0.1:1/none"
    for args in (("serve", "--port", "0"), ("script", "one", "scripts/x.py")):
        r = cli(home, *args, "--journal-url", url)
        one_sentence(r, 2, "cannot reach the journal database")


def test_a_report_range_given_backwards_is_refused(ran: tuple[Path, str]) -> None:
    """A --since later than --until printed an empty report of a backwards range."""
    home, _ = ran
    one_sentence(cli(home, "report", "summary", "--since", "2d", "--until", "3d"), 2,
                 "--since 2d is later than --until 3d")


def test_a_requirement_packaging_cannot_read_is_one_plain_sentence(
        ran: tuple[Path, str]) -> None:
    """packaging's three-line message (why, the text, a caret) was printed as escaped
    \\u000a; now the text and why, on one line."""
    home, _ = ran
    r = cli(home, "skills", "install", "one", "bad pkg!!")
    one_sentence(r, 2, "not a package requirement: 'bad pkg!!' (Expected ")
    assert "\\u000a" not in r.stderr


def test_reading_commands_run_elsewhere_say_where_the_journal_is_looked_for(
        ran: tuple[Path, str]) -> None:
    """A new user ran a skill in one folder and asked for its artifact from another: "no
    journal at .skillexec/journal.db: nothing has run here yet" named neither the folder
    looked in nor how to point at the one that ran."""
    home, art = ran
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    where = elsewhere / ".skillexec" / "journal.db"
    for args in (("artifacts", "get", art), ("tasks", "list"), ("metrics", "show")):
        r = cli(elsewhere, *args)
        one_sentence(r, 2, f"no journal at {where}: nothing has run with this data folder "
                           "yet (by default each folder keeps its own, in ./.skillexec: "
                           "run this where the skill ran, or give --data-dir)")
    r = cli(elsewhere, "tasks", "list", "--data-dir", str(home / "empty"))
    one_sentence(r, 2, f"no journal at {home / 'empty' / 'journal.db'}: nothing has run with "
                       "this data folder yet")
    assert "by default" not in r.stderr
    r = cli(elsewhere, "artifacts", "get", art, "--data-dir", str(home / ".skillexec"))
    assert (r.returncode, r.stdout) == (0, "hello"), r.stderr


def test_an_exposed_audit_key_at_shutdown_is_one_sentence(tmp_path: Path) -> None:
    """A signing key others may read made every command end with a traceback (the
    checkpoint written at shutdown refused it)."""
    assert cli(tmp_path, "keys", "create", "--name", "a", "--role", "viewer").returncode == 0
    (tmp_path / ".skillexec" / "audit" / "signing.key").chmod(0o644)
    r = cli(tmp_path, "keys", "create", "--name", "b", "--role", "viewer")
    assert "Traceback" not in r.stderr, r.stderr
    assert "may be read by others (mode 644): chmod 600 it" in r.stderr
