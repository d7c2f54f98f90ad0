"""Ctrl-C, SIGTERM and kill -9 on a real ``skillexec batch``: what is left, and who runs it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

SLOW = """
import os, time
def execute(input_data, context):
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(context.task_id + "\\n")
    time.sleep(input_data.get("seconds", 5))
    return "late"
"""


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200",
            "SKILLEXEC_TRUSTED_SKILLS": '["slow"]',  # inline: the operator names it
            "RUNS_FILE": str(tmp_path / "runs.txt"), **extra}


def _cli(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=tmp_path,
                          env=_env(tmp_path, **extra), capture_output=True, text=True,
                          timeout=60)


@pytest.fixture()
def skills(tmp_path: Path) -> Path:
    d = tmp_path / "skills" / "slow"
    d.mkdir(parents=True)
    (d / "main.py").write_text(textwrap.dedent(SLOW))
    (d / "skill.json").write_text(json.dumps({
        "id": "slow", "version": "1.0.0", "entry_point": "main:execute",
        "parameters_schema": {"seconds": {"type": "number", "default": 5}},
        "execution": {"isolation": "inline", "max_retries": 0}}))
    return tmp_path / "skills"


def _rows(data: Path) -> list[tuple[str, str, float | None]]:
    with sqlite3.connect(data / "journal.db") as db:
        return db.execute("SELECT task_id, status, finished_at FROM tasks").fetchall()


def _submitted(tmp_path: Path) -> int:
    """The calls in the journal: on a loaded machine the first two may start running while
    the batch is still submitting the others."""
    if not (tmp_path / ".skillexec" / "journal.db").exists():
        return 0  # (connecting would make the file before the engine does)
    try:
        return len(_rows(tmp_path / ".skillexec"))
    except sqlite3.Error:  # its schema not made yet
        return 0


def _start_batch(tmp_path: Path, n: int, seconds: float, *, then_s: float | None = None,
                 **extra: str) -> subprocess.Popen[str]:
    """A batch of ``n`` calls, two at a time: the first two take ``seconds``, the others
    ``then_s`` (default: the same)."""
    batch = tmp_path / "b.jsonl"
    lasts = [seconds] * 2 + [seconds if then_s is None else then_s] * (n - 2)
    batch.write_text("".join(json.dumps({"skill": "slow", "params": {"seconds": s}}) + "\n"
                             for s in lasts[:n]))
    proc = subprocess.Popen([sys.executable, "-m", "skillexec", "batch", str(batch),
                             "--concurrency", "2"], cwd=tmp_path, env=_env(tmp_path, **extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # two calls running, the rest queued
        runs = tmp_path / "runs.txt"
        if runs.exists() and len(runs.read_text().split()) >= 2 and _submitted(tmp_path) >= n:
            break
        time.sleep(0.05)
    else:
        proc.kill()
        pytest.fail("the batch never started its calls")
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_batch_cancels_everything_and_prints_what_it_has(
        skills: Path, tmp_path: Path, sig: signal.Signals) -> None:
    proc = _start_batch(tmp_path, 6, 30, SKILLEXEC_INTERRUPT_GRACE_S="0")
    sent = time.monotonic()
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert time.monotonic() - sent < 10  # not the 30 s calls, not a 30 s close grace
    assert "Traceback" not in err
    assert "interrupted: 6 calls ended (6 of them cancelled), 0 not submitted" in err
    assert out.count("cancelled") >= 6 and "by status" in out  # the partial summary
    rows = _rows(tmp_path / ".skillexec")
    assert len(rows) == 6
    assert all(status == "cancelled" and finished for _, status, finished in rows)
    r = _cli(tmp_path, "tasks", "list", "--status", "running", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == []


def test_running_calls_finish_within_the_grace(skills: Path, tmp_path: Path) -> None:
    proc = _start_batch(tmp_path, 4, 1.0, SKILLEXEC_INTERRUPT_GRACE_S="20")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    statuses = sorted(status for _, status, _ in _rows(tmp_path / ".skillexec"))
    assert statuses == ["cancelled", "cancelled", "succeeded", "succeeded"]
    assert "2 of them cancelled" in err


def test_leftovers_of_a_killed_batch_are_not_run_by_the_next_command(
        skills: Path, tmp_path: Path) -> None:
    proc = _start_batch(tmp_path, 6, 30)
    proc.kill()  # SIGKILL: nothing can be journaled; the journal's recovery is for this
    proc.communicate(timeout=20)
    runs = tmp_path / "runs.txt"
    ran_before = runs.read_text().split()
    left = {t: s for t, s, _ in _rows(tmp_path / ".skillexec")}
    assert sorted(left.values()) == ["queued"] * 4 + ["running"] * 2

    r = _cli(tmp_path, "run", "slow", "-p", "seconds=0")
    assert r.returncode == 0, r.stderr
    assert "6 task(s) left unfinished by a process that stopped" in r.stderr
    assert len(runs.read_text().split()) == len(ran_before) + 1  # only its own call ran
    running = next(t for t, s in left.items() if s == "running")
    queued = next(t for t, s in left.items() if s == "queued")
    for task_id in (running, queued):  # the process that accepted them is gone
        r = _cli(tmp_path, "tasks", "cancel", task_id, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == {"task_id": task_id, "cancel_requested": True,
                                        "status": "cancelled", "ended": True}
    statuses = {t: s for t, s, _ in _rows(tmp_path / ".skillexec")}
    assert statuses[running] == statuses[queued] == "cancelled"
    assert len(runs.read_text().split()) == len(ran_before) + 1


def test_tasks_cancel_reaches_the_engine_that_runs_the_task(skills: Path,
                                                            tmp_path: Path) -> None:
    proc = _start_batch(tmp_path, 2, 30)
    try:
        running = [t for t, s, _ in _rows(tmp_path / ".skillexec") if s == "running"]
        r = _cli(tmp_path, "tasks", "cancel", running[0])
        assert r.returncode == 0 and f"task {running[0]} cancelled" in r.stdout, r.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)


def test_interrupted_run_journals_its_task_cancelled(skills: Path, tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "skillexec", "run", "slow", "-p",
                             "seconds=30"], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    runs = tmp_path / "runs.txt"
    deadline = time.monotonic() + 30
    while not runs.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)  # not the 30 s the call would take
    assert proc.returncode == 130 and err == "skillexec: interrupted\n", err
    [(_, status, finished)] = _rows(tmp_path / ".skillexec")
    assert status == "cancelled" and finished


_READ_SYSCALL = {"x86_64": 0, "aarch64": 63}[os.uname().machine]


def _wait_reading_stdin(proc: subprocess.Popen[str], timeout_s: float = 60) -> None:
    """Until ``proc`` is blocked in read(0, ...) (its /proc syscall line: number, then the
    first argument): a fixed sleep is too short while the machine is loaded."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and proc.poll() is None:
        with open(f"/proc/{proc.pid}/syscall") as f:
            fields = f.read().split()
        if len(fields) > 1 and fields[0] == str(_READ_SYSCALL) and int(fields[1], 16) == 0:
            return
        time.sleep(0.02)
    raise AssertionError(f"the batch never read its stdin (exit {proc.poll()})")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_while_reading_stdin(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "skillexec", "batch", "-"], cwd=tmp_path,
                            env=_env(tmp_path), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_reading_stdin(proc)  # started, waiting for lines that never come
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 130 and err == "skillexec: interrupted\n", err


def test_replaying_a_leftover_replaces_it(skills: Path, tmp_path: Path) -> None:
    proc = _start_batch(tmp_path, 4, 30, then_s=0)
    proc.kill()
    proc.communicate(timeout=20)
    queued = [t for t, s, _ in _rows(tmp_path / ".skillexec") if s == "queued"]
    r = _cli(tmp_path, "tasks", "replay", queued[0], "--json")
    assert r.returncode == 0, r.stderr
    outcome = json.loads(r.stdout)
    assert outcome["original_task_id"] == queued[0]
    assert "3 task(s) left unfinished" in r.stderr  # the replayed one is not among them
    statuses = {t: s for t, s, _ in _rows(tmp_path / ".skillexec")}
    assert statuses[queued[0]] == "cancelled"  # replaced: its request ran once, as the new
    assert statuses[outcome["new_task_id"]] == "succeeded"
    assert statuses[queued[1]] == "queued"
