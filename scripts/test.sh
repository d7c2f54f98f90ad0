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
# The pytest passes run on several workers (pytest-xdist): most tests wait on processes,
# services and timers rather than the CPU. SKILLEXEC_TEST_WORKERS=0 runs them in one process.
workers="${SKILLEXEC_TEST_WORKERS:-4}"
logs="$(mktemp -d)"
user_home=""
trap 'rm -rf "$logs" ${user_home:+"$user_home"}' EXIT
status=0

ruff check src tests bench examples
# mypy meanwhile: a minute of one core on a fresh clone, while the tests mostly wait.
mypy > "$logs/mypy.log" 2>&1 &
mypy_pid=$!

# The files of the sandbox, runners and hostile corpus, as nobody. ./.venv's interpreter
# lives under /root (0700), so nobody gets ./.venv-user: the system's python, readable by
# everyone, skillexec installed editable from this tree.
user_tests=(tests/test_sandbox.py tests/test_hostile.py tests/test_process_runner.py tests/test_scripts.py
  tests/test_sessions.py tests/test_scripts_hostile.py tests/test_cli_scripts.py
  tests/test_binary_params.py tests/test_script_environments.py tests/test_spare.py
  tests/test_hostile_install.py tests/test_hostile_schemas.py tests/test_hostile_folders.py
  tests/test_plugins.py tests/test_script_python_version.py tests/test_script_env.py
  tests/test_work_root.py tests/test_journal_private.py tests/test_open_files.py
  tests/test_script_preload.py tests/test_foreign_dependencies.py tests/test_operator_grants.py
  tests/test_script_memory.py tests/test_script_env_commands.py tests/test_install_cache.py
  tests/test_script_tmp.py tests/test_script_offline_hint.py tests/test_run_folder_same_id.py
  tests/test_script_user_name.py tests/test_script_home_caches.py
  tests/test_script_network_hint_cause.py tests/test_script_shm_tmp_hint.py
  tests/test_script_offline_names.py tests/test_script_timeout_network_hint.py
  tests/test_script_offline_npm.py
  tests/test_session_quota_deep.py tests/test_session_one_call_at_a_time.py
  tests/test_cli_script_host_paths.py tests/test_cli_script_out.py
  tests/test_cli_script_left_out_note.py tests/test_cli_script_exit_code.py
  tests/test_cli_script_stdin_note.py tests/test_script_skill_root_imports.py
  tests/test_sandbox_denied_read_grant.py)
as_nobody=0
if [ "$(id -u)" = 0 ] && [ "${SKILLEXEC_SKIP_USER_TESTS:-0}" != 1 ] && id nobody >/dev/null 2>&1; then
  as_nobody=1
fi
user_venv="$root/.venv-user"
prepare_user_venv() {
  local user_py="${USER_PYTHON:-/usr/bin/python3.11}"
  if [ ! -x "$user_py" ]; then
    echo "no $user_py for the tests as nobody (set USER_PYTHON to a python readable by all)" >&2
    return 1
  fi
  if [ ! -x "$user_venv/bin/python" ]; then
    "$user_py" -m venv "$user_venv"
  fi
  # Only what these test files need (not the whole test extra: browsers, linters).
  local user_deps=(pytest pytest-timeout pytest-xdist psutil hypothesis "matplotlib>=3.8"
    "pypdf>=4")
  local user_want="$want ${user_deps[*]}"
  if [ ! -f "$user_venv/.skillexec-installed" ] \
      || [ "$(cat "$user_venv/.skillexec-installed")" != "$user_want" ]; then
    "$user_venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root" \
      "${user_deps[@]}"
    echo "$user_want" > "$user_venv/.skillexec-installed"
  fi
  chmod -R a+rX "$user_venv"
}
if [ "$as_nobody" = 1 ]; then
  # Made (the first time) while the tests as root run.
  prepare_user_venv > "$logs/user-venv.log" 2>&1 &
  user_venv_pid=$!
fi

pytest -q -n "$workers" --dist load "$@" || status=$?

if wait "$mypy_pid"; then
  cat "$logs/mypy.log"
else
  cat "$logs/mypy.log"
  status=1
fi

if [ "$as_nobody" = 1 ]; then
  if ! wait "$user_venv_pid"; then
    cat "$logs/user-venv.log" >&2
    exit 1
  fi
  user_home="$(mktemp -d)"
  chown nobody "$user_home"
  echo "the sandbox tests again, as nobody" >&2
  setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups --reset-env \
    env HOME="$user_home" TMPDIR="$user_home" PYTHONDONTWRITEBYTECODE=1 \
    SKILLEXEC_REQUIRE_SANDBOX="${SKILLEXEC_REQUIRE_SANDBOX:-0}" \
    "$user_venv/bin/python" -m pytest -q -p no:cacheprovider -n "$workers" --dist load \
    "${user_tests[@]}" || status=$?
fi
exit "$status"
