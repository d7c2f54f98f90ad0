# ruff: noqa: F811  (the fixtures imported from test_dashboard_browser are parameters here)
"""The tasks table is live: a WebSocket message updated only the page's progress map, and
the table was redrawn by its 3-s refresh, so a row lagged the run panel by seconds and a
finished task said "running" until the next refresh. Here the table's refreshes are held
once the run's row is shown: what the row shows after that came over the WebSocket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.test_dashboard_browser import Site, Visit, _gate, site, visit  # noqa: F401


def test_a_row_follows_its_task_over_the_websocket(site: Site,
                                                   visit: Callable[[str], Visit]) -> None:
    _gate.clear()
    try:
        v = visit("runner")
        page = v.page
        page.select_option("#runskill", "dashdemo")
        page.wait_for_selector("#fields [name=mood]")
        page.fill("#fields [name=text]", "live")
        page.click("#runform button[type=submit]")
        page.wait_for_function("() => document.querySelector('#runid').textContent !== ''")
        run_id = page.text_content("#runid")
        row = f"document.querySelector(\"#tasks tr[data-task='{run_id}']\")"
        page.wait_for_function(f"() => {row} && {row}.cells[2].textContent === 'running'")
        held: list[Any] = []
        page.route("**/api/executions?*", lambda route: held.append(route))
        _gate.set()
        page.wait_for_function("() => document.querySelector('#runstatus').textContent "
                               "=== 'succeeded'")
        page.wait_for_function(f"() => {row}.cells[2].textContent === 'succeeded'", timeout=3000)
        assert page.evaluate(f"{row}.cells[3].textContent") == ""  # no bar once ended
        assert page.evaluate(f"{row}.cells[4].textContent") == "1"
        for r in held:
            r.abort()
    finally:
        _gate.set()
