#!/usr/bin/env bash
# `sdv signal` end to end against the stand-in broker (broker_standin.c) on a Unix socket: a
# provider claims and publishes, get reads, subscribe prints events, set is executed or refused
# by the provider, and every refusal exits 1 with the broker's reason; usage errors exit 2.
# Usage: test_signal_cli.sh SDV_BINARY BROKER_STANDIN_BINARY
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
sdv=$1
standin=$2
work=$(mktemp -d)
pids=()
trap sdv_cleanup_work EXIT
cd "$work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# expect_fail STATUS PATTERN CMD...: CMD must exit STATUS and print PATTERN on stderr.
expect_fail() {
    local want=$1 pattern=$2 rc=0
    shift 2
    "$@" 2>err.txt >/dev/null || rc=$?
    [ "$rc" = "$want" ] || fail "exit $rc, expected $want: $* ($(cat err.txt))"
    grep -q -- "$pattern" err.txt || fail "no \"$pattern\" in: $(cat err.txt)"
}
# wait_for FILE PATTERN: waits up to 10 s for PATTERN to appear in FILE.
wait_for() {
    local _
    for _ in $(seq 200); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "no \"$2\" in $1: $(cat "$1" 2>/dev/null)"
}

"$standin" "$work/broker.sock" &
pids+=($!)
for _ in $(seq 200); do [ -S broker.sock ] && break; sleep 0.05; done
[ -S broker.sock ] || fail "stand-in broker did not start"
echo good >token
echo bad >badtoken
export SDV_BROKER_SOCKET="$work/broker.sock"
temp=Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature

# Nothing published yet: get prints null; a bad token and a missing socket are refused.
"$sdv" signal get --token token Vehicle.Speed >out.txt
grep -qx "Vehicle.Speed null -" out.txt || fail "get before publish: $(cat out.txt)"
expect_fail 1 "invalid token" "$sdv" signal get --token badtoken Vehicle.Speed
expect_fail 1 "connect to $work/nope.sock" "$sdv" signal get --socket "$work/nope.sock" \
    --token token Vehicle.Speed
expect_fail 1 "Vehicle.Nope: no such signal" "$sdv" signal get --token token Vehicle.Nope
expect_fail 1 "is empty" "$sdv" signal get --token /dev/null Vehicle.Speed

# A provider claims speed and the HVAC temperature and publishes initial values.
"$sdv" signal provide --token token Vehicle.Speed=50.5 "$temp=20" >prov.out 2>&1 &
pids+=($!)
wait_for prov.out "providing 2 signals"
"$sdv" signal get --token token Vehicle.Speed "$temp" >out.txt
grep -q "^Vehicle.Speed 50.5 " out.txt || fail "get speed: $(cat out.txt)"
grep -q "^$temp 20 " out.txt || fail "get temperature: $(cat out.txt)"
expect_fail 1 "owned by another provider" "$sdv" signal provide --token token "$temp"

# A subscriber sees the actuator's new state after a set the provider executed.
"$sdv" signal subscribe --token token --count 1 "$temp" >sub.out 2>&1 &
subpid=$!
pids+=("$subpid")
sleep 0.3
"$sdv" signal set --token token "$temp" 22 >out.txt || fail "set 22: $(cat out.txt)"
grep -q "accepted" out.txt || fail "set output: $(cat out.txt)"
wait_for prov.out "actuated $temp 22"
wait "$subpid" || fail "subscribe exited with an error: $(cat sub.out)"
grep -q "^$temp 22 " sub.out || fail "event: $(cat sub.out)"

# Bad values and bad targets are refused with the reason.
expect_fail 1 "not a valid int8" "$sdv" signal set --token token "$temp" warm
expect_fail 1 "not a valid int8" "$sdv" signal set --token token "$temp" 300
expect_fail 1 "not an actuator" "$sdv" signal set --token token Vehicle.Speed 1
expect_fail 1 "more:1: OP:DIFF with OP" "$sdv" signal subscribe --token token --change more:1 "$temp"

# The provider leaves: actuation is unavailable. A refusing provider takes over.
kill "${pids[1]}"
wait "${pids[1]}" 2>/dev/null || true
expect_fail 1 "no provider" "$sdv" signal set --token token "$temp" 21
"$sdv" signal provide --token token --reject "$temp" >rej.out 2>&1 &
pids+=($!)
wait_for rej.out "providing 1 signals"
expect_fail 1 "refused by sdv signal provide --reject" "$sdv" signal set --token token "$temp" 21
wait_for rej.out "refused $temp 21"

# Usage errors.
expect_fail 2 "unknown option --bogus" "$sdv" signal get --bogus Vehicle.Speed
expect_fail 2 "unknown command" "$sdv" signal frobnicate
expect_fail 1 "needs PATH VALUE" "$sdv" signal set --token token "$temp"
echo "ok: sdv signal"
