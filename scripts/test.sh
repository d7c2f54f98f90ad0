#!/usr/bin/env bash
# The test suite: lint, type check, then pytest against the real SQLite, processes and
# kernel mechanisms of this machine (and PostgreSQL/Redis where a test needs them).
source "$(dirname "$0")/_env.sh"
# The HTML report is checked in a real headless Chromium (the system's, driven by Playwright).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the browser tests" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
fi
ruff check src tests bench examples
mypy
pytest -q "$@"
