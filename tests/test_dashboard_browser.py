"""The dashboard, clicked through in a real headless Chromium (the system's, driven by
Playwright) against a real server on a local port: it loads clean, shows skills, tasks,
charts and errors, runs a skill from the form generated from its schema while showing its
progress, opens the artifact it wrote, shows a validation error and a refusal as the
envelope says them, and asks nothing of any host but the server."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pytest
from pydantic import Field

from skillexec import skill
from tests._browser import CHROMIUM_ARGS, chromium, playwright_or_skip, table
from tests._http import Server, running
from tests.conftest import EXAMPLES

WAIT_MS = 15_000
_gate = threading.Event()  # opened by the test once the page has shown a run half done


@skill("dashdemo", max_retries=0, description="Repeats a text in four steps and writes it "
       "to an artifact")
async def dashdemo(text: str,
                   repeat: Annotated[int, Field(ge=1, le=10, description="how often")] = 2,
                   mood: Literal["plain", "loud"] = "plain", exclaim: bool = False,
                   context: Any = None) -> dict[str, Any]:
    context.progress(0.25, "step 1 of 4")
    await asyncio.sleep(0.05)
    context.progress(0.5, "step 2 of 4")
    # Held here until the test has seen the page show this state: the check of
    # intermediate progress does not depend on the machine's speed.
    deadline = time.monotonic() + 20
    while not _gate.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    context.progress(0.75, "step 3 of 4")
    word = (text.upper() if mood == "loud" else text) + ("!" if exclaim else "")
    words = " ".join([word] * repeat)
    context.save_artifact("words.txt", words + "\n", "text/plain")
    context.progress(1.0, "step 4 of 4")
    return {"words": words, "repeat": repeat}


# One failed call of a skill fires this rule (boom fails in the fixture), checked often.
MONITOR = {"alert_interval_s": 0.2, "alert_rules": [
    {"name": "any_error", "metric": "error_rate", "condition": ">", "threshold": 0.5,
     "min_calls": 1, "severity": "critical"}]}


@dataclass
class Site:
    server: Server
    browser: Any
    keys: dict[str, str]


@dataclass
class Visit:
    """One page and everything it did: console messages, page errors, failed requests,
    responses with an error status, and every URL it asked for (WebSockets included)."""

    page: Any
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    statuses: list[tuple[int, str]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return self.console + self.errors + self.failed


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    sync_playwright = playwright_or_skip()
    notes = tmp_path_factory.mktemp("notes") / "notes-only"  # instructions, no entry
    notes.mkdir()
    (notes / "SKILL.md").write_text("---\nname: notes-only\ndescription: How to write "
                                    "release notes; nothing to execute.\n---\n\nSteps.\n")
    upper = notes.parent / "upper-file"  # instructions and a Python script, no entry
    (upper / "scripts").mkdir(parents=True)
    (upper / "SKILL.md").write_text("---\nname: upper-file\ndescription: Upper-cases a "
                                    "file.\n---\n\nRun scripts/upper.py IN OUT.\n")
    (upper / "scripts" / "upper.py").write_text(
        "import pathlib, sys\n"
        "text = pathlib.Path(sys.argv[1]).read_text()\n"
        "pathlib.Path(sys.argv[2]).write_text(text.upper())\n"
        "print(f'wrote {sys.argv[2]}: {len(text)} characters')\n")
    with running(tmp_path_factory.mktemp("dash"), monitor=MONITOR) as srv:
        async def add() -> None:
            srv.engine.register(dashdemo)
            srv.engine.register(EXAMPLES / "word-freq")  # instructions and a script
            srv.engine.register(notes)
            srv.engine.register(upper)

        srv.call(add())
        keys = {"viewer": srv.key("viewer"), "runner": srv.key("runner")}
        with srv.client(keys["runner"]) as c:  # some history for the charts and errors
            for i in range(3):
                assert c.post("/api/skills/echo/execute",
                              json={"parameters": {"text": f"e{i}"}}).status_code == 200
            assert c.post("/api/skills/boom/execute", json={}).json()["data"]["status"] \
                == "failed"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
            try:
                yield Site(srv, browser, keys)
            finally:
                browser.close()


@pytest.fixture
def visit(site: Site) -> Iterator[Callable[[str], Visit]]:
    """Opens the dashboard in a fresh browser context and enters the role's key as a user
    does; any request for another host is aborted (and recorded)."""
    contexts: list[Any] = []
    here = urlsplit(site.server.base_url).netloc

    def open_as(role: str, *, before: Callable[[Any], None] | None = None) -> Visit:
        ctx = site.browser.new_context(accept_downloads=True)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(WAIT_MS)
        v = Visit(page)
        if before is not None:
            before(page)
        ctx.route("**/*", lambda route: route.continue_()
                  if urlsplit(route.request.url).netloc == here else route.abort())
        page.on("console", lambda m: v.console.append(f"{m.type}: {m.text}")
                if m.type in ("error", "warning") else None)
        page.on("pageerror", lambda e: v.errors.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: v.failed.append(
            f"failed: {r.url} {r.failure}"))
        page.on("request", lambda r: v.urls.append(r.url))
        page.on("websocket", lambda ws: v.urls.append(ws.url))
        page.on("response", lambda r: v.statuses.append((r.status, r.url))
                if r.status >= 400 else None)
        page.goto(site.server.base_url + "/")
        page.fill("#key", site.keys[role])
        page.click("#keyform button")
        page.wait_for_selector("#runskill option[value=dashdemo]", state="attached")
        return v

    yield open_as
    for ctx in contexts:
        ctx.close()


def _offline(v: Visit, site: Site) -> None:
    here = urlsplit(site.server.base_url).netloc
    assert v.urls, "the page made no requests at all"
    away = [u for u in v.urls if urlsplit(u).netloc != here
            or urlsplit(u).scheme not in ("http", "ws", "blob")]
    away = [u for u in away if not u.startswith("blob:" + site.server.base_url)]
    assert away == []


def _unexpected_console(v: Visit, *statuses: int) -> list[str]:
    """Console lines other than Chromium's own for a response of one of ``statuses``."""
    return [m for m in v.console if not any(f"status of {s}" in m for s in statuses)]


