"""Times a user types (--since, --until, --expires-like ages): a value out of any clock's
range is one sentence or the earliest time, never an 'internal error'."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from skillexec.monitoring.reports import parse_since
from tests._http import running
from tests.conftest import ROOT


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "skillexec", *args], cwd=cwd, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                          capture_output=True, timeout=60, check=False)


def test_parse_since_keeps_to_times_a_clock_can_hold() -> None:
    assert parse_since("99999999999d", now=1000.0) == 0.0  # everything: from the start
    for text in ("nan", "inf", "-inf", "1e300", "-5", "99999999999999"):
        with pytest.raises(ValueError, match=repr(text)):
            parse_since(text)
    assert parse_since("1796582450") == 1796582450.0
    value = parse_since("30m", now=10_000.0)
    assert value is not None and math.isclose(value, 10_000.0 - 1800)


def test_out_of_range_times_on_the_command_line(tmp_path: Path) -> None:
    """'internal error: OverflowError: Python int too large to convert to SQLite INTEGER'
    (audit show --since 99999999999d), 'cannot convert float NaN to integer' (report
    summary --since nan), 'timestamp out of range for platform time_t' (--since 1e300)."""
    assert cli(tmp_path, "run", "nothing").returncode == 2  # a journal, with a refusal
    for args in (("audit", "show", "--since", "99999999999d"),
                 ("report", "summary", "--since", "99999999999d"),
                 ("report", "performance", "--since", "99999999999d")):
        done = cli(tmp_path, *args)
        assert done.returncode == 0, (args, done.stderr)
    for value in ("nan", "inf", "1e300"):
        for kind in ("summary", "errors", "usage"):
            done = cli(tmp_path, "report", kind, "--since", value)
            assert done.returncode == 2, (kind, value, done.stderr)
            assert "internal error" not in done.stderr and repr(value) in done.stderr


def test_a_huge_age_on_the_http_audit_route(tmp_path: Path) -> None:
    with running(tmp_path) as srv, srv.client(srv.key("admin")) as c:
        for path in ("/api/audit", "/api/reports/summary", "/api/alerts"):
            r = c.get(path, params={"since": "999999999w"})
            assert r.status_code == 200, (path, r.text)
