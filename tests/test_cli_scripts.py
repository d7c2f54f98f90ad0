"""``skillexec script`` and ``skillexec sessions`` (DESIGN §4.2): exit codes 0 / 1 / 2, one
sentence on stderr, the script's own output on stdout."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests._isolation import need_sandbox
from tests.conftest import FIXTURES

SKILLS = str(FIXTURES / "scripts")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def _sandbox() -> None:
    need_sandbox()


def cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], capture_output=True,
                          text=True, timeout=100, input=None if stdin is None
                          else stdin.decode())


def test_script_prints_its_output_and_exits_0() -> None:
    p = cli("script", "pdf-forms", "scripts/echo_args.py", "--skills-dir", SKILLS, "--",
            "-x", "a b", "$(id)")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["argv"] == ["-x", "a b", "$(id)"]
    assert "Traceback" not in p.stderr


def test_a_failing_script_exits_with_its_code_and_one_sentence() -> None:
    p = cli("script", "pdf-forms", "scripts/fail.py", "--skills-dir", SKILLS)
    assert p.returncode == 3  # the script's own, as a plain run gives it
    assert p.stdout == "working on it\n"
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("skillexec: failed: the script exited with status 3")
    assert "Traceback" not in p.stderr


def test_a_script_that_raised_ends_with_its_error_not_a_cut_traceback() -> None:
    p = cli("script", "pdf-forms", "scripts/crash.py", "--skills-dir", SKILLS)
    assert p.returncode == 1
    assert "Traceback" in p.stderr  # the script's own stderr, passed through as it came
    last = p.stderr.strip().splitlines()[-1]
    # was "...status 1: <the last 500 characters of the traceback, escaped> [...] (stderr:"
    assert last == ("skillexec: failed: the script exited with status 1 "
                    "[execution_error/script_exit] (stderr: ValueError: a bug in the script)")


def test_running_a_skill_with_no_entry_names_what_it_offers_instead() -> None:
    p = cli("run", "pdf-forms", "--skills-dir", SKILLS)
    assert p.returncode == 2 and p.stderr.count("\n") == 1, p.stderr
    assert "no_entry_point" in p.stderr
    assert "skillexec script pdf-forms scripts/" in p.stderr and f"--skills-dir {SKILLS}" in \
        p.stderr, p.stderr
    assert "skillexec skills show pdf-forms --instructions" in p.stderr, p.stderr


def test_refusals_exit_2() -> None:
    for args in (["pdf-forms", "../escape.py"], ["pdf-forms", "scripts/noop.py", "--session",
                                                  "s_" + "0" * 24], ["nope", "x.py"]):
        p = cli("script", *args, "--skills-dir", SKILLS)
        assert p.returncode == 2, (args, p.stderr)
        assert p.stderr.startswith("skillexec: ") and "Traceback" not in p.stderr


def test_files_and_sessions_from_the_command_line(tmp_path: Path) -> None:
    local = tmp_path / "values.txt"
    local.write_text("v")
    sid = cli("sessions", "create", "--ttl", "600").stdout.strip()
    assert sid.startswith("s_")
    p = cli("script", "pdf-forms", "scripts/hello.sh", "--file", str(local),
            "--file", f"sub/copy.txt={local}", "--session", sid, "--skills-dir", SKILLS,
            "--json", "--", "one")
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    assert result["status"] == "succeeded"
    assert [a["name"] for a in result["artifacts"]] == ["from-bash.txt"]
    listed = json.loads(cli("sessions", "list", "--json").stdout)
    assert [s["id"] for s in listed] == [sid]
    shown = json.loads(cli("sessions", "show", sid, "--json").stdout)
    assert [f["path"] for f in shown["files"]] == ["from-bash.txt", "sub/copy.txt",
                                                    "values.txt"]
    assert cli("sessions", "rm", sid).returncode == 0
    gone = cli("sessions", "rm", sid)
    assert gone.returncode == 2 and "is not open" in gone.stderr
    missing = cli("script", "pdf-forms", "scripts/noop.py", "--file", str(tmp_path / "nope"),
                  "--skills-dir", SKILLS)
    assert missing.returncode == 2 and "cannot be read" in missing.stderr


def test_sessions_show_whose_they_are(tmp_path: Path) -> None:
    """The command line is ``local`` (an admin): it lists every principal's sessions, each
    with its owner, and may remove any."""
    from skillexec.config import EngineConfig

    data = tmp_path / "data"
    store = EngineConfig(data_dir=data).session_store()
    alice = store.create(principal="alice")
    mine = cli("sessions", "create", "--data-dir", str(data)).stdout.strip()
    listed = json.loads(cli("sessions", "list", "--json", "--data-dir", str(data)).stdout)
    assert [(s["id"], s["principal"]) for s in listed] == [(alice, "alice"), (mine, "local")]
    shown = json.loads(cli("sessions", "show", alice, "--json", "--data-dir", str(data)).stdout)
    assert shown["principal"] == "alice"
    assert [s.id for s in store.list(principal="alice")] == [alice]
    assert [s.id for s in store.list(principal="bob")] == []
    assert cli("sessions", "rm", alice, "--data-dir", str(data)).returncode == 0


def test_the_sandboxs_part_in_a_failure_reaches_the_terminal(tmp_path: Path) -> None:
    """The engine said "this was the sandbox, by design" (details.sandbox, in --json), but
    the command line's sentence cut it with the message's stderr tail."""
    p = cli("script", "pdf-forms", "scripts/write_outside.py", str(tmp_path / "x.txt"),
            "--skills-dir", SKILLS, "--data-dir", str(tmp_path / "d"))
    assert p.returncode == 1
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("skillexec: failed: the script exited with status 1")
    assert last.endswith("(the sandbox lets a script read its skill's folder and the "
                         "system's, and write only in its workspace (its current folder))")


def test_a_scripts_home_is_absolute_and_its_caches_are_no_artifacts(tmp_path: Path) -> None:
    """microsoft/cat-agent-skills' charts: matplotlib's and fontconfig's caches in HOME
    became 7 artifacts a chart (links a model got before the PNG); with --data-dir data,
    HOME and TMPDIR were relative, and the caches landed in data/work/... in the
    workspace."""
    folder = tmp_path / "skills" / "chart"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: chart\ndescription: Charts.\n---\nGo.\n")
    (folder / "scripts" / "plot.py").write_text(
        "import os\nhome = os.environ['HOME']\nprint(os.path.isabs(home), "
        "os.path.isabs(os.environ['TMPDIR']))\n"
        "os.makedirs(os.environ['XDG_CACHE_HOME'] + '/fontconfig')\n"
        "open(os.environ['XDG_CACHE_HOME'] + '/fontconfig/x.cache', 'w').write('c')\n"
        "open('chart.png', 'w').write('png')\n")
    tmp_path.chmod(0o755)  # the sandbox's user reads the skill (tmp_path is 0700)
    p = subprocess.run([sys.executable, "-m", "skillexec", "script", "chart", "scripts/plot.py",
                        "--skills-dir", "skills", "--data-dir", "data"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=100)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "True True\n"
    assert [line.split(": ", 1)[1].split(" (")[0] for line in p.stderr.splitlines()
            if line.startswith("artifact ")] == ["chart.png"]