_BARS = """(sel) => { const c = document.querySelector(sel);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
        if (d[i] === 31 && d[i + 1] === 95 && d[i + 2] === 191) n++;
    return n; }"""


def test_dashboard_loads_clean_and_shows_everything(site: Site,
                                                   visit: Callable[[str], Visit]) -> None:
    v = visit("viewer")
    page = v.page
    page.wait_for_function("() => document.querySelectorAll('#skills tbody tr').length >= 7")
    page.wait_for_function("() => document.querySelectorAll('#errors tbody tr').length >= 1")
    page.wait_for_function("() => document.querySelectorAll('#tasks tbody tr').length >= 4")
    skills = {r[0]: r for r in table(page, "#skills")}
    # How many there are, all of them shown (a folder of thousands showed its first 500).
    assert page.text_content("#skillcount") == f"({len(skills)})"
    heads = page.eval_on_selector_all("#skills thead th", "hs => hs.map(h => h.textContent)")
    col = {h: i for i, h in enumerate(heads)}
    assert {"offers", "environment", "circuit"} <= set(col)
    assert skills["echo"][col["offers"]] == "entry"
    assert "1 script" in skills["word-freq"][col["offers"]]
    assert skills["echo"][col["environment"]] == "none needed"
    assert skills["echo"][col["circuit"]] == "closed"
    assert skills["echo"][col["calls (24h)"]] == "3"
    assert skills["boom"][col["success"]] == "0%"
    tasks = table(page, "#tasks")
    assert {(t[1], t[2]) for t in tasks} >= {("echo", "succeeded"), ("boom", "failed")}
    errors = {r[0]: r for r in table(page, "#errors")}
    assert "it broke on purpose" in errors["boom"][3]
    perf = {r[0]: r for r in table(page, "#perf")}
    assert perf["echo"][1] == "3" and perf["echo"][2] != ""  # calls, p50 ms
    # Both charts are drawn: bars in the charts' blue, not only their captions.
    for chart in ("#chart", "#latency"):
        assert page.evaluate(_BARS, chart) > 100, chart
    # A skill's instructions and scripts, as the form's skill is picked.
    page.select_option("#runskill", "word-freq")
    page.wait_for_function("() => document.querySelector('#skillinfo').textContent"
                           ".includes('scripts/word_freq.js')")
    assert "Counts words in" in page.text_content("#skillinfo")
    assert page.is_visible("#fields [name=top]")
    assert v.problems() == []
    assert v.statuses == []
    _offline(v, site)


