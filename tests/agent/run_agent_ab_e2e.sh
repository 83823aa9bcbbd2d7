#!/usr/bin/env bash
# run_agent_ab_e2e.sh BIN_DIR [sqlite|postgresql]: A/B installation end to end on 127.0.0.1 with
# the real sdv-server and sdv-agent, file-backed slots and the file bootloader (simulated
# reboots):
#   1. v1 streams into slot B, trial boot, health check passes: committed, reported; the
#      secondary ecu-z1 (sdv-secondary with A/B slots too) installs zone v1 the same way;
#   2. v2 whose health check fails: rolled back to v1 automatically, reported with its reason
#      (server view and `sdv vehicle show`), and not retried until a new assignment;
#   3. v3 that never boots (the firmware's boot counter runs out): back on v1, reported;
#   4. kill -9 of the agent while v4 streams into the slot (through a throttling proxy): the
#      half-written slot is never activated; the next run resumes with a Range request from the
#      last checkpoint and commits v4;
#   5. v5 published with a delta patch from v4 (its own TUF target, custom "delta" naming source
#      and result): the agent streams the patch through lib/delta's decoder (base: the active
#      slot) into the inactive slot, never fetching the full v5; a patch from another source is
#      ignored (full image).
# KEEP=1 keeps the work dir. With "postgresql" the store is SDV_TEST_PG_URL (pg_harness.sh).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin=$(cd "$1" && pwd)
case ${2:-sqlite} in
sqlite) STORE_JSON= ;;
postgresql)
    [ -n "${SDV_TEST_PG_URL:-}" ] || { echo "FAIL: SDV_TEST_PG_URL is not set"; exit 1; }
    STORE_JSON=", \"store\": \"$SDV_TEST_PG_URL\""
    ;;
