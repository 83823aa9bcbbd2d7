#!/usr/bin/env bash
# OpenSDV demo, everything on 127.0.0.1 and Unix sockets, on the embedded defaults (SQLite, local
# disk): a release engineer signs an image repository with offline keys; sdv-server runs it next
# to a per-vehicle director; a vehicle with a primary and two secondary ECUs is registered; two
# releases roll out with `sdv assign` and `sdv-agent once`, the primary installing into its
# inactive A/B slot (file-backed slots and bootloader, simulated reboots) with a trial boot, a
# health check and a commit; a release whose health check fails rolls back automatically and the
# server shows why; a tampered image on the server is refused by the vehicle, which installs
# nothing and reports the attack; the fleet's final state is printed as a table. Exits non-zero
# as soon as a step does not behave.
# Usage: scripts/demo.sh BUILD_DIR (default build/release)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-test.sh"
# shellcheck source-path=SCRIPTDIR source=lib-demo.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-demo.sh"

build=${1:-build/release}
bin=$(sdv_bin_dir "$build/bin" sdv sdv-server sdv-secondary sdv-agent) || exit 1
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-demo.XXXXXX")
pids=()
trap sdv_cleanup_work EXIT
trap 'exit 130' INT TERM
demo_logs=(server.log agent.log sec-z1.log sec-z2.log)
# Shows a command without the temporary directory, then runs it with its output indented.
show() { printf '   $ %s\n' "$*" | sed "s|$work/||g; s|$bin/||g"; }
run() { show "$@"; "$@" 2>&1 | sed 's/^/     /'; }
sdv() { "$bin/sdv" "$@"; }
wait_file() { sdv_wait_file "$1" || fail "$2 did not start"; }

cd "$work"
vin=WSDVDEMO000000001 token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
mkdir -p offline server engineer releases vehicle

step "1. Keys: offline (image root, targets), online on the server (snapshot, timestamp, director), one per ECU"
for k in root targets; do sdv keygen --type ed25519 --out offline/$k >/dev/null; done
for k in snapshot timestamp; do sdv keygen --type ecdsa --out server/image-$k >/dev/null; done
for k in root targets snapshot timestamp; do sdv keygen --type ed25519 --out server/director-$k >/dev/null; done
for k in ecu-main ecu-z1 ecu-z2; do sdv keygen --type ed25519 --out vehicle/$k >/dev/null; done
ok "image repository: root and targets ed25519 (offline), snapshot and timestamp ECDSA P-256 (server)"
ok "director: root, targets, snapshot, timestamp ed25519 (server); ECUs: ecu-main, ecu-z1, ecu-z2"

step "2. Image repository, signed offline, handed to the server"
repo=engineer/repo
sdv repo init $repo >/dev/null
sdv repo add-key $repo --role root --key offline/root.pub.pem >/dev/null
sdv repo add-key $repo --role targets --key offline/targets.pub.pem >/dev/null
for r in snapshot timestamp; do sdv repo add-key $repo --role $r --key server/image-$r.pub.pem >/dev/null; done
run sdv repo sign $repo --role root --key offline/root.pem
run sdv repo sign $repo --role targets --key offline/targets.pem
sdv repo snapshot $repo --key server/image-snapshot.pem >/dev/null
sdv repo timestamp $repo --key server/image-timestamp.pem >/dev/null
sdv repo publish $repo >/dev/null
cp -r $repo server/imagerepo
ok "empty repository v1 published; the server gets a copy and only the online keys"

step "3. sdv-server on 127.0.0.1 (SQLite, artifacts on local disk)"
cat >server/server.json <<JSON
{"listen": {"address": "127.0.0.1", "port": 0},
 "state_dir": "$work/server/state",
 "image_repository": {"dir": "$work/server/imagerepo",
                      "snapshot_key": "$work/server/image-snapshot.pem",
                      "timestamp_key": "$work/server/image-timestamp.pem"},
 "director": {"root_keys": ["$work/server/director-root.pem"],
              "targets_key": "$work/server/director-targets.pem",
              "snapshot_key": "$work/server/director-snapshot.pem",
              "timestamp_key": "$work/server/director-timestamp.pem"},
 "admin": {"token": "$token"},
 "proxy": {"trusted": ["127.0.0.1"], "identity_header": "X-Client-Verified-Identity"}}
