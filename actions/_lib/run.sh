#!/usr/bin/env bash
# Run one pgwarden command for an action: JSON result into the results folder, then let
# `pgwarden report step` set the action outputs, the step summary and annotations.
#
# Usage: run.sh COMMAND [ARGS...]     (arguments are built by the action from env:, never from ${{ }})
# Env:   PGWARDEN_DATABASE_URL      the URL, exported under PGWARDEN_DATABASE_URL_ENV (default DATABASE_URL)
#        PGWARDEN_RESULTS_DIR       where COMMAND.json goes (default .pgwarden/run)
set -euo pipefail

step="$1"
results="${PGWARDEN_RESULTS_DIR:-.pgwarden/run}"
mkdir -p "$results"
if [ -n "${PGWARDEN_DATABASE_URL:-}" ]; then
  export "${PGWARDEN_DATABASE_URL_ENV:-DATABASE_URL}=${PGWARDEN_DATABASE_URL}"
fi
unset PGWARDEN_DATABASE_URL

started="$(date +%s)"
set +e
# stderr reaches tee through a pipeline, not a process substitution (`2> >(tee ...)`): bash does
# not wait for a process substitution, and when the step's shell exits under act or a runner the
# lagging tee can be killed, so `pgwarden report` below read an empty log and a step that died
# without its JSON was summarised without its reason.
pgwarden "$@" --format json 2>&1 >"$results/$step.json" | tee "$results/$step.log" >&2
code="${PIPESTATUS[0]}"
set -e
echo "pgwarden $step exited with $code after $(( $(date +%s) - started ))s"

pgwarden report step "$step" --results "$results" --exit-code "$code" || \
  echo "::warning::pgwarden report could not summarise the $step step"
exit "$code"