*) echo "usage: run_agent_ab_e2e.sh BIN_DIR [sqlite|postgresql]" >&2; exit 2 ;;
esac
W=$(mktemp -d "${TMPDIR:-/tmp}/sdv-agent-ab-XXXXXX")
pids=()
agent_pid=
cleanup() {
    [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null || true
    sdv_stop_pids "${pids[@]}"
    [ -n "${KEEP:-}" ] || rm -rf "$W"
}
trap cleanup EXIT
TOKEN=ab-admin-token-0123456789 VIN=VINAB00000000001
sdv() { "$bin/sdv" "$@"; }
die() { echo "FAIL: $*"; tail -n 30 "$W/agent.log" 2>/dev/null || true; exit 1; }
wait_file() { sdv_wait_file "$1" || die "no $1"; }

cd "$W"
for k in img-root img-targets img-snapshot img-timestamp dir-root dir-targets dir-snapshot \
         dir-timestamp ecu-main ecu-z1; do
    sdv keygen --type ed25519 --out "$k" >/dev/null
done
# Releases: the first bytes say whether the health check (health.sh) finds the system healthy.
mkdir -p releases
mkimg() { { printf '%s\n' "$2"; head -c "$3" /dev/urandom; } >"releases/$1"; }
mkimg main-v1.bin HEALTHY 300000
mkimg main-v2.bin BROKEN 300000
mkimg main-v3.bin HEALTHY 200000
mkimg main-v4.bin HEALTHY $((4 * 1024 * 1024))
mkimg zone-v1.bin HEALTHY 100000

sdv_repo_init "$bin/sdv" imagerepo img
sdv repo add-target imagerepo releases/main-v1.bin --name main/v1.bin \
    --custom '{"release_counter": 1, "hardware_ids": ["hw-main"]}'
sdv repo add-target imagerepo releases/zone-v1.bin --name zone/v1.bin \
    --custom '{"release_counter": 1, "hardware_ids": ["hw-zone"]}'
sdv_repo_publish_all "$bin/sdv" imagerepo img

sdv_server_json "$W" "$TOKEN" "" "$STORE_JSON" >server.json
mkdir -p server
"$bin/sdv-server" --config server.json --port-file port >server.log 2>&1 &
pids+=($!)
wait_file port
URL=http://127.0.0.1:$(cat port)
export SDV_SERVER=$URL SDV_TOKEN=$TOKEN
sdv vehicle register --vin $VIN --primary-key ecu-main.pub.pem --ecu ecu-main:hw-main:ecu-main.pub.pem \
    --ecu ecu-z1:hw-zone:ecu-z1.pub.pem
curl -sf -H "X-Client-Verified-Identity: $VIN" "$URL/v1/vehicle/director/1.root.json" \
    -o director-root.json

# The ECU: slots A (factory image, booted) and B, the file bootloader, a health check that
# reads the booted slot.
slot_size=$((8 * 1024 * 1024))
printf 'HEALTHY factory\n' >slot-A.img
: >slot-B.img
cat >health.sh <<'SH'
#!/bin/sh
booted=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["booted"])' "$(dirname "$0")/bootstate.json")
head -c 8 "$(dirname "$0")/slot-$booted.img" | grep -q HEALTHY || { echo "system check failed in slot $booted"; exit 1; }
SH
install_json() {
    cat <<JSON
{"bootloader": "file", "boot_state": "bootstate.json", "boot_attempts": 3,
 "health_check": {"command": "sh $W/health.sh", "timeout_ms": 10000},
 "initial_version": "factory",
 "groups": [{"name": "rootfs", "slots": [
   {"name": "A", "path": "slot-A.img", "size": $slot_size, "bootname": "A"},
   {"name": "B", "path": "slot-B.img", "size": $slot_size, "bootname": "B"}]}]}
JSON
}
# The secondary ecu-z1: its own A/B slots and file bootloader, no health check.
mkdir -p sec-z1
printf 'factory zone\n' >sec-z1/slot-A.img
: >sec-z1/slot-B.img
cat >sec-z1/install.json <<JSON
{"bootloader": "file", "boot_state": "bootstate.json", "initial_version": "factory",
 "groups": [{"name": "rootfs", "slots": [
   {"name": "A", "path": "slot-A.img", "size": 1048576, "bootname": "A"},
   {"name": "B", "path": "slot-B.img", "size": 1048576, "bootname": "B"}]}]}
JSON
printf '{"state_dir": "sec-z1/state/install", "ecu": "ecu-z1", "install": %s}\n' \
    "$(sed 's/"slot-/"sec-z1\/slot-/; s/"bootstate/"sec-z1\/bootstate/' sec-z1/install.json | tr -d '\n')" >z1-slot.json
"$bin/sdv" slot boot-sim --config z1-slot.json >/dev/null
{ sdv_secondary_conf "$W" z1 "$W/director-root.json" "$W/imagerepo/metadata/1.root.json" |
    sed "s|^slot = .*|slot = $W/sec-z1/slot-A.img|; s|^state_dir = .*|state_dir = $W/sec-z1/state|"
  echo "install = $W/sec-z1/install.json"; } >sec-z1.conf
"$bin/sdv-secondary" sec-z1.conf >sec-z1.log 2>&1 &
pids+=($!)
wait_file sec-z1.ready
agent_json() { # server URL, extra top-level members
    cat <<JSON
{"server_url": "$1", "vin": "$VIN", "state_dir": "agent",
 "primary": {"serial": "ecu-main", "hardware_id": "hw-main", "key": "ecu-main.pem"},
 "secondaries": [{"serial": "ecu-z1", "hardware_id": "hw-zone", "address": "unix:$W/sec-z1.sock"}],
 "director_root": "director-root.json", "image_root": "imagerepo/metadata/1.root.json",
 "download": {"attempts": 2, "backoff_ms": 100}, "install": $(install_json)$2}
JSON
}
agent_json "$URL" "" >agent.json
printf '{"state_dir": "agent/install", "ecu": "ecu-main", "install": %s}\n' "$(install_json)" >slot.json
sdv slot boot-sim --config slot.json >/dev/null # power on: the firmware boots slot A

