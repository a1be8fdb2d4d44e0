#!/usr/bin/env bash
# The main job: `make demo`. Sets up the venv, then runs demo/demo.yml twice
# over eight hosts: once with a cold token cache, once warm. Then the
# service_token role (demo/role.yml) writes the token into an env file and a
# JSON file on two local hosts, and rotates it: a new token everywhere, the
# previous one revoked. It prints what was written, with fingerprints in
# place of the tokens.
# Without TELENOR_CLIENT_ID and TELENOR_CLIENT_SECRET in the environment it
# starts the project's Telenor API emulator on 127.0.0.1 (HTTPS, own CA) and
# stops it afterwards; with them, it uses the real API at TELENOR_API_URL
# (default https://api.telenor.no). With TELENOR_CLIENT_ID alone, the secret is read from
# the file TELENOR_CLIENT_SECRET_FILE, or asked for.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1
"$root/scripts/bootstrap.sh" core219
venv="$root/.venv/core219"
export PATH="$venv/bin:$PATH"

work=$(mktemp -d "${TMPDIR:-/tmp}/telenor-demo.XXXXXX")
emulator_state="$work/emulator"
cleanup() {
  if [ -f "$emulator_state/pid" ]; then
    python tests/emulator/control.py stop --state-dir "$emulator_state" >/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# The demo uses the collection as users get it: built into a tarball and
# installed with ansible-galaxy, not this checkout.
# The path is set first, so that ansible-galaxy does not warn that the runs would not see it.
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
ansible-galaxy collection build --force --output-path "$work" "$root" >/dev/null
ansible-galaxy collection install --force -p "$work/collections" "$work"/telenor-oauth-*.tar.gz >/dev/null
echo "demo: installed $(basename "$work"/telenor-oauth-*.tar.gz) into $work/collections"
export ANSIBLE_PYTHON_INTERPRETER="$venv/bin/python"
export ANSIBLE_LOCALHOST_WARNING=false ANSIBLE_RETRY_FILES_ENABLED=false

# With real credentials, the secret comes from TELENOR_CLIENT_SECRET_FILE or a prompt, so that
# it never sits on a command line (or in the shell's history).
if [ -n "${TELENOR_CLIENT_ID:-}" ] && [ -z "${TELENOR_CLIENT_SECRET:-}" ]; then
  if [ -n "${TELENOR_CLIENT_SECRET_FILE:-}" ]; then
    [ -r "$TELENOR_CLIENT_SECRET_FILE" ] || { echo "demo: cannot read TELENOR_CLIENT_SECRET_FILE ($TELENOR_CLIENT_SECRET_FILE)" >&2; exit 2; }
    TELENOR_CLIENT_SECRET=$(cat "$TELENOR_CLIENT_SECRET_FILE")  # without its trailing newline
  elif [ -t 0 ]; then
    read -r -s -p "demo: client secret of ${TELENOR_CLIENT_ID} (not shown): " TELENOR_CLIENT_SECRET
    echo
  fi
  if [ -z "${TELENOR_CLIENT_SECRET:-}" ]; then
    echo "demo: TELENOR_CLIENT_ID is set but no secret: set TELENOR_CLIENT_SECRET_FILE, or run on a terminal to be asked" >&2
    exit 2
  fi
  export TELENOR_CLIENT_SECRET
fi
if [ -n "${TELENOR_CLIENT_ID:-}" ] && [ -n "${TELENOR_CLIENT_SECRET:-}" ]; then
  echo "demo: using the real Telenor API at ${TELENOR_API_URL:-https://api.telenor.no} as client ${TELENOR_CLIENT_ID}"
  emulated=false
else
  python tests/emulator/control.py start --state-dir "$emulator_state" --tls \
    --client "demo-client:demo-secret" >/dev/null
  export TELENOR_API_URL
  TELENOR_API_URL=$(cat "$emulator_state/url")
  export TELENOR_CLIENT_ID=demo-client TELENOR_CLIENT_SECRET=demo-secret
  export TELENOR_CA_PATH="$emulator_state/certs/ca.pem"
  export TELENOR_DEMO_URL="$TELENOR_API_URL/v1/protected"
  echo "demo: no TELENOR_CLIENT_ID/TELENOR_CLIENT_SECRET given; using the local emulator at $TELENOR_API_URL"
  emulated=true
fi
# A fresh cache, so the first run starts cold.
export TELENOR_TOKEN_CACHE_DIR="$work/token-cache"

stat() {
  python tests/emulator/control.py stats --state-dir "$emulator_state" |
    python -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"
}
token_requests() { stat token_requests; }

for run in "cold cache" "warm cache"; do
  echo
  echo "demo: playbook run with a $run"
  ansible-playbook -i demo/inventory.ini demo/demo.yml --forks 4
  if [ "$emulated" = true ]; then
    echo "demo: token requests made so far: $(token_requests) (8 hosts; one request for the first run, none for the second)"
  fi
done

# The role: two local hosts, each with an env file and a JSON file.
export TELENOR_DEMO_DIR="$work/hosts"
for host in app01 app02; do
  mkdir -p "$TELENOR_DEMO_DIR/$host"
  printf 'LOG_LEVEL=info\n' > "$TELENOR_DEMO_DIR/$host/app.env"
  printf '{"service": "%s", "telenor": {}}\n' "$host" > "$TELENOR_DEMO_DIR/$host/config.json"
done
before_role=0
if [ "$emulated" = true ]; then before_role=$(token_requests); fi
for run in "write the token" "rotate it"; do
  echo
  echo "demo: the service_token role on two hosts: $run"
  extra=()
  [ "$run" = "rotate it" ] && extra=(-e service_token_rotate=true)
  ansible-playbook -i demo/inventory.ini demo/role.yml "${extra[@]}"
  echo "demo: what the role wrote (tokens shown as fingerprints):"
  python demo/show_written.py "$TELENOR_DEMO_DIR"
  if [ "$emulated" = true ]; then
    echo "demo: token requests for the role so far: $(( $(token_requests) - before_role )); tokens revoked: $(stat revoked)"
    if [ "$run" = "write the token" ]; then
      echo "demo: (the role reused the token the lookup cached above: one token for the playbooks and the role)"
    fi
  fi
done
if [ "$emulated" = true ]; then
  echo "demo: the rotation made one token request and revoked the previous token once every host had the new one"
fi
