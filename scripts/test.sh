#!/usr/bin/env bash
# The whole test suite, from a fresh machine: `make test` runs this, and so does CI.
# Installs what it needs (venvs from PyPI, Debian packages), starts what it
# needs (the emulator, sshd on 127.0.0.1), and stops it again.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 1

# Debian packages the suite needs: shellcheck (ansible-test sanity), openssh-server
# and sudo (the SSH test host with become), python3-yaml (its Python), redis-server
# (the Redis token cache tests start their own on 127.0.0.1; the service is not used).
missing_debian_packages() {
  local pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || echo "$pkg"
  done
}
mapfile -t missing < <(missing_debian_packages shellcheck openssh-server sudo python3-yaml redis-server)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "test: not root; install these Debian packages first: sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
# apt and the venvs install side by side: on a fresh machine, such as CI's, the packages
# would otherwise add their whole install time to the suite's.
packages=
if [ ${#missing[@]} -gt 0 ]; then
  echo "test: installing Debian packages: ${missing[*]}"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >/dev/null &
  packages=$!
fi

# The venvs build in parallel too.
"$root/scripts/bootstrap.sh" core219 & boot219=$!
"$root/scripts/bootstrap.sh" core221 & boot221=$!
# On a failure, let the other installs end before exiting: one left running into .venv
# would race the next run's bootstrap, which removes and rebuilds an unfinished venv.
give_up() {
  echo "test: $1 failed" >&2
  wait
  exit 1
}
if [ -n "$packages" ]; then
  wait "$packages" || give_up "installing the Debian packages"
fi
wait "$boot219" || give_up "bootstrapping .venv/core219"
venv="$root/.venv/core219"
export PATH="$venv/bin:$PATH"
export PYTHONDONTWRITEBYTECODE=1

# The newest ansible-core needs Python 3.12+; covered when this machine has one.
wait "$boot221"
case $? in
  0) matrix=(core219 core221) ;;
  3) matrix=(core219)
     echo "test: no Python 3.12+ interpreter here; ansible-core 2.21 is NOT covered by this run" ;;
  *) give_up "bootstrapping .venv/core221" ;;
esac

# Steps run in lanes side by side: each lane writes its steps'
# output to a log of its own, printed when all lanes end, and one result line
# per step to $results.
logs="$root/build/test-logs"
results="$logs/results"
rm -rf "$logs"
mkdir -p "$logs"
: >"$results"
: >"$logs/started"
: >"$logs/ended"
step() {
  local log=$1 name=$2 start=$SECONDS times cpu
  shift 2
  echo "$name" >>"$logs/started"
  printf '\n=== %s\n' "$name" >>"$log"
  # The CPU seconds (user and system) of the step and of everything it waited for: on two
  # cores the suite is CPU-bound, so this, not the wall time, says where its time goes.
  local TIMEFORMAT='%U %S' status=FAILED:
  times=$( { time "$@" >>"$log" 2>&1; } 2>&1 ) && status="ok:    "
  cpu=$(awk '{ printf "%.0f", $1 + $2 }' <<<"$times")
  echo "$status $name ($((SECONDS - start)) s, $cpu CPU-s)" >>"$results"
  echo "$name" >>"$logs/ended"
}
show_logs() {
  local log
  for log in "$@"; do cat "$log"; done
}

# ansible-test needs the collection at .../ansible_collections/telenor/oauth:
# copy the files git knows (committed or not, minus ignored ones) there.
collection_copy() {
  local dest="$root/build/ansible_collections/telenor/oauth"
  rm -rf "$root/build/ansible_collections"
  mkdir -p "$dest"
  git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' |
    xargs -0 -I{} sh -c 'test -e "{}" && cp --parents -P "{}" "'"$dest"'"/'
  echo "$dest"
}

