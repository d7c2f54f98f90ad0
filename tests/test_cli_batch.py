"""``skillexec batch`` as scripts use it: priorities, bad lines, stdin, streaming, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

STEP = """
import os, time
def execute(input_data, context):
    time.sleep(input_data.get("seconds", 0))
    with open(os.environ["RUNS_FILE"], "a") as fh:
        fh.write(f"{input_data['n']}\\n")
    if input_data.get("fail"):
        raise ValueError("asked to fail")
    return input_data["n"]
"""


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), "COLUMNS": "200",
            "SKILLEXEC_TRUSTED_SKILLS": '["step"]',  # inline: the operator names it
            "RUNS_FILE": str(tmp_path / "runs.txt")}


def cli(tmp_path: Path, *args: str, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=tmp_path,
                          env=_env(tmp_path), input=stdin, capture_output=True, text=True,
                          timeout=60)


@pytest.fixture(autouse=True)
def skills(tmp_path: Path) -> Path:
    d = tmp_path / "skills" / "step"
    d.mkdir(parents=True)
    (d / "main.py").write_text(textwrap.dedent(STEP))
    (d / "skill.json").write_text(json.dumps({
        "id": "step", "version": "1.0.0", "entry_point": "main:execute",
        "parameters_schema": {"n": {"type": "integer", "required": True},
                              "seconds": {"type": "number", "default": 0},
                              "fail": {"type": "boolean", "default": False}},
        "execution": {"isolation": "inline", "max_retries": 0}}))
    return tmp_path / "skills"


def _jsonl(*specs: dict[str, object]) -> str:
    return "".join(json.dumps(s) + "\n" for s in specs)


def test_priorities_are_honoured_across_the_whole_batch(tmp_path: Path) -> None:
    text = _jsonl(*({"skill": "step", "params": {"n": p}, "priority": p} for p in range(10)),
                  {"skill": "step", "params": {"n": 50}})  # no priority: the default, 5
    r = cli(tmp_path, "batch", "-", "--concurrency", "1", stdin=text)
    assert r.returncode == 0, r.stderr
    order = [int(x) for x in (tmp_path / "runs.txt").read_text().split()]
    assert order == [9, 8, 7, 6, 5, 50, 4, 3, 2, 1, 0]


def test_unknown_keys_are_an_error_naming_the_line(tmp_path: Path) -> None:
    text = _jsonl({"skill": "step", "params": {"n": 1}},
                  {"skill": "step", "params": {"n": 2}, "prio": 9, "tiemout": 1})
    r = cli(tmp_path, "batch", "-", "--json", stdin=text)
    assert r.returncode == 1
    results = [json.loads(x) for x in r.stdout.splitlines()]
    bad = [x for x in results if x["status"] == "rejected"]
    assert len(results) == 2 and len(bad) == 1
    message = bad[0]["error"]["message"]
    assert message.startswith("line 2: unknown key(s) 'prio', 'tiemout'"), message
    assert (tmp_path / "runs.txt").read_text().split() == ["1"]  # the bad line never ran


def test_a_line_that_is_not_utf8_is_refused_alone(tmp_path: Path) -> None:
    good = _jsonl({"skill": "step", "params": {"n": 1}}).encode()
    (tmp_path / "calls.jsonl").write_bytes(good + b'{"skill": "st\xffep"}\n' + good)
    r = cli(tmp_path, "batch", "calls.jsonl", "--json")
    assert r.returncode == 1, r.stderr  # was exit 2 and nothing run: "not UTF-8 text"
    results = [json.loads(x) for x in r.stdout.splitlines()]
    assert [x["status"] for x in results].count("succeeded") == 2
    bad = [x for x in results if x["status"] == "rejected"]
    assert len(bad) == 1 and bad[0]["error"]["message"] == "line 2: not UTF-8 text"


def test_failures_exit_1_unless_keep_going(tmp_path: Path) -> None:
    text = _jsonl({"skill": "step", "params": {"n": 1}},
                  {"skill": "step", "params": {"n": 2, "fail": True}})
    assert cli(tmp_path, "batch", "-", stdin=text).returncode == 1
    r = cli(tmp_path, "batch", "-", "--keep-going", stdin=text)
    assert r.returncode == 0, r.stderr
    assert "failed 1" in r.stdout and "succeeded 1" in r.stdout
    ok = _jsonl({"skill": "step", "params": {"n": 1}})
    assert cli(tmp_path, "batch", "-", stdin=ok).returncode == 0


def test_json_streams_each_result_as_it_ends(tmp_path: Path) -> None:
    batch = tmp_path / "b.jsonl"
    batch.write_text(_jsonl({"skill": "step", "params": {"n": 1, "seconds": 4}},
                            {"skill": "step", "params": {"n": 2}}))
    proc = subprocess.Popen([sys.executable, "-m", "skillexec", "batch", str(batch),
                             "--json"], cwd=tmp_path, env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    first = json.loads(proc.stdout.readline())
    still_running = proc.poll() is None
    seen_at = time.monotonic()
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert first["output"] == 2 and still_running  # the quick call, before the slow ends
    assert first["line"] == 2
    assert time.monotonic() - seen_at > 1
    assert [json.loads(x)["output"] for x in rest.splitlines()] == [1]
    assert "by status" in err and "by status" not in rest  # stdout: only the JSON lines


def test_a_line_takes_every_call_option_and_a_flag_must_be_one(tmp_path: Path) -> None:
    """deadline, max_retries and cache were "unknown key(s)"; cache="no" is refused by the
    engine (it was read as true wherever it was accepted)."""
    text = _jsonl({"skill": "step", "params": {"n": 1}, "deadline": 30, "max_retries": 1,
                   "cache": False},
                  {"skill": "step", "params": {"n": 2}, "cache": "no"})
    r = cli(tmp_path, "batch", "-", "--json", stdin=text)
    results = {x["line"]: x for x in map(json.loads, r.stdout.splitlines())}
    assert results[1]["status"] == "succeeded", results[1]
    assert results[2]["status"] == "rejected"
    assert results[2]["error"]["code"] == "invalid_cache"
    assert results[2]["error"]["message"] == "cache must be true or false, not 'no'"
    assert (tmp_path / "runs.txt").read_text().split() == ["1"]
