#!/usr/bin/env bash
# OpenSDV vehicle API demo (issue 6), everything on 127.0.0.1 and a Unix socket in a temporary
# directory: sdv-broker serves the COVESA VSS 6.0 catalog; a simulated vehicle provider publishes
# speed and battery and executes cabin-climate actuation; a climate app may actuate the cabin
# HVAC, a speedometer app may only read the speed, and its actuation request is refused; a VISS
# client reads over HTTP; the audit log's chain is checked; a third-party app runs sandboxed
# (sdv app run) with only its broker connection. Finishes in seconds; exits non-zero
# as soon as something does not behave.
# Usage: scripts/demo_broker.sh [BUILD_DIR] (default build/release)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-test.sh"
# shellcheck source-path=SCRIPTDIR source=lib-demo.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-demo.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=${1:-build/release}
bin=$(sdv_bin_dir "$build/bin" sdv sdv-broker sdv-vehicle-sim) || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-broker-demo.XXXXXX")
pids=()
trap sdv_cleanup_work EXIT
trap 'exit 130' INT TERM
demo_logs=(broker.log provider.log)
demo_refused="refused (as expected)"
cd "$work"

step "An issuer key signs access tokens; sdv-broker trusts its public half"
"$bin/sdv" keygen --type ed25519 --out issuer >/dev/null
cat >broker.json <<EOF
{
  "catalog": "$root/data/vss/vss_release_6.0.json",
  "audience": "vehicle-api", "vin": "WVWZZZ1JZXW000001",
  "keys": ["issuer.pub.pem"],
  "listen": {"address": "127.0.0.1", "port": 0},
  "socket": "broker.sock",
  "audit_log": "audit.log",
  "persistence": {"file": "values.json"},
  "rate_limit": {"per_second": 50, "burst": 20}
}
EOF
mint() { "$bin/sdv" token mint --key issuer.pem --aud vehicle-api --sub "$1" --scope "$2" >"$1.tok"; }
mint vehicle "provide:Vehicle.Speed provide:Vehicle.Powertrain.TractionBattery provide:Vehicle.Cabin.HVAC.Station.Row1"
mint climate-app "read:Vehicle.Speed actuate:Vehicle.Cabin.HVAC"
mint speedometer-app "read:Vehicle.Speed"
ok "tokens: vehicle (provide), climate-app (read speed, actuate cabin HVAC), speedometer-app (read speed)"

step "sdv-broker starts on 127.0.0.1 and a Unix socket (VSS 6.0 catalog)"
"$bin/sdv-broker" --config broker.json >ready.txt 2>broker.log &
pids+=($!)
sdv_wait_file ready.txt 100 "${pids[-1]}" || fail "sdv-broker did not start"
port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' ready.txt)
ok "$(cat ready.txt)"

step "The simulated vehicle claims its signals and publishes speed and battery every 50 ms"
"$bin/sdv-vehicle-sim" provider --socket broker.sock --token-file vehicle.tok --period-ms 50 >provider.log 2>&1 &
pids+=($!)
sdv_wait_file provider.log 100 "${pids[-1]}" && grep -q "provider ready" provider.log || fail "provider did not start"
ok "provider attached: Vehicle.Speed, StateOfCharge.Current, Row1 driver HVAC temperature and fan"

# The apps use the sdv command-line client (`sdv signal`) on the same Unix socket.
app() { "$bin/sdv" signal "$2" --socket broker.sock --token "$1.tok" "${@:3}" 2>&1; }

step "speedometer-app subscribes to Vehicle.Speed"
out=$(app speedometer-app subscribe --count 5 Vehicle.Speed) || fail "subscribe: $out"
ok "5 events, the last: $(tail -n 1 <<<"$out")"

step "climate-app sets the driver's cabin temperature to 21 C: the vehicle accepts"
out=$(app climate-app set Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature 21) || fail "set 21: $out"
ok "$out"
# An accepted request becomes the current value when the vehicle publishes it, a moment later.
for _ in $(seq 50); do
    out=$(app climate-app get Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature) || fail "get: $out"
    [[ $out == *"Temperature 21 "* ]] && break
    sleep 0.1
done
[[ $out == *"Temperature 21 "* ]] || fail "the actual temperature is not 21: $out"
ok "actual state published by the vehicle: $out"

step "climate-app asks for 35 C: the vehicle itself rejects it"
set +e; out=$(app climate-app set Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature 35); rc=$?; set -e
[ $rc -ne 0 ] && [[ $out == *"rejected by its provider"* ]] || fail "35 C was not rejected by the provider: $out"
refused "$out"

