# ruff: noqa: F811  (the fixtures imported from test_dashboard_browser are parameters here)
"""The dashboard acts on tasks: the table showed the last 10 digits of a task id (an id
nowhere), no row opened its task, nothing could be cancelled, only the newest 30 tasks
were reachable (no filter, no pages), and an auditor's key got an empty page. Now a row
shows the whole id and opens the task (error, output, attempts, artifacts to download,
cancel where the key may), the table filters by status and skill and pages through the
API's cursor, the run panel shows its task's id and cancels it, and an auditor reads the
audit log."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests._browser import table
from tests.test_dashboard_browser import WAIT_MS, Site, Visit, site, visit  # noqa: F401

V = Callable[[str], Visit]


def _row_of(page: Any, task_id: str) -> Any:
    return page.locator(f"#tasks tbody tr[data-task='{task_id}']")


def test_a_row_shows_the_whole_id_and_opens_the_task(site: Site, visit: V) -> None:
    srv = site.server
    with srv.client(site.keys["runner"]) as c:
        boom = c.post("/api/skills/boom/execute", json={}).json()["data"]["task_id"]
        rep = c.post("/api/skills/report/execute",
                     json={"parameters": {"title": "t"}}).json()["data"]["task_id"]
    v = visit("runner")
    page = v.page
    page.wait_for_function(f"() => document.querySelector(\"#tasks tr[data-task='{rep}']\")")
    ids = [row[0] for row in table(page, "#tasks")]
    assert boom in ids and rep in ids  # whole ids, each one the API knows
    with srv.client(site.keys["runner"]) as c:
        assert c.get(f"/api/executions/{ids[0]}").status_code == 200
    # The failed task: its error, its attempt, the command that runs it again.
    _row_of(page, boom).click()
    page.wait_for_function("() => document.querySelector('#derror').textContent !== ''")
    assert page.text_content("#dtid") == boom
    assert "it broke on purpose" in page.text_content("#derror")
    assert "status failed" in page.text_content("#dmeta")
    page.wait_for_selector("#dattempts:not([hidden]) tbody tr")
    attempts = table(page, "#dattempts")
    assert len(attempts) == 1 and attempts[0][0] == "1"
    assert "it broke on purpose" in attempts[0][2]
    assert f"skillexec tasks replay {boom}" in page.text_content("#dnote")
    assert not page.is_visible("#dcancel")  # ended: nothing to cancel
    # The report task: its output and its artifact, downloaded with the key.
    _row_of(page, rep).click()
    page.wait_for_selector("#dartifacts a")
    assert page.text_content("#dtid") == rep
    assert '"written": true' in page.text_content("#doutput")
    with page.expect_download() as dl:
        page.click("#dartifacts a")
    assert Path(dl.value.path()).read_bytes() == b"# t\n"
    page.click("#dclose")
    assert not page.is_visible("#detail")
    assert v.errors == [] and v.failed == []


def test_cancel_a_running_task_from_its_view_and_the_run_panel(site: Site, visit: V) -> None:
    srv = site.server
    with srv.client(site.keys["runner"]) as c:
        slow = c.post("/api/skills/slow/execute", json={
            "parameters": {"seconds": 60, "steps": 60}, "wait": False}).json()["data"]["task_id"]
    viewer = visit("viewer")
    _row_of(viewer.page, slow).wait_for()
    _row_of(viewer.page, slow).click()
    viewer.page.wait_for_function("() => document.querySelector('#dnote').textContent !== ''")
    assert "state only" in viewer.page.text_content("#dnote")  # a viewer: no result
    assert not viewer.page.is_visible("#dcancel")
    v = visit("runner")
    page = v.page
    _row_of(page, slow).wait_for()
    _row_of(page, slow).click()
    page.wait_for_selector("#dcancel:not([hidden])")
    page.click("#dcancel")
    page.wait_for_function("() => document.querySelector('#dmeta').textContent"
                           ".includes('status cancelled')")
    with srv.client(site.keys["runner"]) as c:
        assert c.get(f"/api/executions/{slow}").json()["data"]["status"] == "cancelled"
    page.wait_for_function(f"""() => [...document.querySelectorAll('#tasks tbody tr')].some(r =>
        r.dataset.task === '{slow}' && r.cells[2].textContent === 'cancelled')""")
    # The run panel: its task's id, and a cancel button while it runs.
    page.select_option("#runskill", "slow")
    page.wait_for_selector("#fields [name=seconds]")
    page.fill("#fields [name=seconds]", "60")
    page.fill("#fields [name=steps]", "60")
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runid').textContent.length >= 20")
    run_id = page.text_content("#runid")
    with srv.client(site.keys["runner"]) as c:
        assert c.get(f"/api/executions/{run_id}").json()["data"]["skill_id"] == "slow"
    page.click("#runcancel")
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'cancelled'")
    assert not page.is_visible("#runcancel")
    assert v.errors == [] and v.failed == []


def test_filter_by_status_and_skill_and_page_through_older_tasks(site: Site, visit: V) -> None:
    srv = site.server
    with srv.client(site.keys["runner"]) as c:
        made = [c.post("/api/skills/echo/execute", json={
            "parameters": {"text": f"n{i}"}}).json()["data"]["task_id"] for i in range(35)]
        c.post("/api/skills/boom/execute", json={})
    v = visit("runner")
    page = v.page
    page.wait_for_function(f"() => document.querySelector(\"#tasks tr[data-task='{made[-1]}']\")")
    first = [row[0] for row in table(page, "#tasks")]
    assert len(first) == 30 and made[0] not in first
    page.click("#taskolder")
    page.wait_for_function("() => document.querySelector('#taskcount').textContent"
                           ".includes('page 2')")
    second = [row[0] for row in table(page, "#tasks")]
    assert second and not set(second) & set(first)
    assert max(second) < min(first)  # older, newest first
    page.click("#tasknewer")
    page.wait_for_function("() => document.querySelector('#taskcount').textContent"
                           ".includes('newest')")
    assert [row[0] for row in table(page, "#tasks")][:5] == first[:5]
    page.select_option("#fstatus", "failed")
    page.wait_for_function("""() => [...document.querySelectorAll('#tasks tbody tr')].length > 0 &&
        [...document.querySelectorAll('#tasks tbody tr')].every(r => r.cells[2].textContent
        === 'failed')""")
    assert {row[1] for row in table(page, "#tasks")} == {"boom"}
    page.select_option("#fstatus", "")
    page.select_option("#fskill", "echo")
    page.wait_for_function("""() => [...document.querySelectorAll('#tasks tbody tr')].length === 30
        && [...document.querySelectorAll('#tasks tbody tr')].every(r => r.cells[1].textContent
        === 'echo')""")
    assert "echo" in page.text_content("#taskcount")
    assert v.errors == [] and v.failed == []


def test_an_auditor_reads_the_audit_log(site: Site) -> None:
    srv = site.server
    auditor = srv.key("auditor")
    ctx = site.browser.new_context()
    try:
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.base_url + "/")
        page.fill("#key", auditor)
        page.click("#keyform button[type=submit]")
        page.wait_for_selector("#auditpanel:not([hidden]) #audit tbody tr")
        rows = table(page, "#audit")
        assert any(r[2] == "key.created" for r in rows), rows[:5]
        assert "audit log" in page.text_content("#notice")
        assert not page.is_visible("#tasks") and not page.is_visible("#runform")
        # A task that succeeded is not shown as a failure (red); a failed one is.
        shown = page.eval_on_selector_all("#audit tbody td:nth-child(5)",
                                          "tds => tds.map(td => [td.textContent, td.className])")
        assert ["succeeded", ""] in shown and ["failed", "failed"] in shown, shown
        assert errors == []
    finally:
        ctx.close()
