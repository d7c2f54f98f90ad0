"""A broker or claims-database URL that is not one is named as such, at once: the database
one waited out a 10 s pool and said "pool initialization incomplete"; the broker one showed
a regular expression."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from pydantic import ValidationError

from skillexec.config import EngineConfig


def _doctor(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", "doctor", *args,
                           "--data-dir", str(tmp_path / "data")],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize(("option", "says"), [
    ("--database-url", "distributed.database_url: 'garbage' is not a PostgreSQL URL: use "
                       "postgresql://user@host/db"),
    ("--broker-url", "broker_url: 'garbage' is not a broker URL: use redis://host:6379/0 or "
                     "amqp://user@host:5672//"),
])
def test_doctor_says_a_url_is_not_one(tmp_path: Path, option: str, says: str) -> None:
    # How long the CLI takes to start and refuse an option here, as the machine is now:
    # the refusal must cost no more than that plus a margin well under the 10 s pool wait.
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "skillexec", "doctor", "--no-such-option"],
                   capture_output=True, timeout=60, cwd=tmp_path)
    startup_s = time.monotonic() - started
    started = time.monotonic()
    p = _doctor(tmp_path, option, "garbage")
    assert (p.returncode, p.stdout, p.stderr) == (2, "", f"skillexec: {says}\n")
    assert time.monotonic() - started < startup_s * 1.5 + 6  # no pool waited for


def test_the_settings_refuse_them_without_echoing_a_password() -> None:
    with pytest.raises(ValidationError) as caught:
        EngineConfig(distributed={"database_url": "mysql://u:hunter2@db/x"})
    msg = caught.value.errors()[0]["msg"]  # what load_config and the CLI say (input redacted)
    assert "is not a PostgreSQL URL" in msg and "hunter2" not in msg
    with pytest.raises(ValidationError, match="is not a broker URL"):
        EngineConfig(broker_url="http://u:hunter2@broker")
    ok = EngineConfig(broker_url="redis://127.0.0.1:6379/0",
                      distributed={"database_url": "postgres://postgres@127.0.0.1/x"})
    assert ok.distributed.database_url == "postgres://postgres@127.0.0.1/x"