step "speedometer-app tries to change the cabin temperature: outside its scope"
set +e; out=$(app speedometer-app set Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature 18); rc=$?; set -e
[ $rc -ne 0 ] && [[ $out == *"403"* ]] || fail "speedometer-app was not refused: $out"
refused "$out"
set +e; out=$(app speedometer-app get Vehicle.Powertrain.TractionBattery.StateOfCharge.Current); rc=$?; set -e
[ $rc -ne 0 ] && [[ $out == *"403"* ]] || fail "speedometer-app read the battery: $out"
refused "$out"

step "climate-app actuates the rear fan, which no provider executes"
set +e; out=$(app climate-app set Vehicle.Cabin.HVAC.Station.Row2.Driver.FanSpeed 40); rc=$?; set -e
[ $rc -ne 0 ] && [[ $out == *"no provider"* ]] || fail "no provider was not reported: $out"
refused "$out"

step "A VISS v3 client reads over HTTP with the speedometer token (and without one)"
tok=$(cat speedometer-app.tok)
out=$(curl -sf -H "Authorization: Bearer $tok" "http://127.0.0.1:$port/Vehicle/Speed") || fail "HTTP GET failed"
ok "GET /Vehicle/Speed -> $out"
code=$(curl -s -o body.json -w '%{http_code}' -X POST -H "Authorization: Bearer $tok" \
    -d '{"value":"18"}' "http://127.0.0.1:$port/Vehicle/Cabin/HVAC/Station/Row1/Driver/Temperature")
[ "$code" = 403 ] || fail "HTTP POST outside the scope answered $code"
refused "POST .../Driver/Temperature -> $code $(cat body.json)"

step "The audit log records every actuation and every denial, hash-chained"
"$bin/sdv" token audit-verify audit.log >verify.txt || fail "audit chain broken: $(cat verify.txt)"
ok "$(cat verify.txt)"
grep '"result":"denied"' audit.log | tail -n 1 | sed 's/^/   /'

# ---- sandboxed third-party app (sdv app run, docs/app-sandbox.md) ----------------------------
step "A third-party app runs sandboxed (sdv app run): a token for its manifest's scope, its broker socket, nothing else"
if [ -x "$bin/sdv-app-probe" ]; then
    # As root the app's whole process tree also gets a cgroup of its own (memory, CPU share,
    # processes); where cgroups cannot be written the launcher refuses (exit 125): run without.
    write_manifest() {
        cat >speedo-sandboxed.json <<EOF
{"id": "speedo-sandboxed", "executable": "$bin/sdv-app-probe", "scopes": ["read:Vehicle.Speed"],
 "args": ["read", "Vehicle.Speed", "set", "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature", "18",
          "escape-tcp", "127.0.0.1", "$port", "escape-unix", "$work/broker.sock", "escape-file", "$work/issuer.pem",
          "escape-procs"],
 "limits": {"open_files": 32, "tmp_mb": 4$1}}
EOF
    }
    run_app() {
        set +e
        out=$("$bin/sdv" app run --manifest speedo-sandboxed.json --broker-socket broker.sock --issuer-key issuer.pem \
            --aud vehicle-api --vin WVWZZZ1JZXW000001 --ttl 60 --data-dir apps 2>&1)
        rc=$?
        set -e
    }
    cg=""
    [ "$(id -u)" = 0 ] && cg=', "memory_mb": 64, "cpu_percent": 50, "processes": 8'
    write_manifest "$cg"
    run_app
    if [ -n "$cg" ] && [ $rc -eq 125 ]; then
        printf '   (cgroup limits cannot be enforced here, running without them: %s)\n' "$(head -n 1 <<<"$out")"
        cg=""
        write_manifest ""
        run_app
    fi
    if [[ $out == *"cannot create namespaces"* ]]; then
        printf '   (skipped: this kernel cannot create the namespaces: %s)\n' "$out"
    else
        [ $rc -eq 3 ] && [[ $out == *"read Vehicle.Speed = "* ]] && [[ $out != *ESCAPED* ]] ||
            fail "sandboxed app (status $rc): $out"
        ok "$(grep '^read' <<<"$out")"
        refused "$(grep '^refused' <<<"$out")"
        grep '^escape' <<<"$out" | sed 's/^escape /   ✔ contained: /'
        if [ -n "$cg" ]; then ok "its whole process tree ran in a cgroup of its own: 64 MiB, half a core, 8 processes"; fi
    fi
else
    printf '   (skipped: %s/sdv-app-probe is not built)\n' "$bin"
fi

step "SIGTERM: sdv-broker saves the last values and exits"
kill "${pids[0]}"
wait "${pids[0]}" || fail "sdv-broker exited with an error: $(tail -n 3 broker.log)"
pids=("${pids[@]:1}")
grep -q '"Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"' values.json || fail "values not saved"
ok "values.json holds $(grep -o '"datatype"' values.json | wc -l) values"
printf '\n%sdemo complete%s\n' "$sdv_demo_green" "$sdv_demo_off"