JSON
mkdir -p server/state
show sdv-server --config server/server.json
"$bin/sdv-server" --config server/server.json --port-file server/port >server.log 2>&1 &
pids+=($!)
wait_file server/port sdv-server
url=http://127.0.0.1:$(cat server/port)
export SDV_SERVER=$url SDV_TOKEN=$token
ok "listening at $url (vehicles identified by a trusted TLS-terminating proxy's header)"

step "4. A vehicle with a primary and two secondary ECUs"
run sdv vehicle register --vin $vin --primary-key vehicle/ecu-main.pub.pem \
    --ecu ecu-main:hw-gateway:vehicle/ecu-main.pub.pem \
    --ecu ecu-z1:hw-zone:vehicle/ecu-z1.pub.pem --ecu ecu-z2:hw-zone:vehicle/ecu-z2.pub.pem
# Provisioning at the factory: the vehicle's director root and the image repository's root.
curl -sf -H "X-Client-Verified-Identity: $vin" "$url/v1/vehicle/director/1.root.json" \
    -o vehicle/director-root.json || fail "the vehicle's director root is not served"
cp $repo/metadata/1.root.json vehicle/image-root.json
for z in z1 z2; do
    mkdir -p vehicle/sec-$z
    sdv_secondary_conf "$work/vehicle" $z "$work/vehicle/director-root.json" \
        "$work/vehicle/image-root.json" >vehicle/sec-$z.conf
    "$bin/sdv-secondary" vehicle/sec-$z.conf >sec-$z.log 2>&1 &
    pids+=($!)
    wait_file vehicle/sec-$z.ready "sdv-secondary ecu-$z"
done
ok "sdv-secondary ecu-z1 (full verification) and ecu-z2 (partial) listening on Unix sockets"
# The gateway's A/B slots (files standing in for partitions), its bootloader (a file, rebooted
# by simulation) and its health check: the booted image's self-test line.
printf 'hw-gateway firmware factory\n' >vehicle/slot-A.img
: >vehicle/slot-B.img
cat >vehicle/health-check.sh <<'SH'
#!/bin/sh
# Runs after the trial boot of a new slot: exit 0 keeps it, anything else rolls back.
dir=$(dirname "$0")
slot=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["booted"])' "$dir/bootstate.json")
if head -n 2 "$dir/slot-$slot.img" | grep -q '^selftest=fail'; then
    echo "gateway self-test failed after booting slot $slot: CAN bus controller not responding"
    exit 1
fi
SH
cat >vehicle/agent.json <<JSON
{"server_url": "$url", "vin": "$vin", "state_dir": "state",
 "primary": {"serial": "ecu-main", "hardware_id": "hw-gateway", "key": "ecu-main.pem"},
 "secondaries": [{"serial": "ecu-z1", "hardware_id": "hw-zone", "address": "unix:$work/vehicle/sec-z1.sock"},
                 {"serial": "ecu-z2", "hardware_id": "hw-zone", "address": "unix:$work/vehicle/sec-z2.sock"}],
 "director_root": "director-root.json", "image_root": "image-root.json",
 "download": {"attempts": 2, "backoff_ms": 100},
 "install": {"bootloader": "file", "boot_state": "bootstate.json", "boot_attempts": 3,
             "health_check": {"command": "sh $work/vehicle/health-check.sh", "timeout_ms": 10000},
             "initial_version": "factory",
             "groups": [{"name": "rootfs", "slots": [
                 {"name": "A", "path": "slot-A.img", "size": 4194304, "bootname": "A"},
                 {"name": "B", "path": "slot-B.img", "size": 4194304, "bootname": "B"}]}]}}
JSON
printf '{"state_dir": "state/install", "ecu": "ecu-main", "install": %s}\n' \
    "$(python3 -c 'import json; print(json.dumps(json.load(open("vehicle/agent.json"))["install"]))')" \
    >vehicle/slot.json
(cd vehicle && "$bin/sdv" slot boot-sim --config slot.json >/dev/null) || fail "first boot"
ok "ecu-main: A/B slots (A holds the factory image and boots), health check health-check.sh"

