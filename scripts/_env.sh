# Sourced by the other scripts: make ./.venv (once) and install skillexec into it (again
# only when pyproject.toml changed), then put it first on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
py="${PYTHON:-python3}"
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "skillexec needs Python 3.11 or newer; set PYTHON=/path/to/python3.11" >&2
  exit 1
fi
if [ ! -x "$root/.venv/bin/python" ]; then
  "$py" -m venv "$root/.venv"
fi
stamp="$root/.venv/.skillexec-installed"
want="$(sha256sum "$root/pyproject.toml" | cut -c1-64)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  "$root/.venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  "$root/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$root[test]"
  echo "$want" > "$stamp"
fi
export PATH="$root/.venv/bin:$PATH"
cd "$root"
