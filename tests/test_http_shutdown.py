"""SIGTERM while a request waits for its result: an answer that names the task, not a 500.

uvicorn gives in-flight requests ``service.shutdown_grace_s``, then cancels them: a client
waiting on a script (or an execute with ``wait``) got a bare 500 and no task id, though the
task went on and its end was journaled. It now gets 503 ``SHUTTING_DOWN`` with the task's id
before the grace runs out, and finds the task with that id once the service is back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests._isolation import need_sandbox

pytestmark = pytest.mark.timeout(180)


def _serve(tmp_path: Path) -> tuple[subprocess.Popen[str], str]:
    (tmp_path / "skillexec.toml").write_text("[service]\nshutdown_grace_s = 2\n")
    proc = subprocess.Popen(
        [sys.executable, "-m", "skillexec", "serve", "--port", "0", "--insecure-no-auth",
         "--skills-dir", str(tmp_path / "skills"), "--data-dir", str(tmp_path / "data")],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("SKILLEXEC_")})
    assert proc.stderr is not None
    for _ in range(20):
        line = proc.stderr.readline()
        if "serving http://" in line:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # never blocks
            return proc, line.split("serving ")[1].split(" ")[0]
        assert line, "the service did not start"
    raise AssertionError("no 'serving' line")


def _skill(tmp_path: Path) -> None:
    folder = tmp_path / "skills" / "slowpoke"
    (folder / "scripts").mkdir(parents=True)
    (folder / "SKILL.md").write_text(
        "---\nname: slowpoke\ndescription: Takes its time. Use to wait.\n---\nRun it.\n")
    (folder / "scripts" / "wait.py").write_text(
        "import sys, time\nprint('waiting', flush=True)\ntime.sleep(float(sys.argv[1]))\n")
    entry = tmp_path / "skills" / "sleeper"
    entry.mkdir()
    (entry / "skill.json").write_text('{"id": "sleeper", "version": "1.0.0", '
                                      '"entry_point": "main:execute"}')
    (entry / "main.py").write_text("import time\n\ndef execute(input_data):\n"
                                   "    time.sleep(30)\n")
    os.chmod(tmp_path, 0o755)


def test_sigterm_answers_a_waiting_script_call_with_its_task(tmp_path: Path) -> None:
    need_sandbox()
    _skill(tmp_path)
    proc, base = _serve(tmp_path)
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            answers: dict[str, httpx.Response] = {}
            calls = [threading.Thread(target=lambda: answers.__setitem__("script", c.post(
                "/api/skills/slowpoke/scripts", json={"script": "scripts/wait.py",
                                                      "args": ["30"]}))),
                     threading.Thread(target=lambda: answers.__setitem__("execute", c.post(
                         "/api/skills/sleeper/execute", json={"parameters": {}})))]
            for call in calls:
                call.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # both are running
                r = c.get("/api/executions", params={"status": "running"})
                if r.text.count('"task_id"') == 2:
                    break
                time.sleep(0.1)
            stopped_at = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            for call in calls:
                call.join(30)
        took = time.monotonic() - stopped_at
        assert set(answers) == {"script", "execute"}
        for r in answers.values():
            assert r.status_code == 503, r.text
            error = r.json()["error"]
            assert error["code"] == "SHUTTING_DOWN"
            assert error["details"]["execution_id"] in error["message"]
        task_id = answers["script"].json()["error"]["details"]["execution_id"]
        assert took < 2.0 + 1.0, took  # within the grace: uvicorn would have cut it
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    proc, base = _serve(tmp_path)  # back: the task is known by the id it was given
    try:
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.get(f"/api/executions/{task_id}")
            assert r.status_code == 200, r.text
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
