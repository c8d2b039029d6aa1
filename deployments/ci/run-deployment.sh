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
# be created (unknown deployment, invalid parameters: one line saying why); 2 usage; 3 it
# had not ended after RUN_TIMEOUT_SECONDS: it is cancelled, so it does not run later
# unwatched.
#
# The run is created with `prefect deployment run` (without --watch, so a refusal is one
# line), then followed with `prefect flow-run watch` (prefect 3.8.8), whose timeout this
# script sets by default: without one, a run no worker picks up is watched forever.
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

if ! "$prefect" deployment run "$deployment" "${params[@]}" >"$output" 2>&1; then
    # Prefect's reason (unknown deployment, a parameter the deployment's schema refuses),
    # as one line.
    reason=$(grep -v '^Creating flow run' "$output" | grep -v '^[[:space:]]*$' | tail -n 1)
    echo "run-deployment: $deployment: ${reason:-prefect deployment run failed}" >&2
    exit 1
fi
run_id=$(grep -oE 'UUID: [0-9a-f-]{36}' "$output" | head -n 1 | cut -d ' ' -f 2 || true)
if [[ -z $run_id ]]; then
    echo "run-deployment: $deployment: no flow run was created" >&2
    exit 1
fi
url=$(grep -oE 'URL: [^ ]+' "$output" | head -n 1 | cut -d ' ' -f 2 || true)
echo "run-deployment: flow run $run_id of $deployment created${url:+: $url}"

set +e
"$prefect" flow-run watch "$run_id" --timeout "$timeout" 2>"$output"  # its timeout is ours, below
set -e

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
        "$prefect" flow-run cancel "$run_id" >/dev/null 2>&1 || true
        exit 3 ;;
esac
