"""The dashboard's tasks table costs what it shows: it asked every 3 s for the 30 newest
tasks with their whole results (126 MB with 8 outputs of 15 MB: half a server CPU and
hundreds of MB of browser heap for one idle tab), and the WebSocket's ``complete`` message
carried every followed task's result. It now asks for the list's summary form and
subscribes without results; the run it started still shows its whole output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests._browser import table
from tests.test_dashboard_browser import Site, Visit, site, visit  # noqa: F401

BIG = 300_000  # characters of output a task returns


def test_the_tasks_table_and_the_websocket_carry_no_results(
        site: Site, visit: Callable[[str], Visit]) -> None:  # noqa: F811
    runner = site.keys["runner"]
    with site.server.client(runner) as c:
        for _ in range(3):
            r = c.post("/api/skills/echo/execute",
                       json={"parameters": {"text": "z", "times": BIG}})
            assert r.json()["data"]["status"] == "succeeded"
    v = visit("runner")
    page = v.page
    lists: list[Any] = []
    frames: list[int] = []
    page.on("response", lambda r: lists.append(r)
            if "/api/executions?" in r.url else None)
    page.on("websocket", lambda ws: ws.on("framereceived", lambda f: frames.append(
        len(f if isinstance(f, (str, bytes)) else f.get("payload", "")))))
    page.reload()
    # The reload aborts what the first load still had in flight (the first skill's form):
    # the browser's doing, not the page's; what counts is what fails from here on.
    v.failed.clear()
    page.fill("#key", runner)
    page.click("#keyform button[type=submit]")
    page.wait_for_selector("#runskill option[value=echo]", state="attached")
    # A run from the form: the page follows it over the WebSocket, and shows its output.
    page.select_option("#runskill", "echo")
    page.wait_for_selector("#fields [name=times]")
    page.fill("#fields [name=text]", "q")
    page.fill("#fields [name=times]", str(BIG))
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'succeeded'")
    page.wait_for_function("() => document.querySelector('#runresult').textContent.length > 300000")
    assert "q" * 1000 in page.text_content("#runresult")
    page.wait_for_function("""() => [...document.querySelectorAll('#tasks tbody tr')].filter(r =>
        r.cells[1].textContent === 'echo' && /^[0-9]+$/.test(r.cells[6].textContent)
        ).length >= 4""")
    page.wait_for_timeout(3500)  # another refresh of the table
    assert len(lists) >= 2
    for r in lists:
        assert "fields=summary" in r.url, r.url
        assert len(r.body()) < 20_000, (r.url, len(r.body()))
    assert frames, "the page received nothing over its WebSocket"
    assert max(frames) < 5_000, max(frames)
    rows = [row for row in table(page, "#tasks") if row[1] == "echo"]
    assert len(rows) >= 4 and all(row[2] == "succeeded" for row in rows)
    assert v.errors == [] and v.failed == []
