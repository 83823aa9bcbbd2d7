#!/usr/bin/env bash
# `sdv signal subscribe` against the real daemon when its token expires mid-subscription: the
# broker ends the subscription (SUB_ENDED 401) and the command says so and exits 1 at once,
# rather than going quiet until someone notices.
# Usage: test_signal_expiry.sh BIN_DIR VSS_JSON
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
bin=$(cd "$1" && pwd)
vss=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-signal-expiry.XXXXXX")
pids=()
trap sdv_cleanup_work EXIT
PASSED=0
FAILED=0
cd "$work" || exit 1
"$bin/sdv" keygen --type ed25519 --out iss >/dev/null || exit 1
printf '{"catalog": "%s", "audience": "a", "keys": ["iss.pub.pem"], "socket": "broker.sock", "token_leeway_s": 0}\n' "$vss" >broker.json
"$bin/sdv-broker" --config broker.json >ready.txt 2>broker.log &
pids+=($!)
sdv_wait_file ready.txt 100 "${pids[-1]}" || { echo "daemon did not start: $(cat broker.log)"; exit 1; }
"$bin/sdv" token mint --key iss.pem --aud a --scope read:Vehicle.Speed --exp-in 2 >short.tok
start=$(date +%s)
rc=0
timeout 20 "$bin/sdv" signal subscribe --socket broker.sock --token short.tok Vehicle.Speed \
    >events.txt 2>err.txt || rc=$?
took=$(($(date +%s) - start))
if [ "$rc" = 1 ] && grep -q "the broker ended subscription [0-9]*: 401" err.txt; then
    sdv_pass "expired token: subscribe exits 1 after ${took}s: $(head -1 err.txt)"
else
    sdv_fail "expired token: exit $rc after ${took}s: $(cat err.txt)"
fi
echo "passed $PASSED, failed $FAILED"
[ "$FAILED" -eq 0 ]
