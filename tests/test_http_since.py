"""``since``/``until`` on the report, alert and audit routes: every calendar date is one."""

from __future__ import annotations

from pathlib import Path

from skillexec.monitoring.reports import parse_since
from tests._http import running


def test_a_date_late_in_the_month_is_a_date(tmp_path: Path) -> None:
    """The pattern allowed days 01-28 only: the 29th, 30th and 31st of every month (a
    third of a year's reports) were refused with a regular expression for a message."""
    with running(tmp_path) as srv, srv.client(srv.key("admin")) as c:
        for day in ("2026-01-29", "2026-01-30", "2026-01-31", "2026-04-30", "2024-02-29",
                    "2000-02-29"):
            r = c.get("/api/reports/summary", params={"since": day})
            assert r.status_code == 200, (day, r.text)
            assert r.json()["data"]["range"]["since"] == parse_since(day)
            for path in ("/api/alerts", "/api/audit"):
                assert c.get(path, params={"since": day}).status_code == 200, (path, day)
        for wrong in ("2026-02-29", "2026-04-31", "1900-02-29", "2026-13-01", "yesterday"):
            r = c.get("/api/reports/summary", params={"since": wrong})
            assert r.status_code == 422, (wrong, r.text)
            error = r.json()["error"]
            assert error["field"] == "since"
            assert "pattern" not in error["message"] and "[0-9]" not in error["message"]
            assert repr(wrong) in error["message"]
        r = c.get("/api/reports/summary", params={"until": "2026-02-30"})
        assert r.status_code == 422 and r.json()["error"]["field"] == "until"
