#!/usr/bin/env bash
# Shared first step of every pgwarden action: mask the database URL, then make `pgwarden` available.
#
# Inputs come from the environment only (the action maps `${{ inputs.* }}` into env:, never into
# the script text):
#   PGWARDEN_DATABASE_URL  the database URL input (may be empty); masked before anything else
#   PGWARDEN_ROOT          the pgwarden checkout this action belongs to (github.action_path/../..)
#   PGWARDEN_PYTHON        interpreter used to build the venv (default: python3)
#   RUNNER_TOOL_CACHE      where the venv goes (else RUNNER_TEMP, else /tmp); GITHUB_PATH gets its bin
# `setup.sh --cache-key` prints the venv's cache key (version-sourcehash) and does nothing else.
# Tested outside act by tests/github/test_setup_install.py.
set -euo pipefail

if [ -n "${PGWARDEN_DATABASE_URL:-}" ]; then
  echo "::add-mask::${PGWARDEN_DATABASE_URL}"
  # The password alone (as written and as libpq reads it) can show up in tool output: mask it too.
  password="$(PGWARDEN_URL="$PGWARDEN_DATABASE_URL" "${PGWARDEN_PYTHON:-python3}" \
    "$(dirname "${BASH_SOURCE[0]}")/mask_values.py")"
  while IFS= read -r secret; do
    if [ -n "$secret" ]; then echo "::add-mask::${secret}"; fi
  done <<<"$password"
fi

root="$(cd "${PGWARDEN_ROOT:?PGWARDEN_ROOT is not set}" && pwd)"
want="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/src/pgwarden/__init__.py")"
python="${PGWARDEN_PYTHON:-python3}"

# The cache key: version + a hash of what `pip install` installs (pyproject.toml and every file
# under src/, package data included), leaving out what a build or a run writes there
# (*.egg-info, __pycache__), so a pinned ref always gets its own code and a rebuild of the same
# ref reuses the venv.
source_hash() {
  (cd "$root" && find pyproject.toml src \( -name '*.egg-info' -o -name __pycache__ \) -prune \
     -o -type f ! -name '*.pyc' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}
if [ "${1:-}" = "--cache-key" ]; then
  echo "${want}-$(source_hash)"
  exit 0
fi

# 1. Inside the pgwarden image, on a runner prepared with this exact version, or in a later action
#    of a job whose first action put the cached venv on PATH: use the `pgwarden` on PATH as is.
#    (What run.sh calls is `pgwarden`, so that is what is checked, not some python's import.)
if have="$(pgwarden --version 2>/dev/null)" && [ "$have" = "pgwarden $want" ]; then
  echo "pgwarden $want is already installed ($(command -v pgwarden)); using it"
  exit 0
fi

# 2. Otherwise a venv in the tool cache keyed by version + source hash, shared by the actions of a
#    job (backup, deploy, verify) and by later jobs on the same runner.
cache="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/pgwarden/${want}-$(source_hash)"
usable() {  # installed to the end (marker written after pip succeeded) and still runs
  [ -f "$cache/.pgwarden-complete" ] && "$cache/bin/pgwarden" --version >/dev/null 2>&1
}
if usable; then
  echo "pgwarden ${want} found in the tool cache (${cache}); not installing"
else
  mkdir -p "$(dirname "$cache")"
  # Two jobs on one runner may get here at once: one installs, the other waits and reuses it.
  # (A venv cannot be built elsewhere and renamed in: its scripts hard-code their own path.)
  if command -v flock >/dev/null 2>&1; then
    exec 9>"${cache}.lock"
    flock 9
  fi
  if usable; then
    echo "pgwarden ${want} found in the tool cache (${cache}); not installing"
  else
    echo "::group::Installing pgwarden ${want} into ${cache}"
    rm -rf "$cache"  # a half-built or broken leftover (killed job, runner python upgraded)
    "$python" -m venv "$cache"
    "$cache/bin/python" -m pip install --disable-pip-version-check --quiet "$root"
    "$cache/bin/pgwarden" --version >/dev/null
    touch "$cache/.pgwarden-complete"
    echo "::endgroup::"
  fi
fi
echo "$cache/bin" >> "${GITHUB_PATH:?GITHUB_PATH is not set}"