def test_run_from_the_form_watch_progress_and_open_the_artifact(
        site: Site, visit: Callable[[str], Visit]) -> None:
    _gate.clear()
    v = visit("runner")
    page = v.page
    page.select_option("#runskill", "dashdemo")
    page.wait_for_selector("#fields [name=mood]")
    page.fill("#fields [name=text]", "hey")
    page.fill("#fields [name=repeat]", "3")
    page.select_option("#fields [name=mood]", label="loud")
    page.check("#fields [name=exclaim]")
    page.click("#runform button[type=submit]")
    # Half done, and the page says so before the end.
    page.wait_for_function("() => document.querySelector('#runmsg').textContent.includes('step 2')")
    assert page.text_content("#runstatus") in ("queued", "running")
    width = page.evaluate("document.querySelector('#runbar > span').style.width")
    assert width == "50%"
    # The live tasks table shows it running, with its progress, at its next refresh.
    page.wait_for_function("""() => [...document.querySelectorAll('#tasks tbody tr')].some(r =>
        r.cells[1].textContent === 'dashdemo' && r.cells[2].textContent === 'running'
        && r.cells[3].textContent.includes('step 2')
        && r.cells[3].querySelector('.bar > span').style.width === '50%')""")
    assert page.text_content("#runstatus") == "running"
    _gate.set()
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'succeeded'")
    out = page.text_content("#runresult")
    assert "HEY! HEY! HEY!" in out
    assert page.evaluate("document.querySelector('#runbar > span').style.width") == "100%"
    link = page.locator("#runartifacts a", has_text="words.txt")
    assert link.get_attribute("href").startswith("/api/artifacts/")
    with page.expect_download() as dl:
        link.click()
    path = dl.value.path()
    assert Path(path).read_bytes() == b"HEY! HEY! HEY!\n"
    assert dl.value.suggested_filename == "words.txt"
    # A runner may not read reports: the page says so in those panels, asks for none (its
    # role asked once, at /api/whoami), and everything else works.
    assert "viewer" in page.text_content("#perf")
    assert [u for u in v.urls if "/api/reports/" in u] == []
    assert v.statuses == [] and v.problems() == []
    _offline(v, site)


def test_a_wrong_value_shows_the_envelopes_error_naming_the_field(
        site: Site, visit: Callable[[str], Visit]) -> None:
    v = visit("runner")
    page = v.page
    page.select_option("#runskill", "dashdemo")
    page.wait_for_selector("#fields [name=repeat]")
    page.fill("#fields [name=text]", "x")
    page.fill("#fields [name=repeat]", "50")
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runerror').textContent !== ''")
    message = page.text_content("#runerror")
    assert "repeat" in message and "<= 10" in message
    assert page.get_attribute("#fields [name=repeat]", "aria-invalid") == "true"
    assert page.get_attribute("#fields [name=text]", "aria-invalid") is None
    assert page.text_content("#runstatus") == "invalid"
    assert (422, site.server.base_url + "/api/skills/dashdemo/execute") in v.statuses
    assert {s for s, _ in v.statuses} == {422}  # no report a runner may not read is asked
    assert _unexpected_console(v, 422) == [] and v.errors == [] and v.failed == []
    _offline(v, site)


