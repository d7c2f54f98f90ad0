"""The system's headless Chromium, driven by Playwright (no browser download): what the
browser tests share."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def chromium() -> str:
    """The Chromium to launch: Debian's, or the first on PATH."""
    return CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium") or CHROMIUM


def playwright_or_skip() -> Any:
    """``sync_playwright``; the test skips (fails under SKILLEXEC_REQUIRE_SERVICES=1) when
    Playwright or Chromium is missing."""
    required = os.environ.get("SKILLEXEC_REQUIRE_SERVICES") == "1"
    reason = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        reason = "Playwright is not installed (pip install playwright)"
    if reason is None and not (Path(CHROMIUM).exists() or shutil.which("chromium")):
        reason = f"Chromium is not installed ({CHROMIUM}: apt-get install -y chromium)"
    if reason is not None:
        if required:
            pytest.fail(f"SKILLEXEC_REQUIRE_SERVICES=1 but {reason}")
        pytest.skip(reason)
    return sync_playwright


def table(page: Any, selector: str) -> list[list[str]]:
    """A table's body as the page shows it: each row's cells' text, trimmed."""
    rows: list[list[str]] = page.eval_on_selector_all(
        selector + " tbody tr",
        "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent.trim()))")
    return rows
