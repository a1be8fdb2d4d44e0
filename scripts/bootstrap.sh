#!/usr/bin/env bash
# Create (or reuse) the project's virtual environments; prints nothing on reuse.
#   scripts/bootstrap.sh [core219|core221 ...]   (default: core219)
# A venv is rebuilt when the requirement files change.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

# The newest installed Python of the first of these versions that exists: pyenv's, or on PATH.
newest_python() {
  local v p
  for v in "$@"; do
    if command -v pyenv >/dev/null 2>&1; then
      p="$(pyenv root)/versions/$(pyenv versions --bare 2>/dev/null | grep -E "^${v//./\\.}(\.[0-9]+)?$" | sort -V | tail -n1)/bin/python"
      [ -x "$p" ] && { echo "$p"; return; }
    fi
    command -v "python$v" >/dev/null 2>&1 && { command -v "python$v"; return; }
  done
  return 0
}

python_for() {
  case "$1" in
    core219) command -v python3.11 || true ;;
    core221) newest_python 3.13 3.12 ;;
  esac
}

# What each venv installs from tests/: the oldest core's runs every step, the newest's the
# unit and integration tests. Less to install is less of the suite's bootstrap, which is
# CPU-bound on two cores.
test_requirements() {
  case "$1" in
    core219) echo tests/requirements.txt ;;
    core221) echo tests/requirements-integration.txt ;;
  esac
}

core_spec() {
  case "$1" in
    core219) echo 'ansible-core>=2.19,<2.20' ;;
    core221) echo 'ansible-core>=2.21,<2.22' ;;
  esac
}

for name in "${@:-core219}"; do
  venv="$root/.venv/$name"
  py=$(python_for "$name")
  if [ -z "$py" ]; then
    echo "bootstrap: no Python interpreter for $name on this machine" >&2
    exit 3
  fi
  stamp=$( { cat requirements.txt tests/requirements*.txt; test_requirements "$name"; core_spec "$name"; echo "$py"; } | sha256sum | cut -c1-16)
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ]; then
    continue
  fi
  echo "bootstrap: creating $venv with $py ($(core_spec "$name"))" >&2
  rm -rf "$venv"
  mkdir -p "$root/.venv"
  log="$root/.venv/$name.log"
  if ! { "$py" -m venv "$venv" &&
         "$venv/bin/python" -m pip install --upgrade pip &&
         "$venv/bin/python" -m pip install "$(core_spec "$name")" -r requirements.txt -r "$(test_requirements "$name")"
       } >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "bootstrap: installing $name failed; full log in $log" >&2
    exit 1
  fi
  echo "$stamp" > "$venv/.stamp"
done
