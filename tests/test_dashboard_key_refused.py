"""A refused key stops the dashboard: a tab whose key was revoked (or expired) went on
asking twice a second for ever (the run's poll, the table's refresh, the WebSocket's
reconnect), each refusal an ``auth.failed`` audit record, until its address's allowance
of failed key checks ran out; its run panel said "running" for ever, also after another
principal's key was entered. Now a 401 (or the WebSocket's 1008) stops every keyed request,
says so, marks the run's state unknown; another key clears the run panel; "Forget key"
removes the key from the browser's storage."""

from __future__ import annotations

import time
from collections.abc import Callable

from tests.test_dashboard_browser import Site, Visit, _gate, site, visit  # noqa: F401


def _keyed(v: Visit) -> list[str]:
    return [u for u in v.urls if "/api/" in u]


def test_a_revoked_key_stops_the_page_and_another_key_clears_the_run(
        site: Site, visit: Callable[[str], Visit]) -> None:  # noqa: F811
    srv = site.server
    site.keys["revokee"] = srv.key("runner", name="revokee")
    with srv.client(site.keys["revokee"]) as c:
        key_id = c.get("/api/whoami").json()["data"]["key_id"]
    _gate.clear()
    try:
        v = visit("revokee")
        page = v.page
        page.select_option("#runskill", "dashdemo")
        page.wait_for_selector("#fields [name=mood]")
        page.fill("#fields [name=text]", "hold")
        page.click("#runform button[type=submit]")
        page.wait_for_function("() => document.querySelector('#runmsg').textContent"
                               ".includes('step 2')")
        # Revoked elsewhere (the command line's way): the service finds it within
        # auth_cache_s, as HTTP does.
        assert srv.call(srv.engine.keys.revoke(key_id))
        page.wait_for_function("() => document.querySelector('#notice').textContent"
                               ".includes('revoked')", timeout=10_000)
        page.wait_for_timeout(1500)  # the poll's next round
        assert page.text_content("#runstatus") == "unknown"  # not "running" for ever
        assert "refused" in page.text_content("#notice")
        assert "unknown" in page.text_content("#runmsg")
        asked = len(_keyed(v))
        page.wait_for_timeout(7000)  # two refreshes, seven polls, two reconnects before
        assert _keyed(v)[asked:] == []
        assert "refused" in page.text_content("#notice")
        failed = srv.call(srv.engine.audit.newest(since=time.time() - 60, limit=1000))[0]
        refusals = [r for r in failed if r.get("action") == "auth.failed"]
        assert 1 <= len(refusals) <= 4, refusals
        # Another principal's key: the run panel is cleared, not "running" for ever.
        page.fill("#key", site.keys["runner"])
        page.click("#keyform button[type=submit]")
        page.wait_for_selector("#runskill option[value=dashdemo]", state="attached")
        page.wait_for_function("() => !document.querySelector('#notice').textContent"
                               ".includes('refused')")
        assert page.text_content("#runstatus") == ""
        assert page.text_content("#runmsg") == ""
        assert page.evaluate("document.querySelector('#runbar > span').style.width") in ("", "0%")
    finally:
        _gate.set()


def test_forget_key_removes_it_from_the_browser(
        site: Site, visit: Callable[[str], Visit]) -> None:  # noqa: F811
    v = visit("viewer")
    page = v.page
    assert page.evaluate("localStorage.getItem('skillexec.key')") == site.keys["viewer"]
    page.click("#forgetkey")
    assert page.evaluate("localStorage.getItem('skillexec.key')") is None
    page.wait_for_function("() => document.querySelector('#notice').textContent"
                           ".includes('Enter an API key')")
    page.reload()
    page.wait_for_function("() => document.querySelector('#notice').textContent"
                           ".includes('Enter an API key')")
    asked = len(_keyed(v))
    page.wait_for_timeout(3500)
    assert _keyed(v)[asked:] == []
    assert v.errors == []