def test_the_form_is_the_picked_skills_whichever_answer_comes_last(
        site: Site, visit: Callable[..., Visit]) -> None:
    """The first skill's form is asked for as the list fills; the user picks another before
    it came back. Its late answer must not draw the first skill's fields over the picked
    one's (seen in CI: the field the user was about to fill was gone)."""
    held: list[Any] = []

    def hold_the_first(page: Any) -> None:
        def on(route: Any) -> None:
            if not held:
                held.append(route)
            else:
                route.fallback()
        page.route(re.compile(r".*/api/skills/[^/?]+$"), on)

    v = visit("runner", before=hold_the_first)
    page = v.page
    first = page.eval_on_selector("#runskill", "s => s.options[0].value")
    assert held and held[0].request.url.endswith("/" + first)
    picked = "dashdemo" if first != "dashdemo" else "echo"
    field_name = "repeat" if picked == "dashdemo" else "text"
    page.select_option("#runskill", picked)
    page.wait_for_selector(f"#fields [name={field_name}]")
    names = "fs => fs.map(f => f.name)"
    drawn = page.eval_on_selector_all("#fields [name]", names)
    with page.expect_response(held[0].request.url):
        held[0].fallback()
    page.wait_for_timeout(300)  # the late answer's JSON read and handled
    assert page.eval_on_selector_all("#fields [name]", names) == drawn
    assert page.eval_on_selector("#runskill", "s => s.value") == picked
    assert v.errors == [] and v.failed == []


def test_the_form_offers_only_skills_with_something_to_run(
        site: Site, visit: Callable[[str], Visit]) -> None:
    """notes-only has instructions and no entry: listed, but not offered to execute;
    upper-file has a script and no entry: offered, to run its script."""
    v = visit("runner")
    page = v.page
    page.wait_for_function("() => document.querySelectorAll('#skills tbody tr').length > 0")
    listed = {row[0]: row for row in table(page, "#skills")}
    offered = set(page.eval_on_selector_all("#runskill option", "os => os.map(o => o.value)"))
    assert listed["notes-only"][2] == "instructions only" and "notes-only" not in offered
    assert {"dashdemo", "echo", "word-freq", "upper-file"} <= offered


def test_run_a_bundled_script_with_arguments_and_a_file(
        site: Site, visit: Callable[[str], Visit]) -> None:
    """A skill's script, as a model's shell tool runs it: arguments one a line, a file put
    in its workspace; its output shown, the file it wrote an artifact. A script that fails
    shows its exit status and what it printed. In a session made from the page, a second
    run reads what the first wrote, and the page lists the session's files."""
    v = visit("runner")
    page = v.page
    page.select_option("#runskill", "upper-file")
    page.wait_for_selector("#runwhat option[value='scripts/upper.py']", state="attached")
    assert page.is_visible("#runwhat") and page.is_visible("#runargs")
    page.fill("#runargs", "in.txt\nout.txt")
    page.set_input_files("#runfiles", files=[{"name": "in.txt", "mimeType": "text/plain",
                                              "buffer": b"hello"}])
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'succeeded'")
    assert page.text_content("#runresult") == \
        "exit code 0\n— stdout —\nwrote out.txt: 5 characters\n"  # as a terminal shows it
    link = page.locator("#runartifacts a", has_text="out.txt")
    with page.expect_download() as dl:
        link.click()
    assert Path(dl.value.path()).read_bytes() == b"HELLO"
    assert [a for a in page.eval_on_selector_all("#runartifacts a", "as => as.map(a => "
                                                 "a.textContent)")] == ["out.txt"]
    # No arguments: the script's IndexError, as it printed it, and its exit status.
    page.fill("#runargs", "")
    page.set_input_files("#runfiles", files=[])
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'failed'")
    assert "exited with status 1" in page.text_content("#runerror")
    shown = page.text_content("#runresult")
    assert shown.startswith("exit code 1\n— stderr —\nTraceback") and "IndexError" in shown
    # In a session, step after step: the second run reads what the first one wrote.
    page.select_option("#runsession", "new")
    page.fill("#runargs", "in.txt\nout.txt")
    page.set_input_files("#runfiles", files=[{"name": "in.txt", "mimeType": "text/plain",
                                              "buffer": b"step one"}])
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'succeeded'")
    session = page.eval_on_selector("#runsession", "s => s.value")
    assert session.startswith("s_")  # made, and picked for the runs that follow
    page.fill("#runargs", "out.txt\nout2.txt")
    page.set_input_files("#runfiles", files=[])
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'succeeded'")
    assert "wrote out2.txt: 8 characters" in page.text_content("#runresult")
    page.wait_for_function("() => document.querySelector('#sessionfiles').textContent"
                           ".includes('out2.txt')")
    assert page.text_content("#sessionfiles") == \
        f"session {session} holds: in.txt, out.txt, out2.txt"
    # Picking a skill with an entry point shows its form again, with no script to choose.
    page.select_option("#runskill", "dashdemo")
    page.wait_for_selector("#fields [name=mood]")
    assert not page.is_visible("#runwhat")
    assert v.problems() == [] and v.statuses == []
    _offline(v, site)


