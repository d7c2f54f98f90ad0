# ruff: noqa: F811  (the fixtures imported from test_dashboard_browser are parameters here)
"""The dashboard fits its window: at 375 px the page was 534 px wide (a card's 520 px
minimum) and the tables' last columns were cut inside their cards; at 1400 px the errors'
example column was cut at its half-width card's edge. And the run's progress bar is empty
before any run (it was drawn full)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from skillexec import skill
from tests.test_dashboard_browser import Site, Visit, site, visit  # noqa: F401

LONG = ("the upstream service refused the request because the payload's third section "
        "named a field it does not know: " + "averyveryverylongidentifierwithoutanybreaks" * 3)


@skill("long-failure", max_retries=0, description="Fails with a long message")
def long_failure() -> None:
    raise ValueError(LONG)


# Every visible cell of every table whose right edge is past its card's (a cut column), and
# the page's width.
_OVERFLOW = """() => {
    const out = [];
    for (const sec of document.querySelectorAll('section')) {
        if (sec.hidden) continue;
        const right = sec.getBoundingClientRect().right + 1;
        for (const td of sec.querySelectorAll('td, th')) {
            const r = td.getBoundingClientRect();
            if (r.width > 0 && r.right > right)
                out.push(sec.querySelector('h2').textContent + ': ' + td.textContent.slice(0, 40));
        }
    }
    return {cut: out, width: document.documentElement.scrollWidth};
}"""


def _with_history(site: Site) -> None:
    async def add() -> None:
        site.server.engine.register(long_failure)

    site.server.call(add())
    with site.server.client(site.keys["runner"]) as c:
        assert c.post("/api/skills/long-failure/execute", json={}).json()["data"]["status"] \
            == "failed"


def _settled(page: Any) -> None:
    page.wait_for_function("""() => [...document.querySelectorAll('#errors tbody tr')].some(r =>
        r.textContent.includes('averyvery'))""")
    page.wait_for_function("() => document.querySelectorAll('#skills tbody tr').length >= 7")
    page.wait_for_function("() => document.querySelectorAll('#tasks tbody tr').length >= 3")


def test_a_narrow_window_shows_every_column_within_the_page(
        site: Site, visit: Callable[[str], Visit]) -> None:
    _with_history(site)
    v = visit("viewer")
    page = v.page
    page.set_viewport_size({"width": 375, "height": 800})
    _settled(page)
    got = page.evaluate(_OVERFLOW)
    assert got["width"] <= 375, got
    assert got["cut"] == [], got["cut"][:10]
    # Each value says its column.
    assert page.eval_on_selector("#tasks tbody td:nth-child(3)", "td => td.dataset.label") \
        == "status"
    assert v.errors == []


def test_a_wide_window_shows_the_errors_example_whole(
        site: Site, visit: Callable[[str], Visit]) -> None:
    _with_history(site)
    v = visit("viewer")
    page = v.page
    page.set_viewport_size({"width": 1400, "height": 900})
    _settled(page)
    got = page.evaluate(_OVERFLOW)
    assert got["width"] <= 1400 and got["cut"] == [], got


def test_the_run_bar_is_empty_before_any_run(site: Site) -> None:
    ctx = site.browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(site.server.base_url + "/")
        page.wait_for_function("() => document.querySelector('#notice').textContent !== ''")
        width = page.eval_on_selector("#runbar > span", "s => s.getBoundingClientRect().width")
        assert width == 0
    finally:
        ctx.close()
