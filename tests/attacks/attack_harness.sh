# attack_harness.sh: sourced by every attack script in tests/attacks/. It builds one honest fleet
# and offers the steps an attack test is made of. Nothing here is an attack.
#
#   source attack_harness.sh BIN_DIR ATTACK_TOOL PYTHON3
#
# The fleet (all on 127.0.0.1 and Unix sockets under one temporary directory):
#   - an image repository made with `sdv repo` (offline root and targets keys in the test
#     directory, the server holds the online snapshot and timestamp keys), release 1 published;
#   - the real sdv-server (SQLite store, trusted-proxy identity), director keys online;
#   - attacker_proxy.py in front of it: the agent's only way to the server, forwarding honestly
#     until a test writes a mode file;
#   - two real sdv-secondary processes, ecu-z1 (full verification) and ecu-z2 (partial);
#   - the real sdv-agent (`once` per cycle) for vehicle $VIN with primary ecu-main.
# setup_fleet ends with release 1 installed on every ECU (main/v1.bin, zone/v1.bin).
#
# Steps:
#   release N            sign release N offline, upload its images, publish through the admin API
#   assign N             the director assigns main/vN.bin to ecu-main and zone/vN.bin to hw-zone
#   mount_attack JSON    the proxy's rules (see attacker_proxy.py); unmount_attack forwards again
#   expect_attack PHRASE [ECU] [FAKETIME_OFFSET]
#                        one agent cycle must fail with "ATTACK DETECTED", change no ECU's slot
#                        or install record, and send a verified manifest whose report of ECU
#                        (default ecu-main) carries attack_detected containing PHRASE
#   expect_refused PHRASE  the same for failures that are not attacks (the agent's log names
#                        PHRASE, nothing installed, the manifest still sent)
#   converge MAIN ZONE [FAKETIME_OFFSET]
#                        agent cycles until the server sees MAIN/ZONE on the ECUs and no
#                        attack reported: the vehicle keeps working
# The attacker's tools (their keys are in the test directory, as the attack grants them):
#   sign FILE KEY...     re-sign metadata (attack_tool sign); forge: attack_forge.py
#   forge_director ...   director metadata with the director's online keys, into the store
#   forge_image_online F image snapshot and timestamp with the online keys, pointing at F
#
# Knobs set before sourcing: SERVER_EXTRA_TOP/_IMAGE/_DIRECTOR (server configuration fragments),
# IMAGE_TIMESTAMP_EXPIRES_IN (release 1's image timestamp), AGENT_MIN_SPEED_TIME_S.
# KEEP=1 keeps the directory. Every process started here is killed on exit, and a sanitizer
# report in any log fails the test.
set -euo pipefail

BIN=$(cd "${1:?usage: $0 BIN_DIR ATTACK_TOOL PYTHON3}" && pwd)
TOOL=$(realpath "${2:?usage: $0 BIN_DIR ATTACK_TOOL PYTHON3}")
PY=${3:-python3}
[ -x "$TOOL" ] || { echo "FAIL: no attack_tool at $TOOL"; exit 1; }
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib-test.sh
. "$HERE/../../scripts/lib-test.sh"
NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
W=$(mktemp -d "${TMPDIR:-/tmp}/sdv-$NAME-XXXXXX")
TOKEN=attack-admin-token-0123456789
VIN=VINATTACK0000001
IDH="X-Client-Verified-Identity"
# faketime's preload comes before the ASan runtime; its link-order check is safe to skip.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
pids=()
SERVER_PID=""
# Extra fields of the server configuration (JSON fragments with a leading comma), for tests that
# need other lifetimes.
SERVER_EXTRA_TOP=${SERVER_EXTRA_TOP:-}
SERVER_EXTRA_IMAGE=${SERVER_EXTRA_IMAGE:-}
SERVER_EXTRA_DIRECTOR=${SERVER_EXTRA_DIRECTOR:-}

