#!/usr/bin/env bash
# The test suite: lint, type check, then pytest against the real SQLite, processes and
# kernel mechanisms of this machine (and PostgreSQL/Redis where a test needs them).
source "$(dirname "$0")/_env.sh"
ruff check src tests bench examples
mypy
pytest -q "$@"
