#!/usr/bin/env bash
# sdv-broker's low-latency members (docs/broker-daemon.md, "Latency"): bad values are refused
# naming the member; with cpu_latency_us the daemon holds a PM QoS request that the kernel shows
# in /dev/cpu_dma_latency while it runs and drops when it stops (SIGTERM and SIGKILL alike); with
# busy_poll_us it still serves a provider and a subscriber.
# Usage: test_broker_lowlat.sh BIN_DIR VSS_JSON
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
bin=$(cd "$1" && pwd)
vss=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-broker-lowlat.XXXXXX")
pids=()
trap sdv_cleanup_work EXIT
PASSED=0
FAILED=0
cd "$work" || exit 1
"$bin/sdv" keygen --type ed25519 --out iss >/dev/null || exit 1
base='"catalog": "'$vss'", "audience": "a", "keys": ["iss.pub.pem"], "socket": "broker.sock"'

# expect_refused NAME PATTERN JSON: --check must fail and print PATTERN.
expect_refused() {
    printf '%s\n' "$3" >bad.json
    if out=$("$bin/sdv-broker" --config bad.json --check 2>&1); then
        sdv_fail "$1: accepted"
    elif grep -q -- "$2" <<<"$out"; then
        sdv_pass "$1: $out"
    else
        sdv_fail "$1: message does not say \"$2\": $out"
    fi
}
expect_refused "negative cpu_latency_us" "bad.json: cpu_latency_us: must be an integer 0..1000000" "{$base, \"cpu_latency_us\": -1}"
expect_refused "cpu_latency_us as text" "cpu_latency_us: must be an integer" "{$base, \"cpu_latency_us\": \"0\"}"
expect_refused "busy_poll_us too long" "bad.json: busy_poll_us: must be an integer 0..1000" "{$base, \"busy_poll_us\": 5000}"

# The kernel's current CPU latency bound: the smallest request held, as a 32-bit integer.
qos() { od -An -t d4 -N4 /dev/cpu_dma_latency | tr -d ' '; }

start_broker() { # CONFIG_JSON: starts the daemon, waits until it is ready
    printf '%s\n' "$1" >broker.json
    rm -f ready.txt
    "$bin/sdv-broker" --config broker.json >ready.txt 2>broker.log &
    pids+=($!)
    sdv_wait_file ready.txt 100 "${pids[-1]}" && grep -q "ready" ready.txt
}

if [ -r /dev/cpu_dma_latency ] && [ -w /dev/cpu_dma_latency ]; then
    before=$(qos)
    want=7
    for how in TERM KILL; do
        if ! start_broker "{$base, \"cpu_latency_us\": $want}"; then
            sdv_fail "daemon with cpu_latency_us did not start: $(cat broker.log)"
            continue
        fi
        now=$(qos)
        if [ "$before" -le "$want" ]; then
            sdv_pass "cpu_latency_us: another holder already asks for $before us (not checkable)"
        elif [ "$now" = "$want" ]; then
            sdv_pass "cpu_latency_us $want held while running ($before before)"
        else
            sdv_fail "cpu_latency_us: /dev/cpu_dma_latency says $now while the daemon runs, not $want"
        fi
        kill -"$how" "${pids[-1]}"
        wait "${pids[-1]}" 2>/dev/null
        after=$(qos)
        if [ "$after" = "$before" ]; then
            sdv_pass "request dropped after SIG$how ($after)"
        else
            sdv_fail "after SIG$how /dev/cpu_dma_latency says $after, was $before"
        fi
    done
else
    # Without access the option must refuse to start, never run silently without it.
    if start_broker "{$base, \"cpu_latency_us\": 0}"; then
        sdv_fail "cpu_latency_us accepted without access to /dev/cpu_dma_latency"
    elif grep -q "cpu_latency_us: cannot open /dev/cpu_dma_latency" broker.log; then
        sdv_pass "no access: refused ($(cat broker.log))"
    else
        sdv_fail "no access: message: $(cat broker.log)"
    fi
fi

# busy_poll_us: a provider publishes, a subscriber receives, an actuation round-trips.
if start_broker "{$base, \"busy_poll_us\": 1000}"; then
    "$bin/sdv" token mint --key iss.pem --aud a --scope provide:Vehicle >prov.tok
    "$bin/sdv" token mint --key iss.pem --aud a --scope actuate:Vehicle >app.tok
    export SDV_BROKER_SOCKET=$work/broker.sock
    "$bin/sdv" signal subscribe --token app.tok --count 3 Vehicle.Speed \
        Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature >events.txt 2>sub.log &
    pids+=($!)
    sub=${pids[-1]}
    sleep 0.3
    "$bin/sdv" signal provide --token prov.tok --count 1 \
        Vehicle.Speed=42 Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature=20 >prov.log 2>&1 &
    pids+=($!)
    prov=${pids[-1]}
    sleep 0.3
    if "$bin/sdv" signal set --token app.tok Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature 22 >set.log 2>&1; then
        sdv_pass "busy_poll_us: actuation accepted by the provider"
    else
        sdv_fail "busy_poll_us: set: $(cat set.log)"
    fi
    for _ in $(seq 1 40); do [ "$(wc -l <events.txt)" -ge 3 ] && break; sleep 0.05; done
    if grep -q "Vehicle.Speed 42" events.txt && grep -q "Temperature 22" events.txt; then
        sdv_pass "busy_poll_us: subscriber got the published and the actuated value"
    else
        sdv_fail "busy_poll_us: events: $(cat events.txt) $(cat sub.log)"
    fi
else
    sdv_fail "daemon with busy_poll_us did not start: $(cat broker.log)"
fi
echo "passed $PASSED, failed $FAILED"
[ "$FAILED" -eq 0 ]
