"""Structured logs: JSON or console, task fields bound, secrets redacted."""

from __future__ import annotations

import io
import json
from pathlib import Path

from skillexec import EngineConfig, SkillExecutionEngine, skill
from skillexec.monitoring.logs import REDACTED, make_logger, redact
from skillexec.monitoring.settings import MonitorSettings
from tests.conftest import arun

BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJlLXZhbHVl"
AWS = "AKIAIOSFODNN7EXAMPLE"


def test_redact_keys_values_and_configured_params() -> None:
    data = {
        "password": "hunter2", "nested": {"api_key": "k-123", "Authorization": "x"},
        "header": f"Authorization: {BEARER}", "aws": f"key id {AWS} here",
        "url": "https://x.test/?token=abcdef123456&page=2", "ssn": "123-45-6789",
        "list": [{"client_secret": "s"}, "plain"], "count": 3, "empty_token": "",
    }
    out = redact(data, {"ssn"})
    assert out["password"] == REDACTED
    assert out["nested"] == {"api_key": REDACTED, "Authorization": REDACTED}
    assert BEARER not in out["header"] and REDACTED in out["header"]
    assert AWS not in out["aws"] and out["aws"].startswith("key id ")
    assert "abcdef123456" not in out["url"] and "page=2" in out["url"]
    assert out["ssn"] == REDACTED
    assert out["list"] == [{"client_secret": REDACTED}, "plain"]
    assert out["count"] == 3 and out["empty_token"] == ""
    assert data["password"] == "hunter2"  # a copy: the original is untouched


def test_json_logger_binds_and_redacts() -> None:
    buf = io.StringIO()
    log = make_logger(MonitorSettings(log_format="json", sensitive_params=frozenset({"pin"})),
                      stream=buf)
    log.bind(task_id="t1", skill_id="s", attempt=2, principal="bob").warning(
        "task_failed", params={"pin": "1234", "q": "hello", "token": "abc"},
        message=f"call failed with {BEARER}", secret="x")
    log.debug("not shown at INFO")
    lines = buf.getvalue().strip().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["event"] == "task_failed" and rec["level"] == "warning"
    assert (rec["task_id"], rec["skill_id"], rec["attempt"], rec["principal"]) == \
        ("t1", "s", 2, "bob")
    assert rec["params"] == {"pin": REDACTED, "q": "hello", "token": REDACTED}
    assert rec["secret"] == REDACTED and BEARER not in rec["message"]
    assert "timestamp" in rec


def test_console_format_is_readable() -> None:
    buf = io.StringIO()
    log = make_logger(MonitorSettings(log_format="console"), stream=buf)
    log.info("hello", task_id="t9", password="pw")
    text = buf.getvalue()
    assert "hello" in text and "task_id=t9" in text and "pw'" not in text
    assert "{" not in text.split("hello")[0]  # not JSON


@skill(id="leaky", version="1.0.0", max_retries=0)
async def leaky(api_key: str, note: str) -> None:
    raise RuntimeError(f"upstream refused {note}")


def test_engine_failure_logged_to_file_without_secrets(tmp_path: Path) -> None:
    log_file = tmp_path / "tasks.log"

    async def go() -> str:
        engine = SkillExecutionEngine(config=EngineConfig(data_dir=tmp_path / "d"))
        engine.monitor.reconfigure(MonitorSettings(
            alerts=False, log_file=log_file, log_format="json",
            sensitive_params=frozenset({"note"})))
        engine.register(leaky)
        async with engine:
            r = await engine.execute("leaky", {"api_key": "sk_live_abcdefghijklmnop1234",
                                               "note": "private-note"}, principal="carol")
            return r.task_id

    task_id = arun(go())
    records = [json.loads(line) for line in log_file.read_text().splitlines()]
    failed = [r for r in records if r["event"] == "task_failed"]
    assert len(failed) == 1
    rec = failed[0]
    assert rec["task_id"] == task_id and rec["skill_id"] == "leaky"
    assert rec["principal"] == "carol" and rec["attempt"] == 1
    assert rec["error_type"] == "execution_error"
    raw = log_file.read_text()
    assert "sk_live_abcdefghijklmnop1234" not in raw
    assert "private-note" not in raw  # configured as sensitive: in params and in messages?


def test_file_lines_are_batched_per_loop_turn_whole_and_in_order(tmp_path: Path) -> None:
    import asyncio
    import threading

    from skillexec.monitoring.logs import flush_logs

    path = tmp_path / "batched.log"
    log = make_logger(MonitorSettings(log_file=path, log_format="json"))

    async def go() -> list[int]:
        sizes = []
        for turn in range(3):
            for i in range(100):
                log.info("line", n=turn * 100 + i, token="t0ps3cret-value")
            sizes.append(len(path.read_text().splitlines()))  # this turn's: not yet
            await asyncio.sleep(0)  # the turn ends: its lines are written
        # A line from a thread (a sync skill's logger) is written at once, after the
        # earlier ones.
        await asyncio.sleep(0)
        t = threading.Thread(target=lambda: log.info("from_thread", n=-1))
        t.start()
        t.join()
        sizes.append(len(path.read_text().splitlines()))
        log.info("pending_at_exit", n=-2)
        return sizes

    sizes = asyncio.run(go())
    assert sizes == [0, 100, 200, 301]
    flush_logs()  # what the atexit hook does
    lines = path.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line whole
    assert [r["n"] for r in records[:300]] == list(range(300))
    assert [r["event"] for r in records[300:]] == ["from_thread", "pending_at_exit"]
    assert all(r["token"] == REDACTED for r in records[:300])
    log.info("outside_a_loop", n=-3)  # no loop: written at once
    assert json.loads(path.read_text().splitlines()[-1])["event"] == "outside_a_loop"
