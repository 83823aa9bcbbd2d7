#!/usr/bin/env bash
# run_agent_e2e.sh BIN_DIR [sqlite|postgresql]: the real sdv-server (trusted-proxy identity on
# 127.0.0.1), two real sdv-secondary processes and sdv-agent: release v1 for all three ECUs,
# assign, run `sdv-agent once` until every ECU reports v1; then v2; the server's admin view of the
# vehicle shows v2 on every ECU.
#
# BIN_DIR must hold sdv, sdv-server, sdv-secondary and sdv-agent. The server's store is SQLite in
# the work dir (default) or, with "postgresql", the database at SDV_TEST_PG_URL (run it under
# tests/store/pg_harness.sh). KEEP=1 keeps the work dir.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
bin=$(cd "$1" && pwd)
case ${2:-sqlite} in
sqlite) STORE_JSON= ;;
postgresql)
    [ -n "${SDV_TEST_PG_URL:-}" ] || {
        echo "FAIL: SDV_TEST_PG_URL is not set (run under tests/store/pg_harness.sh)"
        exit 1
    }
    STORE_JSON=", \"store\": \"$SDV_TEST_PG_URL\""
    ;;
*) echo "usage: run_agent_e2e.sh BIN_DIR [sqlite|postgresql]" >&2; exit 2 ;;
esac
W=$(mktemp -d "${TMPDIR:-/tmp}/sdv-agent-e2e-XXXXXX")
pids=()
cleanup() {
    sdv_stop_pids "${pids[@]}"
    [ -n "${KEEP:-}" ] || rm -rf "$W"  # KEEP=1 keeps the logs
}
trap cleanup EXIT
TOKEN=e2e-admin-token-0123456789 VIN=VINE2E0000000001
sdv() { "$bin/sdv" "$@"; }
wait_file() { sdv_wait_file "$1" || { echo "no $1"; exit 1; }; }

# Keys: image repository (offline root+targets, online snapshot+timestamp), director, ECUs.
cd "$W"
for k in img-root img-targets img-snapshot img-timestamp dir-root dir-targets dir-snapshot \
         dir-timestamp ecu-main ecu-z1 ecu-z2; do
    sdv keygen --type ed25519 --out "$k" >/dev/null
done
mkdir -p releases
head -c 300000 /dev/urandom >releases/main-v1.bin; head -c 300000 /dev/urandom >releases/main-v2.bin
head -c 100000 /dev/urandom >releases/zone-v1.bin; head -c 100000 /dev/urandom >releases/zone-v2.bin

# The image repository, v1 published offline before the server starts.
sdv_repo_init "$bin/sdv" imagerepo img
sdv repo add-target imagerepo releases/main-v1.bin --name main/v1.bin --custom '{"release_counter": 1, "hardware_ids": ["hw-main"]}'
sdv repo add-target imagerepo releases/zone-v1.bin --name zone/v1.bin --custom '{"release_counter": 1, "hardware_ids": ["hw-zone"]}'
sdv_repo_publish_all "$bin/sdv" imagerepo img

sdv_server_json "$W" "$TOKEN" "" "$STORE_JSON" >server.json
mkdir -p server
"$bin/sdv-server" --config server.json --port-file port >server.log 2>&1 &
pids+=($!)
wait_file port
URL=http://127.0.0.1:$(cat port)
export SDV_SERVER=$URL SDV_TOKEN=$TOKEN

# Two secondaries on Unix sockets, full and partial verification.
for z in z1 z2; do
    mkdir -p sec-$z
    sdv_secondary_conf "$W" $z "$W/director-root.json" "$W/imagerepo/metadata/1.root.json" \
        >sec-$z.conf
done

sdv vehicle register --vin $VIN --primary-key ecu-main.pub.pem --ecu ecu-main:hw-main:ecu-main.pub.pem \
    --ecu ecu-z1:hw-zone:ecu-z1.pub.pem --ecu ecu-z2:hw-zone:ecu-z2.pub.pem
# Provisioning: the vehicle's director root as the server generated it (trust on first use in
# this test; a factory would pin it).
curl -sf -H "X-Client-Verified-Identity: $VIN" "$URL/v1/vehicle/director/1.root.json" \
    -o director-root.json
for z in z1 z2; do
    "$bin/sdv-secondary" sec-$z.conf >sec-$z.log 2>&1 &
    pids+=($!)
    wait_file sec-$z.ready
done

cat >agent.json <<JSON
{"server_url": "$URL", "vin": "$VIN", "state_dir": "agent",
 "primary": {"serial": "ecu-main", "hardware_id": "hw-main", "key": "ecu-main.pem"},
 "secondaries": [{"serial": "ecu-z1", "hardware_id": "hw-zone", "address": "unix:$W/sec-z1.sock"},
                 {"serial": "ecu-z2", "hardware_id": "hw-zone", "address": "unix:$W/sec-z2.sock"}],
 "director_root": "director-root.json", "image_root": "imagerepo/metadata/1.root.json",
 "download": {"attempts": 3, "backoff_ms": 200}}
JSON

# Runs the agent until the admin view shows `want` reported on every ECU.
converge() {
    local want_main=$1 want_zone=$2
    for i in 1 2 3 4 5; do
        "$bin/sdv-agent" --config agent.json once >>agent.log 2>&1 || true
        if curl -sf -H "Authorization: Bearer $TOKEN" "$URL/v1/admin/vehicles/$VIN" >view.json &&
           python3 - "$want_main" "$want_zone" <<'PY'
import json, sys
v = json.load(open("view.json"))
want = {"ecu-main": sys.argv[1], "ecu-z1": sys.argv[2], "ecu-z2": sys.argv[2]}
got = {e["serial"]: (e.get("reported") or {}).get("target") for e in v["ecus"]}
sys.exit(0 if got == want else 1)
PY
        then echo "converged on $want_main / $want_zone after $i cycle(s)"; return 0; fi
    done
    echo "did not converge on $want_main / $want_zone"; cat agent.log view.json; exit 1
}

sdv assign --target main/v1.bin --vin $VIN
sdv assign --target zone/v1.bin --hardware-id hw-zone
converge main/v1.bin zone/v1.bin

# Release v2: signed offline, uploaded and published through the admin API.
sdv repo add-target imagerepo releases/main-v2.bin --name main/v2.bin --custom '{"release_counter": 2, "hardware_ids": ["hw-main"]}'
sdv repo add-target imagerepo releases/zone-v2.bin --name zone/v2.bin --custom '{"release_counter": 2, "hardware_ids": ["hw-zone"]}'
sdv repo sign imagerepo --role targets --key img-targets.pem
for f in releases/main-v2.bin releases/zone-v2.bin; do
    curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @$f "$URL/v1/admin/artifacts" >/dev/null
done
curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @imagerepo/staged/targets.json \
    "$URL/v1/admin/image/staged/targets.json" >/dev/null
curl -sf -X POST -H "Authorization: Bearer $TOKEN" "$URL/v1/admin/image/publish" >/dev/null
sdv assign --target main/v2.bin --vin $VIN
sdv assign --target zone/v2.bin --hardware-id hw-zone
converge main/v2.bin zone/v2.bin
cmp releases/main-v2.bin agent/slots/ecu-main
echo "e2e: every ECU runs v2"