# A release: firmware for both hardware ids, targets signed offline, the images and the signed
# targets uploaded, snapshot and timestamp signed by the server, then assigned to the vehicle.
release() {
    local v=$1 rc=$2 hws=${3:-gateway zone} selftest=${4:-pass} hw
    for hw in $hws; do
        printf 'hw-%s firmware %s\nselftest=%s\n' $hw "$v" "$selftest" >releases/$hw-$v.bin
        head -c 200000 /dev/urandom >>releases/$hw-$v.bin
        sdv repo add-target $repo releases/$hw-$v.bin --name $hw/$v.bin \
            --custom "{\"release_counter\": $rc, \"hardware_ids\": [\"hw-$hw\"]}" >/dev/null
        curl -sf -X PUT -H "Authorization: Bearer $token" --data-binary @releases/$hw-$v.bin \
            "$url/v1/admin/artifacts" >/dev/null || fail "upload of $hw/$v.bin"
    done
    run sdv repo sign $repo --role targets --key offline/targets.pem
    show curl -X PUT "$url/v1/admin/image/staged/targets.json" --data-binary @$repo/staged/targets.json
    curl -sf -X PUT -H "Authorization: Bearer $token" --data-binary @$repo/staged/targets.json \
        "$url/v1/admin/image/staged/targets.json" >/dev/null || fail "staging targets.json"
    show curl -X POST "$url/v1/admin/image/publish"
    curl -sf -X POST -H "Authorization: Bearer $token" "$url/v1/admin/image/publish" >/dev/null ||
        fail "publishing release $v"
    # The engineer's copy learns what the server published (versions are counted from it).
    cp -r server/imagerepo/metadata/. $repo/metadata/
    ok "$(printf '%s/'"$v"'.bin ' $hws)published (release counter $rc)"
    run sdv assign --target gateway/$v.bin --vin $vin
    case $hws in *zone*) run sdv assign --target zone/$v.bin --hardware-id hw-zone ;; esac
}
# The gateway's booted slot (the file bootloader's state) and its image file.
booted_slot() { python3 -c 'import json; print(json.load(open("vehicle/bootstate.json"))["booted"])'; }

# What the server's admin view says each ECU reports ("serial=target" lines) and the attack.
reported() {
    sdv vehicle show --vin $vin --json >view.json || fail "sdv vehicle show"
    python3 - <<'PY'
import json
v = json.load(open("view.json"))
for e in v["ecus"]:
    r = e.get("reported") or {}
    print("%s=%s" % (e["serial"], r.get("target")))
PY
}
expect_all_on() {
    local v=$1 want
    want=$(printf 'ecu-main=gateway/%s.bin\necu-z1=zone/%s.bin\necu-z2=zone/%s.bin' "$v" "$v" "$v")
    [ "$(reported | sort)" = "$want" ] || { cat view.json >&2; fail "not every ECU reports $v"; }
    cmp -s releases/gateway-$v.bin vehicle/slot-"$(booted_slot)".img ||
        fail "ecu-main's booted slot $(booted_slot) is not $v"
    cmp -s releases/zone-$v.bin vehicle/sec-z1/slot.img || fail "ecu-z1's slot is not $v"
    cmp -s releases/zone-$v.bin vehicle/sec-z2/slot.img || fail "ecu-z2's slot is not $v"
    ok "every ECU runs $v and the server's view says so"
}
agent_once() {
    show sdv-agent --config vehicle/agent.json once
    (cd vehicle && "$bin/sdv-agent" --config agent.json once) >>agent.log 2>&1
}

step "5. Release 1.0"
release 1.0 1
agent_once || fail "the update cycle to 1.0 failed"
expect_all_on 1.0
ok "ecu-main: 1.0 streamed into slot $(booted_slot), trial boot, health check passed, committed"

step "6. Release 1.1: the gateway installs into its inactive slot, boots it on trial, checks it, commits"
release 1.1 2
before=$(booted_slot)
: >agent.log
agent_once || fail "the update cycle to 1.1 failed"
grep -E '^sdv-agent: (install: activated|simulated reboot|info: trial boot|info: version .* committed)' \
    agent.log | sed 's/^sdv-agent: \(info: \|install: \)\{0,1\}/     /'
