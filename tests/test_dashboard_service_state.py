"""The dashboard says what the service is doing: while it drained (SIGTERM) the run panel
froze on its last progress with nothing said but the pill, then the notice read the
browser's bare "Failed to fetch" and the console filled with a refused connection every
3 s; a retried run showed "running" throughout, its bar jumping back to 0. Now a drain is
said, the run is followed by polling to its end, an unreachable service is said (tries
spaced out), the page comes back with the service, and a retry shows its attempt."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tests._http
from skillexec import TransientError, skill
from skillexec.service.server import bind
from tests._browser import CHROMIUM_ARGS, chromium, playwright_or_skip
from tests._http import Server, running

pytestmark = pytest.mark.timeout(180)
WAIT_MS = 20_000
_tries = {"n": 0}


@skill("flaky", max_retries=2, description="Its first attempt fails (transient)")
async def flaky(context: Any = None) -> dict[str, Any]:
    _tries["n"] += 1
    context.progress(0.5, f"try {_tries['n']}")
    await asyncio.sleep(0.8)
    if _tries["n"] == 1:
        raise TransientError("the first attempt fails")
    await asyncio.sleep(1.5)
    return {"tries": _tries["n"]}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = playwright_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@contextlib.contextmanager
def _server(tmp_path: Path, **options: Any) -> Iterator[Server]:
    """``running()``, started and stopped on a thread of its own: its loop cannot be run
    from the thread where Playwright's already runs."""
    cm = running(tmp_path, **options)
    srv = _on_a_thread(cm.__enter__)
    try:
        yield srv
    finally:
        _on_a_thread(lambda: cm.__exit__(None, None, None))


def _on_a_thread(fn: Callable[[], Any]) -> Any:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join(60)
    return out[0] if out else None


def _open(browser: Any, base: str, key: str) -> tuple[Any, Any, list[str]]:
    ctx = browser.new_context()
    page = ctx.new_page()
    page.set_default_timeout(WAIT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(base + "/")
    page.fill("#key", key)
    page.click("#keyform button[type=submit]")
    page.wait_for_selector("#runskill option[value=slow]", state="attached")
    return ctx, page, errors


def test_a_drain_then_an_outage_are_said_and_the_page_comes_back(
        tmp_path: Path, browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    with _server(tmp_path, service={"shutdown_grace_s": 30}) as srv:
        key = srv.key("runner")
        port = int(srv.base_url.rsplit(":", 1)[1])
        ctx, page, errors = _open(browser, srv.base_url, key)
        page.select_option("#runskill", "slow")
        page.wait_for_selector("#fields [name=seconds]")
        page.fill("#fields [name=seconds]", "5")
        page.fill("#fields [name=steps]", "50")
        page.click("#runform button[type=submit]")
        page.wait_for_function("() => document.querySelector('#runmsg').textContent"
                               ".startsWith('step')")
        srv.loop.call_soon_threadsafe(srv.state.draining.set)  # what SIGTERM starts
        page.wait_for_function("() => document.querySelector('#notice').textContent"
                               ".includes('shutting down')")
        assert "shutting down" in page.text_content("#runnote")
        # Followed by polling to its end, while the service drains.
        page.wait_for_function("() => document.querySelector('#runstatus').textContent "
                               "=== 'succeeded'")
        assert '"done": true' in page.text_content("#runresult")
        assert page.text_content("#runnote") == ""
    # The port is closed now: said, not "Failed to fetch".
    page.wait_for_function("() => document.querySelector('#notice').textContent"
                           ".includes('unreachable')")
    assert "Failed to fetch" not in page.text_content("#notice")
    assert page.text_content("#health") == "unreachable"
    # Back on the same port with the same journal (its keys): the page recovers by itself.
    monkeypatch.setattr(tests._http, "bind", lambda host, _port: bind(host, port))
    with _server(tmp_path) as srv:
        page.wait_for_function("() => document.querySelector('#health').textContent"
                               ".startsWith('ok')", timeout=30_000)
        page.wait_for_function("() => document.querySelector('#notice').hidden")
        page.select_option("#runskill", "slow")
        page.wait_for_selector("#fields [name=seconds]")
        page.fill("#fields [name=seconds]", "1")
        page.click("#runform button[type=submit]")
        page.wait_for_function("() => document.querySelector('#runstatus').textContent "
                               "=== 'succeeded'")
        assert errors == []
        ctx.close()


def test_a_retried_run_shows_its_attempt(tmp_path: Path, browser: Any) -> None:
    _tries["n"] = 0
    with _server(tmp_path, retry_base_delay_s=0.3) as srv:
        srv.call(_register(srv.engine))
        ctx, page, errors = _open(browser, srv.base_url, srv.key("runner"))
        page.evaluate("""() => { window.__states = [];
            new MutationObserver(() => window.__states.push(
                document.querySelector('#runstatus').textContent)).observe(
                document.querySelector('#runstatus'), {childList: true}); }""")
        page.select_option("#runskill", "flaky")
        page.click("#runform button[type=submit]")
        page.wait_for_function("() => document.querySelector('#runstatus').textContent "
                               "=== 'running · attempt 2'")
        assert "retrying" in page.evaluate("window.__states"), page.evaluate("window.__states")
        assert page.text_content("#runmsg") == "try 2"
        page.wait_for_function("() => document.querySelector('#runstatus').textContent "
                               "=== 'succeeded'")
        assert errors == []
        ctx.close()


async def _register(engine: Any) -> None:
    engine.register(flaky)


def test_a_run_sent_as_another_skill_is_picked_waits_for_its_form(
        tmp_path: Path, browser: Any) -> None:
    """Run pressed while the picked skill's form was still on its way sent the fields of
    the skill before ("invalid parameters for skill 'flaky': 'shout' is not allowed"):
    the run waits for the form, and sends that skill's fields only."""
    _tries["n"] = 1  # (its first attempt does not fail: one attempt is enough here)
    with _server(tmp_path) as srv:
        srv.call(_register(srv.engine))
        ctx, page, errors = _open(browser, srv.base_url, srv.key("runner"))
        page.select_option("#runskill", "slow")
        page.wait_for_selector("#fields [name=seconds]")
        page.fill("#fields [name=seconds]", "1")

        def slowly(route: Any) -> None:
            time.sleep(0.8)  # the form's answer comes after the click
            route.continue_()
        page.route("**/api/skills/flaky", slowly)
        page.select_option("#runskill", "flaky")
        page.click("#runform button[type=submit]")
        page.wait_for_function("() => document.querySelector('#runstatus').textContent "
                               "=== 'succeeded'")
        assert errors == []
        ctx.close()