booted() { python3 -c 'import json; print(json.load(open("bootstate.json"))["booted"])'; }
agent_once() { # expected exit status
    local rc=0
    "$bin/sdv-agent" --config "${2:-agent.json}" once >>agent.log 2>&1 || rc=$?
    echo "--- agent exit $rc" >>agent.log
    [ "$rc" = "$1" ] || die "sdv-agent once exited $rc, expected $1"
}
view() { curl -sf -H "Authorization: Bearer $TOKEN" "$URL/v1/admin/vehicles/$VIN" >view.json; }
# check PY_EXPR: asserts on v (the admin view) and recs (its install records, newest first).
check() {
    view
    python3 - "$1" <<'PY' || die "server view: $1"
import json, sys
v = json.load(open("view.json"))
recs = v["install_records"]
mrecs = [r for r in recs if r["ecu_serial"] == "ecu-main"]
main = [e for e in v["ecus"] if e["serial"] == "ecu-main"][0]
reported = (main.get("reported") or {}).get("target")
if not eval(sys.argv[1]):
    print(json.dumps(v, indent=1))
    sys.exit(1)
PY
}
publish() { # name file counter
    sdv repo add-target imagerepo "releases/$2" --name "$1" \
        --custom "{\"release_counter\": $3, \"hardware_ids\": [\"hw-main\"]}"
    sdv repo sign imagerepo --role targets --key img-targets.pem
    curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary "@releases/$2" \
        "$URL/v1/admin/artifacts" >/dev/null
    curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @imagerepo/staged/targets.json \
        "$URL/v1/admin/image/staged/targets.json" >/dev/null
    curl -sf -X POST -H "Authorization: Bearer $TOKEN" "$URL/v1/admin/image/publish" >/dev/null
    sdv assign --target "$1" --vin $VIN >/dev/null
}