[ "$(booted_slot)" != "$before" ] || fail "1.1 did not boot from the other slot"
expect_all_on 1.1
ok "ecu-main: slot $before -> slot $(booted_slot), committed after its health check"

step "7. Release 1.2 for the gateway fails its health check after the trial boot: automatic rollback"
release 1.2 3 gateway fail
before=$(booted_slot)
: >agent.log
if agent_once; then
    fail "the vehicle reports 1.2 as installed"
fi
grep -E '^sdv-agent: (install: activated|simulated reboot|info: trial boot|warn: version .* rolled back|cycle failed: the director)' \
    agent.log | sed 's/^sdv-agent: \(info: \|warn: \|install: \|cycle failed: \)\{0,1\}/     /'
[ "$(booted_slot)" = "$before" ] || fail "the gateway did not return to slot $before"
expect_all_on 1.1
run sdv vehicle show --vin $vin
sdv vehicle show --vin $vin --json >view.json
python3 -c '
import json, sys
r = json.load(open("view.json"))["install_records"][0]
sys.exit(0 if r["result"] == "rolled-back" and "self-test failed" in r["reason"] else 1)' ||
    fail "the server's fleet view does not show the rollback and its reason"
ok "back on 1.1 in slot $before; the server stores the signed install record with the reason"
: >agent.log
agent_once && fail "the rolled-back release was installed again"
grep -q 'waiting for a new assignment' agent.log || fail "the agent retries the rolled-back release"
ok "not retried: the vehicle waits for a new assignment (as hawkBit and Mender close a failed deployment)"

step "8. Attack: release 1.3 is assigned, then someone with access to the server's disk swaps the zone image"
release 1.3 4
zone_id=$(sha256sum releases/zone-1.3.bin | cut -d' ' -f1)
artifact=server/state/artifacts/sha256/${zone_id:0:2}/$zone_id
[ -f "$artifact" ] || fail "no artifact $artifact"
chmod u+w "$artifact"
printf 'EVIL' | dd of="$artifact" bs=1 seek=40 conv=notrunc status=none
ok "4 bytes of zone/1.3.bin changed in the server's artifact store"
: >agent.log
if agent_once; then
    fail "the vehicle accepted the tampered image"
fi
grep -q 'ATTACK DETECTED, nothing installed' agent.log || { cat agent.log >&2; fail "no attack reported"; }
refused "$(grep -m1 'ATTACK DETECTED' agent.log | sed 's/^sdv-agent: //')"
expect_all_on 1.1
sdv vehicle show --vin $vin --json >view.json
python3 -c '
import json, sys
v = json.load(open("view.json"))
main = [e for e in v["ecus"] if e["primary"]][0]
sys.exit(0 if (main.get("reported") or {}).get("attack_detected") else 1)' ||
    fail "the server's view does not show the attack"
ok "nothing installed anywhere: the gateway image was fine but no ECU installs (or activates) unless all verify"
ok "the manifest carried the attack to the server"

step "9. The fleet's final state (GET /v1/admin/vehicles/$vin)"
python3 - <<'PY'
import json
v = json.load(open("view.json"))
rows = [("VIN", "ECU", "HARDWARE ID", "DESIRED", "REPORTED", "ATTACK")]
for e in v["ecus"]:
    d, r = e.get("desired") or {}, e.get("reported") or {}
    attack = r.get("attack_detected") or "-"
    if len(attack) > 60:
        attack = attack[:57] + "..."
    rows.append((v["vin"], e["serial"] + ("*" if e.get("primary") else ""), e["hardware_id"],
                 d.get("target") or "-", r.get("target") or "-", attack))
w = [max(len(row[i]) for row in rows) for i in range(5)]
for row in rows:
    print("   " + "  ".join(row[i].ljust(w[i]) for i in range(5)) + "  " + row[5])
print("   (* primary ECU)")
print()
print("   INSTALL RECORDS (hash-chained, signed by the ECU)")
for r in v.get("install_records", []):
    print("   %s #%d %s %s -> %s%s%s" % (r["ecu_serial"], r["seq"], r["result"], r["version_before"],
          r["version_after"], (": " + r["reason"]) if r["reason"] else "",
          "" if r["chain_verified"] else " (CHAIN BROKEN)"))
PY
