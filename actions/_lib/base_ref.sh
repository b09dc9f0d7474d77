#!/usr/bin/env bash
# Print the git ref the plan's pending migrations are counted from (`pgwarden plan --base`), or nothing.
#
# Env: BASE_REF      the plan action's base-ref input: a ref, '' (none) or auto (the default):
#                    pull_request(_target) -> origin/$GITHUB_BASE_REF; push -> PUSH_BEFORE (the
#                    commit the branch pointed at before the push), unless it is all zeros (a new
#                    branch) or not in this clone (a force push dropped it): then nothing, so every
#                    migration counts as pending and deploy's own look at the database decides.
#      PUSH_BEFORE   github.event.before
# Tested by tests/github/test_run_sh.py.
set -euo pipefail

if [ "${BASE_REF-auto}" != "auto" ]; then
  printf '%s\n' "$BASE_REF"
  exit 0
fi
case "${GITHUB_EVENT_NAME:-}" in
  pull_request|pull_request_target)
    if [ -n "${GITHUB_BASE_REF:-}" ]; then printf 'origin/%s\n' "$GITHUB_BASE_REF"; fi
    ;;
  push)
    before="${PUSH_BEFORE:-}"
    if [ -z "$before" ] || [ -z "${before//0/}" ]; then
      exit 0
    fi
    if git cat-file -e "${before}^{commit}" 2>/dev/null; then
      printf '%s\n' "$before"
    else
      echo "::warning title=pgwarden plan::the push's previous commit ${before} is not in this checkout (force push, or fetch-depth is not 0): every migration is reviewed as pending" >&2
    fi
    ;;
esac
