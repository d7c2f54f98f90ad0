#!/usr/bin/env bash
# The test suite: lint, type check, then pytest against the real SQLite, processes and
# kernel mechanisms of this machine (and PostgreSQL/Redis where a test needs them).
# As root, the sandbox tests then run a second time as an unprivileged user (nobody):
# without root the sandbox stands on user namespaces, and that must hold too.
source "$(dirname "$0")/_env.sh"
# The HTML report is checked in a real headless Chromium (the system's, driven by Playwright).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing chromium for the browser tests" >&2
  apt-get update -qq >/dev/null && apt-get install -y -qq chromium >/dev/null
fi
ruff check src tests bench examples
mypy
pytest -q "$@"

# The files of the sandbox, runners and hostile corpus, as nobody. ./.venv's interpreter
# lives under /root (0700), so nobody gets ./.venv-user: the system's python, readable by
# everyone, skillexec installed editable from this tree.
user_tests=(tests/test_sandbox.py tests/test_hostile.py tests/test_process_runner.py tests/test_scripts.py
  tests/test_sessions.py tests/test_scripts_hostile.py tests/test_cli_scripts.py)
if [ "$(id -u)" = 0 ] && [ "${SKILLEXEC_SKIP_USER_TESTS:-0}" != 1 ] && id nobody >/dev/null 2>&1; then
  user_py="${USER_PYTHON:-/usr/bin/python3.11}"
  if [ ! -x "$user_py" ]; then
    echo "no $user_py for the tests as nobody (set USER_PYTHON to a python readable by all)" >&2
    exit 1
  fi
  user_venv="$root/.venv-user"
  if [ ! -x "$user_venv/bin/python" ]; then
    "$user_py" -m venv "$user_venv"
  fi
  # Only what these test files need (not the whole test extra: browsers, linters).
  user_deps=(pytest pytest-timeout psutil hypothesis "matplotlib>=3.8" "pypdf>=4")
  user_want="$want ${user_deps[*]}"
  if [ ! -f "$user_venv/.skillexec-installed" ] \
      || [ "$(cat "$user_venv/.skillexec-installed")" != "$user_want" ]; then
    "$user_venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root" \
      "${user_deps[@]}"
    echo "$user_want" > "$user_venv/.skillexec-installed"
  fi
  chmod -R a+rX "$user_venv"
  user_home="$(mktemp -d)"
  chown nobody "$user_home"
  trap 'rm -rf "$user_home"' EXIT
  echo "the sandbox tests again, as nobody" >&2
  setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --reset-env \
    env HOME="$user_home" TMPDIR="$user_home" PYTHONDONTWRITEBYTECODE=1 \
    SKILLEXEC_REQUIRE_SANDBOX="${SKILLEXEC_REQUIRE_SANDBOX:-0}" \
    "$user_venv/bin/python" -m pytest -q -p no:cacheprovider "${user_tests[@]}"
fi
