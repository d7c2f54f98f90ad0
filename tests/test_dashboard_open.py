"""The dashboard of a server that asks no key (``skillexec serve --insecure-no-auth``, the
quickest local start), in a real headless Chromium: it asked for a key all the same and
showed nothing; now it shows the skills and the tasks at once, follows them over the
WebSocket, and says that authentication is off. (A module of its own: the other browser
tests' module holds Playwright's loop for all of its tests.)"""

from __future__ import annotations

from pathlib import Path

from tests._browser import CHROMIUM_ARGS, chromium, playwright_or_skip, table
from tests._http import running

WAIT_MS = 15_000


def test_a_server_without_keys_shows_everything_without_asking_for_one(
        tmp_path: Path) -> None:
    sync_playwright = playwright_or_skip()
    with running(tmp_path, insecure=True) as srv:
        with srv.client() as c:
            assert c.post("/api/skills/echo/execute",
                          json={"parameters": {"text": "hi"}}).status_code == 200
        problems: list[str] = []
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(WAIT_MS)
                page.on("console", lambda m: problems.append(f"{m.type}: {m.text}")
                        if m.type in ("error", "warning") else None)
                page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
                page.goto(srv.base_url + "/")
                page.wait_for_selector("#runskill option[value=echo]", state="attached")
                page.wait_for_function(
                    "() => document.querySelectorAll('#tasks tbody tr').length > 0")
                assert "echo" in [r[0] for r in table(page, "#skills")]
                assert any(r[1] == "echo" and r[2] == "succeeded"
                           for r in table(page, "#tasks"))
                assert (page.text_content("#notice") or "").startswith(
                    "Warning: authentication is disabled")
                page.wait_for_function(
                    "() => ws !== null && ws.readyState === WebSocket.OPEN")
                assert problems == []
            finally:
                browser.close()
