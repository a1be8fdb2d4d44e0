#!/usr/bin/env bash
# Build the collection's HTML docs site with antsibull-docs: the reference of every plugin,
# module and role, generated from their own documentation, plus the user guide in
# docs/docsite/. Works from a fresh clone:
#   scripts/build-docs.sh
# The site goes to docs/build/html/ (git-ignored); the Sphinx project it is built from stays
# in docs/build/sphinx/ for inspection. Both are rebuilt on every run.
#
# By default nothing is fetched from the network but the docs' Python packages: references
# into docs.ansible.com (ansible.builtin plugins, core settings) stay plain text, and every
# other broken reference still fails the build. DOCS_ONLINE=1 links them through
# docs.ansible.com's Sphinx inventory, when it can be reached.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/bootstrap.sh core219
venv="$root/.venv/core219"
export PATH="$venv/bin:$PATH"

# antsibull-docs finds the collection through ansible-doc: give it this checkout, and only it.
work=$(mktemp -d "${TMPDIR:-/tmp}/telenor-oauth-docs.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ansible_collections/telenor"
ln -s "$root" "$work/ansible_collections/telenor/oauth"
export ANSIBLE_COLLECTIONS_PATH="$work"
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
export ANSIBLE_LOCAL_TEMP="$work/tmp"

out="$root/docs/build"
site="$out/sphinx"
rm -rf "$site" "$out/html"
mkdir -p "$out"
mkdir -m 0700 "$site"  # sphinx-init wants a directory only its owner can write to

echo "build-docs: generating the Sphinx project in $site" >&2
antsibull-docs --config-file docs/site/antsibull-docs.cfg sphinx-init \
  --use-current \
  --dest-dir "$site" \
  --index-rst-source docs/site/index.rst \
  --project telenor.oauth \
  --copyright 'telenor.oauth contributors' \
  --title 'telenor.oauth documentation' \
  telenor.oauth >/dev/null

# Install what the generated requirements.txt lists (Sphinx, the Ansible theme) when the venv
# lacks it; bootstrap.sh does not, as only this script needs it.
missing=$("$venv/bin/python" - "$site/requirements.txt" <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement

for line in open(sys.argv[1], encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    requirement = Requirement(line)
    try:
        installed = version(requirement.name)
    except PackageNotFoundError:
        print(line)
        continue
    if not requirement.specifier.contains(installed, prereleases=True):
        print(line)
EOF
)
if [ -n "$missing" ]; then
  echo "build-docs: installing into $venv: $(echo "$missing" | paste -sd ' ' -)" >&2
  if ! "$venv/bin/python" -m pip install -r "$site/requirements.txt" >"$work/pip.log" 2>&1; then
    tail -n 40 "$work/pip.log" >&2
    echo "build-docs: installing the docs requirements failed" >&2
    exit 1
  fi
fi

inventory=https://docs.ansible.com/projects/ansible/devel/objects.inv
if [ "${DOCS_ONLINE:-0}" = 1 ] &&
   "$venv/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10).read(1)' \
     "$inventory" >/dev/null 2>&1; then
  echo "build-docs: linking to docs.ansible.com through its Sphinx inventory" >&2
  cat >>"$site/conf.py" <<'EOF'

# Added by scripts/build-docs.sh: the generated pages link only into the Ansible docs; fetch no
# other inventory, so that another site being down cannot fail the build.
intersphinx_mapping = {
    'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', None),
}
EOF
else
  echo "build-docs: building offline (DOCS_ONLINE=1 links into docs.ansible.com); references there stay plain text" >&2
  cat >>"$site/conf.py" <<'EOF'

# Added by scripts/build-docs.sh for an offline build: no inventories to fetch, and references
# to anything but this collection's own pages (ansible.builtin plugins, core settings and
# environment variables, all on docs.ansible.com) are not reported. Broken references to this
# collection's pages and every other warning still fail the build.
intersphinx_mapping = {}
nitpick_ignore_regex = [
    ('std:ref', r'(?!ansible_collections\.telenor\.oauth\.).*'),
    ('std:envvar', r'(?!TELENOR_).*'),
]
EOF
fi

echo "build-docs: building the site (antsibull-docs, then sphinx-build)" >&2
if ! "$site/build.sh" >"$site/build.log" 2>&1; then
  grep -E 'WARNING|ERROR|Error|error' "$site/build.log" | tail -n 40 >&2 || tail -n 40 "$site/build.log" >&2
  echo "build-docs: the build failed; full log in $site/build.log" >&2
  exit 1
fi

mv "$site/build/html" "$out/html"
guide="$out/html/collections/telenor/oauth/docsite"
for source in docs/docsite/rst/*.rst; do
  page=$(basename "$source" .rst)
  if [ ! -f "$guide/$page.html" ]; then
    echo "build-docs: the site has no $guide/$page.html" >&2
    exit 1
  fi
done

echo "build-docs: the site is in $out/html/"
echo "  start page: $out/html/index.html"
echo "  user guide: $guide/guide.html"
