#!/usr/bin/env bash
# Run a Prefect deployment with parameters, wait for the run to end, exit non-zero unless
# it completed.
#
#   deployments/ci/run-deployment.sh backfill/backfill \
#       symbol=ETH-USDT start=2024-08-01T00:00:00Z end=2024-08-01T23:00:00Z
#
# Each KEY=VALUE becomes `--param KEY=VALUE` (the value is read as JSON when it parses,
# as a string otherwise). Environment:
#   PREFECT_API_URL         required: the Prefect API (a local or ephemeral one would be empty)
#   PREFECT_API_KEY         Prefect Cloud, or a server with authentication
#   RUN_TIMEOUT_SECONDS     how long to wait for the end of the run (default 3600)
#   PREFECT                 the prefect command (default: prefect)
#
# Exit status: 0 the run completed; 1 it ended Failed, Crashed or Cancelled, or could not
# be created (unknown deployment, invalid parameters); 2 usage; 3 it had not ended after
# RUN_TIMEOUT_SECONDS: it is cancelled, so it does not run later unwatched.
#
# What `prefect deployment run --watch` (prefect 3.8.8) does by itself: it exits 1 when the
# run ends in any state but Completed, and when --watch-timeout expires. What this adds:
# a timeout by default (without one, a run no worker picks up is watched forever), the
# cancellation of a run that timed out, and a check of PREFECT_API_URL.
set -euo pipefail

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

[[ $# -ge 1 && $1 == */* ]] || usage
if [[ -z ${PREFECT_API_URL:-} ]]; then
    echo "run-deployment: set PREFECT_API_URL (and PREFECT_API_KEY if the API needs one)" >&2
    exit 2
fi
deployment=$1
shift
params=()
for pair in "$@"; do
    [[ $pair == ?*=* ]] || { echo "run-deployment: expected KEY=VALUE, got '$pair'" >&2; exit 2; }
    params+=(--param "$pair")
done
prefect=${PREFECT:-prefect}
timeout=${RUN_TIMEOUT_SECONDS:-3600}
# Wide, plain output: the run's id is read from it.
export COLUMNS=200 NO_COLOR=1

output=$(mktemp)
trap 'rm -f "$output"' EXIT

set +e
"$prefect" deployment run "$deployment" "${params[@]}" --watch --watch-timeout "$timeout" \
    2>&1 | tee "$output"
status=${PIPESTATUS[0]}
set -e
[[ $status -eq 0 ]] && exit 0

run_id=$(grep -oE 'UUID: [0-9a-f-]{36}' "$output" | head -n 1 | cut -d ' ' -f 2 || true)
if [[ -z $run_id ]]; then
    echo "run-deployment: no flow run was created for $deployment" >&2
    exit 1
fi
state=$("$prefect" flow-run inspect "$run_id" --output json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["state"]["type"])' || echo UNKNOWN)
case $state in
    COMPLETED) exit 0 ;;
    FAILED | CRASHED | CANCELLED | CANCELLING)
        echo "run-deployment: flow run $run_id of $deployment ended $state" >&2
        exit 1 ;;
    *)
        echo "run-deployment: flow run $run_id of $deployment still $state after" \
            "${timeout}s: cancelling it" >&2
        "$prefect" flow-run cancel "$run_id" || true
        exit 3 ;;
esac
