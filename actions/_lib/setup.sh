#!/usr/bin/env bash
# Shared first step of every pgwarden action: mask the database URL, then make `pgwarden` available.
#
# Inputs come from the environment only (the action maps `${{ inputs.* }}` into env:, never into
# the script text):
#   PGWARDEN_DATABASE_URL  the database URL input (may be empty); masked before anything else
#   PGWARDEN_ROOT          the pgwarden checkout this action belongs to (github.action_path/../..)
#   PGWARDEN_PYTHON        interpreter used to build the venv (default: python3)
set -euo pipefail

if [ -n "${PGWARDEN_DATABASE_URL:-}" ]; then
  echo "::add-mask::${PGWARDEN_DATABASE_URL}"
  # The password alone (and its decoded form) can show up in tool output: mask it too.
  password="$(PGWARDEN_URL="$PGWARDEN_DATABASE_URL" "${PGWARDEN_PYTHON:-python3}" - <<'PY'
import os
from urllib.parse import unquote, urlsplit
url = os.environ["PGWARDEN_URL"]
try:
    pw = urlsplit(url).password if "://" in url else None
except ValueError:
    pw = None
if pw is None:
    for part in url.split():
        if part.startswith("password="):
            pw = part[len("password="):].strip("'")
if pw:
    print(pw)
    if unquote(pw) != pw:
        print(unquote(pw))
PY
)"
  while IFS= read -r secret; do
    if [ -n "$secret" ]; then echo "::add-mask::${secret}"; fi
  done <<<"$password"
fi

root="$(cd "${PGWARDEN_ROOT:?PGWARDEN_ROOT is not set}" && pwd)"
want="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/src/pgwarden/__init__.py")"
python="${PGWARDEN_PYTHON:-python3}"

# 1. Inside the pgwarden image (or on a runner prepared with this exact version): use it as is.
if have="$("$python" -c 'import pgwarden; print(pgwarden.__version__)' 2>/dev/null)" && [ "$have" = "$want" ] \
   && command -v pgwarden >/dev/null 2>&1; then
  echo "pgwarden $have is already installed ($(command -v pgwarden)); using it"
  exit 0
fi

# 2. Otherwise a venv keyed by version + source hash, so the code always matches the pinned ref
#    and the actions of one job (backup, deploy, verify) share one install.
hash="$(cd "$root" && find pyproject.toml src -type f -name '*.py' -o -name pyproject.toml | LC_ALL=C sort \
        | xargs sha256sum | sha256sum | cut -c1-16)"
cache="${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-/tmp}}/pgwarden/${want}-${hash}"
if [ ! -x "$cache/bin/pgwarden" ]; then
  echo "::group::Installing pgwarden ${want} into ${cache}"
  rm -rf "$cache"
  "$python" -m venv "$cache"
  "$cache/bin/python" -m pip install --disable-pip-version-check --quiet "$root"
  echo "::endgroup::"
else
  echo "pgwarden ${want} found in the tool cache (${cache})"
fi
echo "$cache/bin" >> "$GITHUB_PATH"