def test_a_key_without_the_role_sees_the_refusal(site: Site,
                                                 visit: Callable[[str], Visit]) -> None:
    v = visit("viewer")
    page = v.page
    page.select_option("#runskill", "echo")
    page.wait_for_selector("#fields [name=text]")
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runerror').textContent !== ''")
    assert "may not" in page.text_content("#runerror")
    assert "viewer" in page.text_content("#runerror")
    assert page.text_content("#runstatus") == "refused"
    assert v.statuses == [(403, site.server.base_url + "/api/skills/echo/execute")]
    assert _unexpected_console(v, 403) == [] and v.errors == [] and v.failed == []
    _offline(v, site)


def test_the_alerts_panel_shows_the_fired_alert(site: Site,
                                                visit: Callable[[str], Visit]) -> None:
    v = visit("viewer")
    page = v.page
    page.wait_for_function("""() => [...document.querySelectorAll('#alerts tbody tr')].some(r =>
        r.cells.length === 6 && r.cells[0].textContent === 'firing now'
        && r.cells[3].textContent === 'boom')""")
    rows = table(page, "#alerts")
    now = next(r for r in rows if r[0] == "firing now" and r[3] == "boom")
    assert now[1:3] == ["critical", "any_error"] and "error_rate of boom" in now[5]
    assert ["fired", "critical", "any_error", "boom"] in [r[:4] for r in rows]
    assert "1 firing · 1 rule, checked every 0.2 s" in page.text_content("#alertinfo")
    assert page.eval_on_selector("#alerts tbody td.firing", "td => getComputedStyle(td).color") \
        == "rgb(192, 57, 43)"
    assert v.problems() == [] and v.statuses == []
    _offline(v, site)


def test_a_skill_s_text_shows_its_control_characters_escaped(
        site: Site, visit: Callable[[str], Visit]) -> None:
    """A right-to-left override in an output reordered what the page showed ('a\u202eb'
    drew 'a' then 'b' reversed onward: an output or a name could spoof another); the page
    shows it escaped, as the command line does."""
    _gate.set()
    v = visit("runner")
    page = v.page
    page.select_option("#runskill", "dashdemo")
    page.wait_for_selector("#fields [name=mood]")
    page.fill("#fields [name=text]", "exe.\u202etxt\u0085")
    page.fill("#fields [name=repeat]", "1")
    page.click("#runform button[type=submit]")
    page.wait_for_function("() => document.querySelector('#runstatus').textContent === 'succeeded'")
    out = page.text_content("#runresult")
    assert "\u202e" not in out and "\u0085" not in out, out
    assert "exe.\\u202etxt" in out, out
    page.wait_for_function("""() => [...document.querySelectorAll('#runartifacts a')].length > 0""")
    assert v.console == [] and v.errors == [] and v.statuses == []
