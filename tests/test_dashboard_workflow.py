"""The dashboard as new users met it, in the system's headless Chromium against a real
server: a session picked for a script stays picked when the next script is chosen (step 2
of a workflow ran in a fresh workspace); a runner key's page asks for nothing its role may
not read (a 403, a console error, on every load); the skills table fits its card at 1400 px
and the latency chart's labels stay off its bars, with a folder's long ids."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests._browser import CHROMIUM_ARGS, chromium, playwright_or_skip, table
from tests._http import Server, running

WAIT_MS = 15_000
LONG = ("data-and-visualization-charting-vega-lite-analyzer",
        "media-processing-converting-files-to-portable-formats",
        "ai-and-reasoning-invoking-antigravity-with-long-names")


def _skill(root: Path, name: str, scripts: dict[str, str]) -> None:
    (root / name / "scripts").mkdir(parents=True)
    (root / name / "SKILL.md").write_text(f"---\nname: {name}\ndescription: Test skill "
                                          f"{name}.\n---\n\nRun its scripts.\n")
    for file, code in scripts.items():
        (root / name / "scripts" / file).write_text(code)


@dataclass
class Site:
    server: Server
    browser: Any
    keys: dict[str, str]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    sync_playwright = playwright_or_skip()
    root = tmp_path_factory.mktemp("skills")
    _skill(root, "two-steps", {
        "write.py": "import pathlib, sys\npathlib.Path(sys.argv[1]).write_text(sys.argv[2])\n"
                    "print('wrote', sys.argv[1])\n",
        "read.py": "import pathlib, sys\nprint('read:', pathlib.Path(sys.argv[1]).read_text())\n"})
    for name in LONG:
        _skill(root, name, {"run_the_analysis_step.py": "print('ok')\n"})
    with running(tmp_path_factory.mktemp("dash")) as srv:
        async def add() -> None:
            for folder in sorted(root.iterdir()):
                srv.engine.register(folder)

        srv.call(add())
        keys = {role: srv.key(role) for role in ("viewer", "runner", "auditor")}
        with srv.client(keys["runner"]) as c:  # latency figures for the long ids
            for name in LONG:
                for _ in range(2):
                    r = c.post(f"/api/skills/{name}/scripts",
                               json={"script": "scripts/run_the_analysis_step.py"})
                    assert r.json()["data"]["status"] == "succeeded", r.text
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                yield Site(srv, browser, keys)
            finally:
                browser.close()


@dataclass
class Visit:
    page: Any
    console: list[str]
    statuses: list[tuple[int, str]]
    urls: list[str]


@pytest.fixture
def visit(site: Site) -> Iterator[Any]:
    contexts: list[Any] = []

    def open_as(role: str, *, width: int = 1280) -> Visit:
        ctx = site.browser.new_context(viewport={"width": width, "height": 1400})
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        v = Visit(page, [], [], [])
        page.on("console", lambda m: v.console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: v.console.append(f"pageerror: {e}"))
        page.on("request", lambda r: v.urls.append(r.url))
        page.on("response", lambda r: v.statuses.append((r.status, r.url))
                if r.status >= 400 else None)
        page.goto(site.server.base_url + "/")
        page.fill("#key", site.keys[role])
        page.click("#keyform button")
        return v

    yield open_as
    for ctx in contexts:
        ctx.close()


def _run_and_wait(page: Any, status: str = "succeeded") -> None:
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => ['succeeded', 'failed', 'rejected', 'invalid', 'refused', "
                           "'error'].includes(document.querySelector('#runstatus').textContent)")
    assert page.text_content("#runstatus") == status, page.text_content("#runerror")


def test_the_session_stays_picked_when_another_script_is_chosen(visit: Any) -> None:
    """Step 1 writes a file in a session opened from the page; choosing step 2's script
    kept 'a fresh one' picked, so step 2 found nothing. The session stays picked as the
    script changes, and as the skill does (one session serves several skills)."""
    v = visit("runner")
    page = v.page
    page.wait_for_selector("#runskill option[value=two-steps]", state="attached")
    page.select_option("#runskill", "two-steps")
    page.wait_for_selector("#runwhat option[value='scripts/write.py']", state="attached")
    page.select_option("#runwhat", "scripts/write.py")
    page.select_option("#runsession", "new")
    page.fill("#runargs", "note.txt\nstep one")
    _run_and_wait(page)
    session = page.eval_on_selector("#runsession", "s => s.value")
    assert session.startswith("s_")
    page.select_option("#runwhat", "scripts/read.py")
    page.wait_for_selector("#runargs")
    assert page.eval_on_selector("#runsession", "s => s.value") == session
    page.fill("#runargs", "note.txt")
    _run_and_wait(page)
    assert "read: step one" in page.text_content("#runresult")
    # Another skill's script, then back: still the session.
    other = LONG[0]
    page.select_option("#runskill", other)
    page.wait_for_selector("#runwhat option[value='scripts/run_the_analysis_step.py']",
                           state="attached")
    assert page.eval_on_selector("#runsession", "s => s.value") == session
    page.select_option("#runskill", "two-steps")
    page.wait_for_selector("#runwhat option[value='scripts/read.py']", state="attached")
    assert page.eval_on_selector("#runsession", "s => s.value") == session
    # A fresh one, picked, stays picked too.
    page.select_option("#runsession", "")
    page.select_option("#runwhat", "scripts/write.py")
    page.wait_for_selector("#runargs")
    assert page.eval_on_selector("#runsession", "s => s.value") == ""
    assert v.console == [] and v.statuses == []


def test_a_runner_key_asks_for_no_report_and_a_viewer_for_no_session(visit: Any) -> None:
    """The page asks the key's role once (GET /api/whoami) and asks for nothing that role
    may not read: a runner's reports panels say they need a viewer key without a 403 (a
    console error on every load); a viewer picking a script lists no sessions."""
    v = visit("runner")
    page = v.page
    page.wait_for_function("() => document.querySelectorAll('#skills tbody tr').length >= 4")
    page.wait_for_function("() => document.querySelector('#perf').textContent.includes('viewer')")
    assert "this key's role is runner" in page.text_content("#perf")
    assert "viewer" in table(page, "#errors")[0][0] and "viewer" in table(page, "#alerts")[0][0]
    page.wait_for_timeout(3500)  # a refresh (every 3 s) asks nothing either
    assert [u for u in v.urls if "/api/reports/" in u or "/api/alerts" in u] == []
    assert len([u for u in v.urls if u.endswith("/api/whoami")]) == 1
    assert v.console == [] and v.statuses == []

    w = visit("viewer")
    page = w.page
    page.wait_for_selector("#runskill option[value=two-steps]", state="attached")
    page.select_option("#runskill", "two-steps")
    page.wait_for_selector("#runsession")
    page.wait_for_function("() => document.querySelectorAll('#perf tbody tr').length >= 3")
    assert [u for u in w.urls if "/api/sessions" in u] == []
    assert w.console == [] and w.statuses == []


def test_an_auditor_key_is_told_what_it_cannot_see(visit: Any) -> None:
    v = visit("auditor")
    page = v.page
    page.wait_for_function("() => document.querySelector('#notice').textContent"
                           ".includes('auditor')")
    assert "viewer key" in page.text_content("#notice")
    assert v.console == [] and v.statuses == []


_LABELS_ON_BARS = """() => {
    const c = document.querySelector('#latency');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const px = (x, y) => d.subarray((y * c.width + x) * 4, (y * c.width + x) * 4 + 4);
    let left = c.width;  // where the bars start: their leftmost blue pixel
    for (let y = 16; y < c.height; y++)
        for (let x = 0; x < c.width; x++) {
            const [r, g, b, a] = px(x, y);
            if (a > 0 && b > r + 40) { left = Math.min(left, x); break; }
        }
    let grey = 0;  // text (#333, anti-aliased: grey) right of that
    for (let y = 16; y < c.height; y++)
        for (let x = left; x < c.width; x++) {
            const [r, g, b, a] = px(x, y);
            if (a > 0 && Math.abs(r - b) < 12 && Math.abs(r - g) < 12) grey++;
        }
    return {left, grey}; }"""


def test_the_skills_table_fits_its_card_at_1400_px(visit: Any) -> None:
    v = visit("viewer", width=1400)
    page = v.page
    page.wait_for_function("() => document.querySelectorAll('#skills tbody tr').length >= 4")
    page.wait_for_function("() => document.querySelectorAll('#perf tbody tr').length >= 3")
    fits = page.evaluate("""() => {
        const t = document.querySelector('#skills'), s = t.closest('section');
        const env = [...t.querySelectorAll('thead th')].find(h => h.textContent === 'environment');
        const box = s.getBoundingClientRect();
        return {table: t.scrollWidth, card: s.clientWidth,
                env: env.getBoundingClientRect().right, right: box.right,
                scrolls: s.scrollWidth > s.clientWidth}; }""")
    assert not fits["scrolls"] and fits["env"] <= fits["right"], fits
    rows = {r[0]: r for r in table(page, "#skills")}
    assert {"two-steps", *LONG} <= set(rows)  # the ids whole
    assert v.console == [] and v.statuses == []


def test_the_latency_chart_s_labels_stay_off_its_bars(visit: Any) -> None:
    """A label longer than its column is cut in the middle; it was drawn over the bars."""
    v = visit("viewer", width=1400)
    page = v.page
    page.wait_for_function("() => document.querySelectorAll('#perf tbody tr').length >= 3")
    drawn = page.evaluate(_LABELS_ON_BARS)
    assert drawn["left"] < 560 and drawn["grey"] == 0, drawn
    assert v.console == [] and v.statuses == []
