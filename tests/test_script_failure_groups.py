"""A failed script (``script_exit``) in the reports: grouped and shown by the line that says
what went wrong (a Python traceback's exception, else stderr's last line), not by whatever
fragment of the traceback its message's stderr tail happened to start with."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from skillexec.runtime.work_root import default_work_root
from tests._isolation import need_sandbox
from tests.conftest import ROOT

pytestmark = pytest.mark.timeout(180)

# Frames deep enough that the last 500 characters of stderr start mid-traceback.
READER = '''import sys


def open_the_document_that_the_caller_named_on_the_command_line(path):
    return open(path, "rb")


def read_every_page_of_the_document_and_fill_in_the_form_fields(path):
    return open_the_document_that_the_caller_named_on_the_command_line(path).read()


def main_entry_point_of_this_rather_long_winded_little_script(argv):
    return read_every_page_of_the_document_and_fill_in_the_form_fields(argv[1])


main_entry_point_of_this_rather_long_winded_little_script(sys.argv)
'''


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=150)


@pytest.fixture()
def failed_twice(tmp_path: Path) -> Path:
    need_sandbox()
    folder = tmp_path / "skills" / "forms"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: forms\ndescription: Fill forms.\n---\n")
    (folder / "scripts" / "read.py").write_text(READER)
    (folder / "scripts" / "shout.sh").write_text("echo starting >&2\necho 'no disk 7' >&2\n"
                                                 "exit 4\n")
    r = cli(tmp_path, "script", "forms", "scripts/shout.sh", "--skills-dir", "skills",
            "--data-dir", "data")
    assert r.returncode == 4, r.stderr  # the script's own exit code
    for arg in ("one.pdf", "/tmp/another/two.pdf"):  # newest last: the summary's example
        r = cli(tmp_path, "script", "forms", "scripts/read.py", "--skills-dir", "skills",
                "--data-dir", "data", "--", arg)
        assert r.returncode == 1, r.stderr
        assert "FileNotFoundError" in r.stderr
    return tmp_path


def test_the_errors_report_groups_a_failed_script_by_its_exception(failed_twice: Path,
                                                                   ) -> None:
    r = cli(failed_twice, "report", "errors", "-f", "json", "--data-dir", "data")
    assert r.returncode == 0, r.stderr
    groups = json.loads(r.stdout)["groups"]
    by_count = {g["count"]: g for g in groups}
    assert sorted(by_count) == [1, 2], groups  # both FileNotFoundErrors are one group
    read = by_count[2]
    assert read["fingerprint"] == ("the script exited with status <n>: FileNotFoundError: "
                                   "[Errno <n>] No such file or directory: <str>")
    assert read["example_message"].startswith(
        "the script exited with status 1: FileNotFoundError: [Errno 2] No such file or "
        "directory: '")
    assert "Traceback" in read["example_traceback"]  # the whole stderr is still there
    assert by_count[1]["example_message"] == "the script exited with status 4: no disk 7"
    table = cli(failed_twice, "report", "errors", "--data-dir", "data")
    assert "FileNotFoundError" in table.stdout, table.stdout


def test_the_summary_shows_a_failed_script_by_its_exception(failed_twice: Path) -> None:
    r = cli(failed_twice, "report", "summary", "-f", "json", "--data-dir", "data")
    assert r.returncode == 0, r.stderr
    [top] = json.loads(r.stdout)["top_errors"]
    assert top["code"] == "script_exit" and top["count"] == 3
    assert top["example"].startswith("the script exited with status 1: FileNotFoundError")


def test_ctrl_c_on_a_script_keeps_what_it_had_printed(tmp_path: Path) -> None:
    """Ctrl-C on `skillexec script` printed only "interrupted": what the script had said
    (which step it was at) was lost, and its journaled cancelled result had no streams. Now
    they are kept in the result's error details, as a timed-out script's are, and printed
    before "interrupted"."""
    import signal
    import time

    need_sandbox()
    folder = tmp_path / "skills" / "forms"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: forms\ndescription: Fill forms.\n---\n")
    (folder / "scripts" / "hang.py").write_text(
        "import sys, time\nprint('step 1 of 3 done', flush=True)\n"
        "print('working on page 7', file=sys.stderr, flush=True)\n"
        "open('started.marker', 'w').close()\ntime.sleep(120)\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"),
           "SKILLEXEC_INTERRUPT_GRACE_S": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "skillexec", "script", "forms", "scripts/hang.py",
         "--skills-dir", "skills", "--data-dir", "data"], cwd=tmp_path, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Its marker (in its workspace) is written after both lines were flushed.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not list(
                default_work_root(tmp_path / "data").rglob("started.marker")):
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert out == "step 1 of 3 done\n"
    assert err.splitlines()[-2:] == ["working on page 7", "skillexec: interrupted"], err
    r = cli(tmp_path, "tasks", "list", "--json", "--data-dir", "data")
    [task] = json.loads(r.stdout)
    r = cli(tmp_path, "tasks", "show", task["task_id"], "--json", "--data-dir", "data")
    error = json.loads(r.stdout)["result"]["error"]
    assert error["code"] == "cancelled", error
    assert error["details"]["stdout"] == "step 1 of 3 done\n"
    assert error["details"]["stderr"] == "working on page 7\n"


def test_a_cancelled_scripts_streams_are_masked_as_any_output(tmp_path: Path) -> None:
    """The streams a cancelled script leaves in its result pass the output filter: a token
    it printed is masked there and in the journal, as in a finished script's output."""
    import asyncio
    import time

    from skillexec import SkillExecutionEngine
    from tests.conftest import arun
    from tests.test_redaction import GH

    need_sandbox()
    folder = tmp_path / "skills" / "forms"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text("---\nname: forms\ndescription: Fill forms.\n---\n")
    (folder / "scripts" / "hang.py").write_text(
        f"import time\nprint('logging in with {GH}', flush=True)\n"
        "open('started.marker', 'w').close()\ntime.sleep(120)\n")

    async def go() -> Any:
        async with SkillExecutionEngine(skills_dir=tmp_path / "skills",
                                        data_dir=tmp_path / "d") as engine:
            task_id = await engine.submit_script("forms", "scripts/hang.py")
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not list(
                    engine.config.work_root.rglob("started.marker")):
                await asyncio.sleep(0.1)
            await engine.cancel(task_id)
            return await engine.wait(task_id)

    result = arun(go())
    assert result.status.value == "cancelled" and result.error.code == "cancelled"
    assert result.error.details["stdout"] == "logging in with [REDACTED:github_token]\n"
    journal = (tmp_path / "d" / "journal.db").read_bytes() + b"".join(
        p.read_bytes() for p in (tmp_path / "d").glob("journal.db-*"))
    assert GH.encode() not in journal