harness_cleanup() {
    local rc=$?
    sdv_stop_pids ${SERVER_PID:+"$SERVER_PID"} "${pids[@]}"
    # Under ASan/UBSan a report in a daemon or an agent run must fail the test too.
    if grep -lE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$W"/*.log 2>/dev/null; then
        echo "FAIL: sanitizer report in the logs above"
        grep -hE -A5 "ERROR: (Address|Leak)Sanitizer|runtime error:" "$W"/*.log | head -n 40
        rc=1
    fi
    if [ -n "${KEEP:-}" ]; then echo "kept $W"; else rm -rf "$W"; fi
    exit $rc
}
trap harness_cleanup EXIT
trap 'exit 130' INT TERM

say() { echo "== $*"; }
die() {
    echo "FAIL: $*"
    for f in cycle.log server.log proxy.log sec-z1.log sec-z2.log; do
        [ -s "$W/$f" ] && { echo "--- tail of $f"; tail -n 15 "$W/$f"; }
    done
    exit 1
}
sdv() { "$BIN/sdv" "$@"; }
wait_file() { sdv_wait_file "$1" 400 || die "no $1"; }
admin() { curl -sf -H "Authorization: Bearer $TOKEN" "$@"; }
# GET from the server as the vehicle, bypassing the proxy (the test's own copy of what is served).
vehicle_get() { curl -sf -H "$IDH: $VIN" "$URL$1" -o "$2"; }
json_get() { "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2:]: d=d[int(k)] if isinstance(d, list) else d[k]
print(d)' "$@"; }

forge() { "$PY" "$HERE/attack_forge.py" "$@"; }
# sign FILE KEY...: FILE re-signed in place by exactly these keys (none: unsigned).
sign() {
    local f=$1
    shift
    "$TOOL" sign "$f" "$f" "$@"
}
# The version of ROLE (snapshot or targets) the image repository publishes now.
image_version() {
    local m=$W/imagerepo/metadata snap
    snap=$(json_get "$m/timestamp.json" signed meta snapshot.json version)
    if [ "$1" = snapshot ]; then echo "$snap"; else json_get "$m/$snap.snapshot.json" signed meta targets.json version; fi
}

# ---- Server, proxy, secondaries ------------------------------------------------------------

start_server() {
    sdv_server_json "$W" "$TOKEN" "" "$SERVER_EXTRA_TOP" "$SERVER_EXTRA_IMAGE" \
        "$SERVER_EXTRA_DIRECTOR" >"$W/server.json"
    mkdir -p "$W/server"
    rm -f "$W/port"
    "$BIN/sdv-server" --config "$W/server.json" --port-file "$W/port" >>"$W/server.log" 2>&1 &
    SERVER_PID=$!
    wait_file "$W/port"
    URL=http://127.0.0.1:$(cat "$W/port")
    echo "$URL" >"$W/upstream"
    export SDV_SERVER=$URL SDV_TOKEN=$TOKEN
}

stop_server() {
    kill "$SERVER_PID"
    wait "$SERVER_PID" || true
    SERVER_PID=""
}

start_proxy() {
    : >"$W/mode.json"
    "$PY" "$HERE/attacker_proxy.py" "$W/proxy-port" "$W/upstream" "$W/mode.json" \
        "$W/proxy.log" 2>>"$W/proxy.err" &
    pids+=($!)
    wait_file "$W/proxy-port"
    PROXY_URL=http://127.0.0.1:$(cat "$W/proxy-port")
}

mount_attack() {
    printf '%s\n' "$1" >"$W/mode.json.tmp"
    mv "$W/mode.json.tmp" "$W/mode.json"
}
unmount_attack() { mount_attack '{"rules": []}'; }

start_secondary() {
    local z=$1
    rm -f "$W/sec-$z.ready"
    "$BIN/sdv-secondary" "$W/sec-$z.conf" >>"$W/sec-$z.log" 2>&1 &
    pids+=($!)
    wait_file "$W/sec-$z.ready"
}

# ---- Releases and assignments ----------------------------------------------------------------

make_images() {
    mkdir -p "$W/releases"
    for n in 1 2 3; do
        head -c 200000 /dev/urandom >"$W/releases/main-v$n.bin"
        head -c 100000 /dev/urandom >"$W/releases/zone-v$n.bin"
    done
    # The attacker's software: as long as the genuine release 2 images.
    head -c 200000 /dev/urandom >"$W/releases/evil-main.bin"
    head -c 100000 /dev/urandom >"$W/releases/evil-zone.bin"
}

add_release_targets() {
    local n=$1
    sdv repo add-target "$W/imagerepo" "$W/releases/main-v$n.bin" --name "main/v$n.bin" \
        --custom "{\"release_counter\": $n, \"hardware_ids\": [\"hw-main\"]}" >/dev/null
    sdv repo add-target "$W/imagerepo" "$W/releases/zone-v$n.bin" --name "zone/v$n.bin" \
        --custom "{\"release_counter\": $n, \"hardware_ids\": [\"hw-zone\"]}" >/dev/null
}

release() {
    local n=$1
    add_release_targets "$n"
    sdv repo sign "$W/imagerepo" --role targets --key "$W/img-targets.pem" >/dev/null
    for f in main zone; do
        admin -X PUT --data-binary "@$W/releases/$f-v$n.bin" "$URL/v1/admin/artifacts" >/dev/null
    done
    admin -X PUT --data-binary "@$W/imagerepo/staged/targets.json" \
        "$URL/v1/admin/image/staged/targets.json" >/dev/null
    admin -X POST "$URL/v1/admin/image/publish" >/dev/null || die "publish of release $n refused"
}

assign() {
    sdv assign --target "main/v$1.bin" --vin "$VIN" >/dev/null
    sdv assign --target "zone/v$1.bin" --hardware-id hw-zone >/dev/null
}

# ---- The agent and what the vehicle runs -------------------------------------------------------

# One `sdv-agent once`, optionally with the clock moved by a faketime offset ("+2h"). Its output is
# in cycle.log (and appended to agent.log); AGENT_RC is its exit status.
run_agent() {
    local offset=${1:-}
    AGENT_RC=0
    if [ -n "$offset" ]; then
        faketime -f "$offset" "$BIN/sdv-agent" --config "$W/agent.json" once >"$W/cycle.log" 2>&1 ||
            AGENT_RC=$?
    else
        "$BIN/sdv-agent" --config "$W/agent.json" once >"$W/cycle.log" 2>&1 || AGENT_RC=$?
    fi
    cat "$W/cycle.log" >>"$W/agent.log"
}

# What every ECU runs: the slots' contents and each install record (not the counters, which
# change every cycle).
ecu_state() {
    sha256sum "$W/agent/slots/ecu-main" "$W/sec-z1/slot.img" "$W/sec-z2/slot.img" 2>/dev/null || true
    "$PY" - "$W" <<'PY'
import json, sys
w = sys.argv[1]
print(json.dumps(json.load(open(f"{w}/agent/install.json")).get("ecus"), sort_keys=True))
for z in ("z1", "z2"):
    print(json.dumps(json.load(open(f"{w}/sec-{z}/state.json")).get("installed"), sort_keys=True))
PY
}

# The newest manifest the server stored for the vehicle, as JSON on stdout ("null" if none).
latest_manifest() {
    admin "$URL/v1/admin/vehicles/$VIN/manifests?limit=1" >"$W/manifests.json"
    "$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["manifests"]
print(json.dumps(m[0] if m else None))' "$W/manifests.json"
}
latest_manifest_id() { latest_manifest | "$PY" -c 'import json,sys; m=json.load(sys.stdin); print(m["id"] if m else 0)'; }

# check_reported PREV_ID ECU PHRASE: a verified manifest newer than PREV_ID whose report of ECU has
# attack_detected containing PHRASE (case-insensitive; "" means: no attack reported by any ECU).
check_reported() {
    latest_manifest >"$W/latest.json"
    "$PY" - "$W/latest.json" "$1" "$2" "$3" <<'PY' || die "the server did not receive the report"
import json, sys
m = json.load(open(sys.argv[1]))
prev, ecu, phrase = int(sys.argv[2]), sys.argv[3], sys.argv[4].lower()
if m is None or m["id"] <= prev:
    sys.exit("no new manifest reached the server")
if not m["verified"]:
    sys.exit(f"the server refused the manifest: {m['attack']}")
reports = {r["ecu_serial"]: r for r in m["reports"]}
if phrase == "":
    bad = {s: r["attack_detected"] for s, r in reports.items() if r["attack_detected"]}
    sys.exit(f"attacks still reported: {bad}" if bad else 0)
got = reports.get(ecu, {}).get("attack_detected", "")
if phrase not in got.lower():
    sys.exit(f"{ecu} reports attack_detected {got!r}, expected it to mention {phrase!r}")
print(f"   server received from {ecu}: attack_detected = {got}")
PY
}

expect_attack() {
    local phrase=$1 ecu=${2:-ecu-main} offset=${3:-} before prev
    before=$(ecu_state)
    prev=$(latest_manifest_id)
    run_agent "$offset"
    [ "$AGENT_RC" -ne 0 ] || die "the agent's cycle succeeded under attack"
    grep -q "ATTACK DETECTED, nothing installed" "$W/cycle.log" || die "the agent did not detect an attack"
    [ "$(ecu_state)" = "$before" ] || die "an ECU's installed image changed under attack"
    check_reported "$prev" "$ecu" "$phrase"
}

expect_refused() {
    local phrase=$1 before prev
    before=$(ecu_state)
    prev=$(latest_manifest_id)
    run_agent
    [ "$AGENT_RC" -ne 0 ] || die "the agent's cycle succeeded under attack"
    grep -qi -- "$phrase" "$W/cycle.log" || die "the agent's log does not mention '$phrase'"
    [ "$(ecu_state)" = "$before" ] || die "an ECU's installed image changed under attack"
    latest_manifest >"$W/latest.json"
    [ "$(json_get "$W/latest.json" id)" -gt "$prev" ] || die "no manifest after the failed cycle"
}

# converge MAIN ZONE [OFFSET]: the vehicle keeps working.
converge() {
    local want_main=$1 want_zone=$2 offset=${3:-}
    for i in 1 2 3 4; do
        local prev
        prev=$(latest_manifest_id)
        run_agent "$offset"
        admin "$URL/v1/admin/vehicles/$VIN" >"$W/view.json"
        if [ "$AGENT_RC" -eq 0 ] && "$PY" - "$W/view.json" "$want_main" "$want_zone" <<'PY'; then
import json, sys
v = json.load(open(sys.argv[1]))
want = {"ecu-main": sys.argv[2], "ecu-z1": sys.argv[3], "ecu-z2": sys.argv[3]}
got = {e["serial"]: (e.get("reported") or {}).get("target") for e in v["ecus"]}
sys.exit(0 if got == want else 1)
PY
            check_reported "$prev" "" ""
            cmp -s "$W/agent/slots/ecu-main" "$W/releases/main-${want_main#main/}" ||
                die "ecu-main's slot does not hold $want_main"
            for z in z1 z2; do
                cmp -s "$W/sec-$z/slot.img" "$W/releases/zone-${want_zone#zone/}" ||
                    die "ecu-$z's slot does not hold $want_zone"
            done
            say "vehicle runs $want_main / $want_zone (cycle $i)"
            return 0
        fi
    done
    die "the vehicle did not converge on $want_main / $want_zone"
}

# ---- The fleet -------------------------------------------------------------------------------

setup_fleet() {
    cd "$W"
    for k in img-root img-targets img-snapshot img-timestamp dir-root dir-targets dir-snapshot \
        dir-timestamp ecu-main ecu-z1 ecu-z2 attacker; do
        sdv keygen --type ed25519 --out "$k" >/dev/null
    done
    make_images

    sdv_repo_init "$BIN/sdv" imagerepo img
    add_release_targets 1
    sdv_repo_publish_all "$BIN/sdv" imagerepo img \
        ${IMAGE_TIMESTAMP_EXPIRES_IN:+--expires-in "$IMAGE_TIMESTAMP_EXPIRES_IN"}

    start_server
    start_proxy
    sdv vehicle register --vin $VIN --primary-key ecu-main.pub.pem \
        --ecu ecu-main:hw-main:ecu-main.pub.pem --ecu ecu-z1:hw-zone:ecu-z1.pub.pem \
        --ecu ecu-z2:hw-zone:ecu-z2.pub.pem >/dev/null
    # Provisioning: the factory pins the director root the server generated for this vehicle.
    vehicle_get /v1/vehicle/director/1.root.json director-root.json

    for z in z1 z2; do
        mkdir -p sec-$z
        {
            sdv_secondary_conf "$W" $z "$W/director-root.json" "$W/imagerepo/metadata/1.root.json"
            echo "timeout_ms = 5000"
        } >sec-$z.conf
        start_secondary $z
    done

    # The minimum speed: 1 KiB/s over AGENT_MIN_SPEED_TIME_S (10 s: the proxy is Python on a busy
    # machine; the slow-retrieval test shortens it).
    cat >agent.json <<JSON
{"server_url": "$PROXY_URL", "vin": "$VIN", "state_dir": "agent",
 "primary": {"serial": "ecu-main", "hardware_id": "hw-main", "key": "ecu-main.pem"},
 "secondaries": [{"serial": "ecu-z1", "hardware_id": "hw-zone", "address": "unix:$W/sec-z1.sock"},
                 {"serial": "ecu-z2", "hardware_id": "hw-zone", "address": "unix:$W/sec-z2.sock"}],
 "director_root": "director-root.json", "image_root": "imagerepo/metadata/1.root.json",
 "ecu_link_timeout_ms": 5000,
 "download": {"attempts": 2, "backoff_ms": 100, "backoff_max_ms": 200,
              "min_speed_bytes": 1024, "min_speed_time_s": ${AGENT_MIN_SPEED_TIME_S:-10}, "connect_timeout_ms": 2000}}
JSON
    assign 1
    converge main/v1.bin zone/v1.bin
    say "fleet ready in $W: release 1 on every ECU"
}

# forge_director SERIAL NAME FILE HARDWARE_ID RELEASE_COUNTER [LENGTH]: a compromised director
# (its database and its online keys) tells the vehicle that ECU SERIAL must run NAME with the
# length and hashes of FILE (or LENGTH): the vehicle's current director metadata from the server,
# edited, every role above root re-signed with the director's genuine online keys at version + 1,
# and written into the server's store, past the server's own checks.
forge_director() {
    local serial=$1 name=$2 file=$3 hw=$4 rc=$5 len=${6:-}
    mkdir -p "$W/dir-now" "$W/dir-forged"
    for r in root targets snapshot timestamp; do
        vehicle_get "/v1/vehicle/director/$r.json" "$W/dir-now/$r.json"
    done
    forge director-ecu "$W/dir-now/targets.json" "$W/dir-forged/targets.json" "$serial" "$name" \
        --file "$file" --hardware-id "$hw" --release-counter "$rc" ${len:+--length "$len"}
    forge bump "$W/dir-forged/targets.json" "$W/dir-forged/targets.json"
    sign "$W/dir-forged/targets.json" "$W/dir-targets.pem"
    forge meta "$W/dir-now/snapshot.json" "$W/dir-forged/snapshot.json" targets.json \
        "$W/dir-forged/targets.json"
    forge bump "$W/dir-forged/snapshot.json" "$W/dir-forged/snapshot.json"
    sign "$W/dir-forged/snapshot.json" "$W/dir-snapshot.pem"
    forge meta "$W/dir-now/timestamp.json" "$W/dir-forged/timestamp.json" snapshot.json \
        "$W/dir-forged/snapshot.json"
    forge bump "$W/dir-forged/timestamp.json" "$W/dir-forged/timestamp.json"
    sign "$W/dir-forged/timestamp.json" "$W/dir-timestamp.pem"
    "$TOOL" store-put "sqlite:$W/server/sdv-server.db" "$VIN" "$W/dir-now/root.json" \
        "$W/dir-forged/targets.json" "$W/dir-forged/snapshot.json" "$W/dir-forged/timestamp.json" ||
        die "could not write the forged director metadata into the store"
}

# forge_image_online TARGETS_FILE: with the image repository's online keys (snapshot and
# timestamp, which the server holds), publish on the server's disk a snapshot that lists
# TARGETS_FILE (copied in as V.targets.json unless that version exists) and a timestamp for it,
# both one version above what is published and validly signed.
forge_image_online() {
    local m=$W/imagerepo/metadata tv snap
    tv=$(json_get "$1" signed version)
    snap=$(image_version snapshot)
    [ -e "$m/$tv.targets.json" ] || cp "$1" "$m/$tv.targets.json"
    forge meta "$m/$snap.snapshot.json" "$W/forged-snapshot.json" targets.json "$1"
    forge bump "$W/forged-snapshot.json" "$W/forged-snapshot.json"
    sign "$W/forged-snapshot.json" "$W/img-snapshot.pem"
    cp "$W/forged-snapshot.json" "$m/$((snap + 1)).snapshot.json"
    forge meta "$m/timestamp.json" "$W/forged-timestamp.json" snapshot.json "$W/forged-snapshot.json"
    forge bump "$W/forged-timestamp.json" "$W/forged-timestamp.json"
    sign "$W/forged-timestamp.json" "$W/img-timestamp.pem"
    cp "$W/forged-timestamp.json" "$m/timestamp.json.tmp"
    mv "$m/timestamp.json.tmp" "$m/timestamp.json"
}
