# ruff: noqa: F811  (the fixtures imported from test_dashboard_browser are parameters here)
"""The dashboard's page and files: HEAD answers as GET does (it was a 405 with an empty
Allow, and uptime checks use HEAD); the page that holds the key may not be framed by
another site and runs nothing but its own origin's script (a Content-Security-Policy the
page works under, WebSocket included); Swagger UI and ReDoc, which load their scripts from
a CDN into that origin, are off unless ``service.api_docs`` is set (the OpenAPI document
stays); and a task older than today shows its date, not only a time of day."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from tests._http import running
from tests.test_dashboard_browser import Site, Visit, site, visit  # noqa: F401

FILES = ("/", "/dashboard/app.js", "/dashboard/run.js", "/dashboard/tasks.js",
         "/dashboard/audit.js", "/dashboard/style.css")


def test_head_and_the_page_s_security_headers(tmp_path: Path) -> None:
    with running(tmp_path) as srv, srv.client() as c:
        for path in FILES:
            got, head = c.get(path), c.head(path)
            assert got.status_code == 200 and head.status_code == 200, (path, head.text)
            assert head.content == b""
            assert head.headers["content-type"] == got.headers["content-type"]
            assert head.headers["content-length"] == str(len(got.content))
            for h in (got, head):
                assert h.headers["x-frame-options"] == "DENY"
                assert h.headers["x-content-type-options"] == "nosniff"
                csp = h.headers["content-security-policy"]
                assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
        # The page loads no script of its own inline (the policy would refuse it).
        page = c.get("/").text
        assert "<script>" not in page and "<script " in page
        assert all('src="/dashboard/' in tag for tag in page.split("<script ")[1:])


def test_the_docs_pages_are_off_unless_asked_and_the_document_stays(tmp_path: Path) -> None:
    with running(tmp_path / "a") as srv, srv.client() as c:
        assert c.get("/docs").status_code == 404
        assert c.get("/redoc").status_code == 404
        doc = c.get("/openapi.json")
        assert doc.status_code == 200 and "/api/executions" in doc.json()["paths"]
    with running(tmp_path / "b", service={"api_docs": True}) as srv, srv.client() as c:
        page = c.get("/docs")
        assert page.status_code == 200 and "swagger" in page.text.lower()
        assert c.get("/redoc").status_code == 200


def test_the_page_works_under_its_policy_and_old_tasks_show_their_date(
        site: Site, visit: Callable[[str], Visit]) -> None:
    srv = site.server
    with srv.client(site.keys["runner"]) as c:
        task_id = c.post("/api/skills/echo/execute", json={"parameters": {"text": "old"}}
                         ).json()["data"]["task_id"]
    v = visit("runner")
    page = v.page
    # The policy refused nothing the page does: its files, API calls and WebSocket.
    page.wait_for_function("() => document.querySelectorAll('#tasks tbody tr').length > 0")
    page.select_option("#runskill", "dashdemo")
    page.wait_for_selector("#fields [name=mood]")
    from tests.test_dashboard_browser import _gate
    _gate.set()
    page.fill("#fields [name=text]", "csp")
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'succeeded'")
    assert any(u.startswith("ws://") for u in v.urls)
    assert [m for m in v.console if "Content Security Policy" in m] == []
    assert v.errors == [] and v.failed == []
    # A task of two days ago: its date is shown.
    old = time.time() - 2 * 86400
    shown = page.evaluate("t => when(t)", old)
    today = page.evaluate("t => when(t)", time.time())
    assert page.evaluate("t => new Date(t * 1000).toLocaleDateString()", old) in shown
    assert page.evaluate("t => new Date(t * 1000).toLocaleDateString()", time.time()) \
        not in today
    assert task_id