# 1. v1: streamed into B, trial boot, health check passes, committed (within one `once`:
#    activation, simulated reboot, verdict, report).
sdv assign --target main/v1.bin --vin $VIN >/dev/null
sdv assign --target zone/v1.bin --hardware-id hw-zone >/dev/null
agent_once 0
[ "$(booted)" = B ] || die "v1 does not run from slot B"
cmp releases/main-v1.bin slot-B.img || die "slot B is not v1"
main_sha=$(sha256sum releases/main-v1.bin | cut -d' ' -f1)
for f in agent/downloads/*; do
    case $f in *"$main_sha"*) die "a temporary copy of the primary's image was made: $f" ;; esac
done
[ -z "$(ls agent/downloads)" ] || die "downloads left behind: $(ls agent/downloads)"
check 'reported == "main/v1.bin" and mrecs[0]["result"] == "committed" and mrecs[0]["version_after"] == "main/v1.bin" and mrecs[0]["version_before"] == "factory" and mrecs[0]["chain_verified"]'
z1_booted=$(python3 -c 'import json; print(json.load(open("sec-z1/bootstate.json"))["booted"])')
[ "$z1_booted" = B ] || die "ecu-z1 does not run from slot B"
cmp releases/zone-v1.bin sec-z1/slot-B.img || die "ecu-z1's slot B is not zone v1"
grep -q 'committed in slot B' sec-z1.log || die "ecu-z1 did not commit"
check '[e for e in v["ecus"] if e["serial"] == "ecu-z1"][0]["reported"]["target"] == "zone/v1.bin"'
check '[(r["result"], r["version_after"], r["chain_verified"]) for r in recs if r["ecu_serial"] == "ecu-z1"] == [("committed", "zone/v1.bin", True)]'
echo "ok: v1 committed in slot B and reported; ecu-z1 committed zone v1 in its slot B"

# 2. v2 fails its health check: rolled back to v1 automatically, reported with the reason.
publish main/v2.bin main-v2.bin 2
agent_once 1
[ "$(booted)" = B ] || die "not back on slot B (v1) after the failed health check"
cmp releases/main-v1.bin slot-B.img || die "slot B changed"
check 'reported == "main/v1.bin" and mrecs[0]["result"] == "rolled-back" and mrecs[0]["version_before"] == "main/v1.bin" and mrecs[0]["version_after"] == "main/v2.bin"'
check '"health check" in mrecs[0]["reason"] and "system check failed in slot A" in mrecs[0]["reason"] and mrecs[0]["chain_verified"] and len(mrecs) == 2'
sdv vehicle show --vin $VIN >show.txt
grep -q 'rolled-back.*system check failed in slot A' show.txt || { cat show.txt; die "sdv vehicle show lacks the rollback"; }
grep -q 'waiting for a new assignment' agent.log || die "the agent does not say it waits"
# Not retried: another cycle downloads nothing and adds no record.
requests_before=$(grep -c 'GET /v1/vehicle/image/targets' server.log || true)
agent_once 1
[ "$(grep -c 'GET /v1/vehicle/image/targets' server.log || true)" = "$requests_before" ] ||
    die "the rolled-back release was downloaded again"
check 'len(mrecs) == 2'
echo "ok: v2 rolled back (health check) and reported; not retried"

# 3. v3 never boots: the agent only requests the reboot; the firmware tries slot A three times
#    (the system never comes up), then falls back to B; the next start reports the rollback.
publish main/v3.bin main-v3.bin 3
agent_json "$URL" ', "reboot_command": "true"' >agent-noboot.json
agent_once 3 agent-noboot.json
for _ in 1 2 3; do sdv slot boot-sim --config slot.json >/dev/null; [ "$(booted)" = A ] || die "trial boot not in A"; done
sdv slot boot-sim --config slot.json >/dev/null
[ "$(booted)" = B ] || die "the firmware did not fall back to B"
agent_once 1
check 'reported == "main/v1.bin" and mrecs[0]["result"] == "rolled-back" and "boot counter" in mrecs[0]["reason"] and mrecs[0]["version_after"] == "main/v3.bin" and len(mrecs) == 3'
echo "ok: v3 never booted; back on v1 and reported"

# 4. kill -9 while v4 streams into slot A through a 1 MiB/s proxy.
python3 "$here/throttle_proxy.py" proxy.port "$(cat port)" 1048576 range.log &
pids+=($!)
wait_file proxy.port
agent_json "http://127.0.0.1:$(cat proxy.port)" "" >agent-slow.json
publish main/v4.bin main-v4.bin 4
"$bin/sdv-agent" --config agent-slow.json once >>agent.log 2>&1 &
agent_pid=$!
for _ in $(seq 300); do
    if grep -q '"writing"' agent/install/install-state.json 2>/dev/null &&
       [ "$(stat -c %s slot-A.img)" -gt 2000000 ]; then break; fi
    sleep 0.05
done
kill -9 "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=
written=$(stat -c %s slot-A.img)
[ "$written" -lt $((4 * 1024 * 1024)) ] || die "the kill did not land mid-stream ($written bytes)"
grep -q '"writing"' agent/install/install-state.json || die "not in state writing after the kill"
sdv slot status --config slot.json >status.txt
python3 -c 'import json,sys; b=json.load(open("bootstate.json")); sys.exit(0 if b["order"][0]=="B" and b["left"]["A"]==0 else 1)' ||
    { cat bootstate.json; die "the half-written slot A is bootable"; }
: >range.log
agent_once 0 agent-slow.json
resumed=$(sed -n 's/^Range: bytes=\([0-9]*\)-$/\1/p' range.log | tail -1)
[ -n "$resumed" ] && [ "$resumed" -ge 1048576 ] || { cat range.log; die "no resume from a checkpoint"; }
[ "$(booted)" = A ] || die "v4 does not run from slot A"
cmp releases/main-v4.bin slot-A.img || die "slot A is not v4"
check 'reported == "main/v4.bin" and mrecs[0]["result"] == "committed" and mrecs[0]["version_after"] == "main/v4.bin" and all(r["chain_verified"] for r in recs)'
"$bin/sdv" slot log --config slot.json --verify >/dev/null || die "the install log does not verify"
echo "ok: killed with $written bytes in the slot; resumed at byte $resumed; v4 committed"

# 5. Delta: v5 is v4 with a few changes; the patch from v4 is published as its own target.
python3 - <<'PY'
data = bytearray(open("releases/main-v4.bin", "rb").read())
for off in (100000, 2000000, 3500000):
    data[off:off + 64] = b"v5 changed these bytes" + bytes(42)
open("releases/main-v5.bin", "wb").write(data)
PY
"$bin/sdv" delta diff releases/main-v4.bin releases/main-v5.bin releases/v5.delta >/dev/null
sha() { sha256sum "$1" | cut -d' ' -f1; }
len() { stat -c %s "$1"; }
delta_custom() { # source file, result file
    printf '{"delta": {"source": {"length": %s, "hashes": {"sha256": "%s"}}, "result": {"length": %s, "hashes": {"sha256": "%s"}}}}' \
        "$(len "$1")" "$(sha "$1")" "$(len "$2")" "$(sha "$2")"
}
sdv repo add-target imagerepo releases/v5.delta \
    --name "main/v5.bin.from-$(sha releases/main-v4.bin | cut -c1-16).delta" \
    --custom "$(delta_custom releases/main-v4.bin releases/main-v5.bin)"
curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @releases/v5.delta \
    "$URL/v1/admin/artifacts" >/dev/null
publish main/v5.bin main-v5.bin 5
: >agent.log
agent_once 0
grep -q 'from a delta patch' agent.log || die "v5 was not installed from the delta"
grep -q 'path=/v1/vehicle/image/targets/main/[0-9a-f]*\.v5\.bin\.from-' server.log ||
    die "no patch download in the server's log"
! grep -q 'path=/v1/vehicle/image/targets/main/[0-9a-f]*\.v5\.bin ' server.log ||
    die "the full v5 image was downloaded"
[ "$(booted)" = B ] || die "v5 does not run from slot B"
cmp releases/main-v5.bin slot-B.img || die "slot B is not v5"
check 'reported == "main/v5.bin" and mrecs[0]["result"] == "committed" and mrecs[0]["version_after"] == "main/v5.bin"'
echo "ok: v5 installed from a $(len releases/v5.delta)-byte delta patch (full image $(len releases/main-v5.bin) bytes)"

# A patch whose custom names another source is not used: v6 comes as the full image.
cp releases/main-v5.bin releases/main-v6.bin
printf 'v6' | dd of=releases/main-v6.bin bs=1 seek=1000 conv=notrunc status=none
"$bin/sdv" delta diff releases/main-v5.bin releases/main-v6.bin releases/v6.delta >/dev/null
sdv repo add-target imagerepo releases/v6.delta \
    --name "main/v6.bin.from-$(sha releases/main-v5.bin | cut -c1-16).delta" \
    --custom "$(delta_custom releases/main-v4.bin releases/main-v6.bin)"
curl -sf -X PUT -H "Authorization: Bearer $TOKEN" --data-binary @releases/v6.delta \
    "$URL/v1/admin/artifacts" >/dev/null
publish main/v6.bin main-v6.bin 6
: >agent.log
agent_once 0
grep -q 'does not name the running image' agent.log || die "the mismatching delta was not refused"
! grep -q 'from a delta patch' agent.log || die "v6 came from a patch with the wrong source"
cmp releases/main-v6.bin slot-A.img || die "slot A is not v6"
echo "ok: a patch naming another source is ignored; v6 installed from the full image"
check 'len([r for r in recs if r["ecu_serial"] == "ecu-z1"]) == 1' # sent every cycle, stored once
echo "A/B e2e: commit, health-check rollback, boot-counter rollback, kill -9 resume, delta"