# ansible-test fetches a get-pip.py from a host outside the package registries;
# give it our offline stand-in, for the pip version it pins.
offline_get_pip() {
  local version
  version=$(python - <<'PY'
import re, ansible_test, pathlib
src = pathlib.Path(ansible_test.__file__).parent.joinpath("_internal/python_requirements.py").read_text()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
  mkdir -p ~/.ansible/test/cache
  cp "$root/scripts/ansible_test_get_pip.py" ~/.ansible/test/cache/"get_pip_${version//./_}.py"
}

sanity() {
  local dest
  offline_get_pip
  dest=$(collection_copy)
  (cd "$dest" && git init -q && git add -A &&
    ansible-test sanity --color no --python 3.11 --requirements)
}

# ansible-lint resolves telenor.oauth.* through a collections path holding this checkout.
lint_collections() {
  local collections="$root/build/lint-collections"
  mkdir -p "$collections/ansible_collections/telenor"
  ln -sfn "$root" "$collections/ansible_collections/telenor/oauth"
  echo "$collections"
}

lint() {
  ANSIBLE_COLLECTIONS_PATH="$lint_path" ansible-lint --profile production --offline --nocolor
}

# antsibull-docs copies the collection into a temporary collections tree of its own and
# runs ansible-doc there; it is given no ANSIBLE_COLLECTIONS_PATH. One that also holds this
# checkout made ansible-doc report the plugins' files from here, so that the rendered pages'
# "edit on GitHub" links ran through that temporary directory, whose random name, ending in
# "_" about one time in 37, then read as an RST reference and failed the lint. The temporary
# directory is put under one whose name ends in "_", so that such a link always fails.
docs_lint() {
  local tmp status=0
  tmp=$(mktemp -d --suffix=_ "${TMPDIR:-/tmp}/telenor-oauth-docs-lint.XXXXXX")
  (cd "$root" && TMPDIR="$tmp" env -u ANSIBLE_COLLECTIONS_PATH antsibull-docs lint-collection-docs \
    --plugin-docs --check-extra-docs-refs --validate-collection-refs all .) || status=$?
  rm -rf "$tmp"
  return "$status"
}

describe() {
  "$root/.venv/$1/bin/python" -c 'import sys, ansible; print(f"ansible-core {ansible.__version__}, Python {sys.version.split()[0]}")'
}

unit() {
  "$root/.venv/$1/bin/python" -m pytest tests/unit -q -p no:cacheprovider
}
# The soak test spends most of its minutes waiting for the next scheduled run, as cron
# would: it gets a lane of its own beside the busy ones instead of holding one up.
soak_target=tests/integration/targets/role_service_token_schedule
# Each core's integration suite, the longest part of the suite, runs as two halves side by
# side, so that the suite does not wait for one long lane after the others have ended. The
# first half is these targets (about half of the CPU time on either core); the second is
# every other one, so that a new target is never left out.
first_half_targets=(role_service_token secret_leak_scan password_grant packaging)
integration() {  # integration VENV first-half|second-half
  local target selection=()
  if [ "$2" = first-half ]; then
    for target in "${first_half_targets[@]}"; do selection+=("tests/integration/targets/$target"); done
  else
    selection=(tests/integration)
    for target in "${first_half_targets[@]}"; do selection+=(--ignore="tests/integration/targets/$target"); done
  fi
  "$root/.venv/$1/bin/python" -m pytest "${selection[@]}" -q -p no:cacheprovider --ignore="$soak_target" \
    --basetemp="$root/build/pytest-$1-$2" --durations=20
}
# -rP: the soak prints its figures (runs, probes, renewals) for docs/hardening.md.
soak() {
  "$root/.venv/$1/bin/python" -m pytest "$soak_target" -q -p no:cacheprovider --basetemp="$root/build/pytest-soak-$1" -rP
}

# Eight lanes on two cores. The integration suites are the long part: each core's in two
# halves. The scheduled role's tests mostly sleep while they wait for the next scheduled
# run, so each core's have a lane of their own (the soak itself runs on the oldest core);
# the unit tests and linters, and sanity and the docs lint, run in two more lanes from the
# start, so that the cores are busy while the soak sleeps and nothing waits for it to end.
# The six busy lanes share one cpu cgroup, which weighs as much as one session: the
# soak's guarantee holds for runs that take less than a tenth of the token's lifetime,
# and beside fifty forks of a scale test a scheduled run took 20 to 32 s where 15 were
# to spare (it failed CI once). ansible-core's workers call setsid(), and the kernel's
# autogroups share the CPU equally between sessions, so fifty forks outweighed a run
# fifty to three; nice does not count across sessions. The weight is the default one,
# not the smallest: with that (2), both soaks' warm-ups starved the busy lanes for 8 s
# and an emulator there did not start within its timeout. Where no cgroup can be made
# (not root, or no cgroup v1 cpu controller) the busy lanes only take nice 19, which
# counts where autogroups do not apply.
busy_cgroup=/sys/fs/cgroup/cpu/telenor-oauth-busy-$$
if mkdir "$busy_cgroup" 2>/dev/null && echo 1024 >"$busy_cgroup/cpu.shares"; then
  trap 'remove_busy_cgroup' EXIT
else
  rmdir "$busy_cgroup" 2>/dev/null
  busy_cgroup=""
  echo "test: no cpu cgroup to make; the busy lanes run at nice 19 only"
fi
remove_busy_cgroup() {
  local pid
  # Anything left running in it (nothing should be) goes back to the root group.
  while read -r pid; do echo "$pid" >/sys/fs/cgroup/cpu/cgroup.procs; done <"$busy_cgroup/cgroup.procs"
  rmdir "$busy_cgroup"
}
join_busy_lanes() {
  renice -n 19 -p "$BASHPID" >/dev/null
  if [ -n "$busy_cgroup" ]; then echo "$BASHPID" >"$busy_cgroup/cgroup.procs"; fi
}
# Made once, before the lanes: two lanes re-linking it at once could each find it missing.
lint_path=$(lint_collections)
echo "test: integration and soak tests (${matrix[*]}), unit tests, sanity and linters, in eight lanes;"
echo "test: the output follows when they end"
for env in "${matrix[@]}"; do
  for part in first-half second-half; do
    {
      join_busy_lanes
      step "$logs/integration-$env-$part.log" \
        "integration tests ($part), ansible-playbook against the emulator ($(describe "$env"))" integration "$env" "$part"
    } &
  done
  step "$logs/soak-$env.log" "the role on a schedule with short-lived tokens, and its soak ($(describe "$env"))" \
    soak "$env" &
done
{
  join_busy_lanes
  for env in "${matrix[@]}"; do
    step "$logs/lane-unit.log" "unit tests ($(describe "$env"))" unit "$env"
  done
  step "$logs/lane-unit.log" "ansible-lint (production profile)" lint
  step "$logs/lane-unit.log" "antsibull-changelog lint" antsibull-changelog lint
} &
{
  join_busy_lanes
  # ansible-test sanity rewrites build/ansible_collections: one sanity run at a time.
  step "$logs/lane-sanity.log" "ansible-test sanity" sanity
  # After sanity, not beside it: sanity rewrites build/ansible_collections, and a docs
  # lint reading the checkout at the same time once failed on labels it rendered itself.
  step "$logs/lane-sanity.log" "antsibull-docs lint-collection-docs" docs_lint
} &
wait
show_logs "$logs"/integration-*.log "$logs"/soak-*.log "$logs/lane-unit.log" "$logs/lane-sanity.log"

# A lane that died mid-step wrote no result for it: that is a failure too.
comm -23 <(sort "$logs/started") <(sort "$logs/ended") | while read -r name; do
  echo "FAILED: $name (it never ended: its lane stopped)" >>"$results"
done

echo
echo "=== summary (ansible-core versions covered: ${matrix[*]})"
cat "$results"
echo "total: $SECONDS s"
! grep -q '^FAILED' "$results"
