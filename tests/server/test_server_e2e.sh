#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run through check/setup/trap, which it cannot follow
# test_server_e2e.sh SDV SDV_SERVER SERVER_TEST_TOOL sqlite|postgresql - the real sdv-server on
# 127.0.0.1 behind a "trusted proxy" (the test itself, sending X-Client-Verified-Identity):
# configuration checks, vehicles registered with `sdv vehicle register`, admin authentication,
# assignments with `sdv assign`, each vehicle's director metadata verified by the real TUF
# client, manifests built and signed with lib/uptane (accepted, tampered, replayed), `sdv vehicle
# show`, Range and ETag on image targets, chunked artifact upload with dedup, staged image
# metadata published with the server's online keys, timestamp renewal by the timer, and a
# graceful SIGTERM. For postgresql, run it under tests/store/pg_harness.sh (SDV_TEST_PG_URL).
# Prints one line per check and "N passed, M failed".
set -euo pipefail
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"

usage="usage: test_server_e2e.sh SDV SDV_SERVER SERVER_TEST_TOOL sqlite|postgresql"
SDV=${1:?$usage}
SERVER=${2:?$usage}
TOOL=${3:?$usage}
BACKEND=${4:?$usage}
abspath() { case $1 in /*) echo "$1" ;; */*) echo "$PWD/$1" ;; *) command -v "$1" ;; esac; }
SDV=$(abspath "$SDV")
SERVER=$(abspath "$SERVER")
TOOL=$(abspath "$TOOL")
case $BACKEND in
sqlite) STORE_JSON='"store": "state/fleet.db",' ;;
postgresql)
    [ -n "${SDV_TEST_PG_URL:-}" ] || {
        echo "FAIL: SDV_TEST_PG_URL is not set (run under tests/store/pg_harness.sh)"
        exit 1
    }
    STORE_JSON="\"store\": \"$SDV_TEST_PG_URL\","
    ;;
*)
    echo "$usage" >&2
    exit 2
    ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sdv-server-e2e-XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"

PASSED=0
FAILED=0
# keep CMD: the output of our programs (not of test, grep, ...) is kept in cmd.out for the checks
# that follow.
keep() {
    case $1 in "$SDV" | "$SERVER" | "$TOOL") cp last.out cmd.out ;; esac
}
check() {
    local name=$1
    shift
    if "$@" >cur.out 2>&1; then sdv_pass "$name"; else sdv_fail "$name" "$(head -n 20 cur.out)"; fi
    mv cur.out last.out
    keep "$1"
}
# expect_exit RC NAME CMD...: CMD must exit with RC.
expect_exit() {
    local want=$1 name=$2 rc=0
    shift 2
    "$@" >cur.out 2>&1 || rc=$?
    mv cur.out last.out
    if [ "$rc" -eq "$want" ]; then sdv_pass "$name"; else sdv_fail "$name (exit $rc, expected $want)"; fi
    keep "$1"
}
# out_has TEXT: the output of the last of our programs contains TEXT.
out_has() { grep -qF -- "$1" cmd.out; }
finish() {
    if [ "$FAILED" -ne 0 ] && [ -f server.log ]; then
        echo "---- server log (last 40 lines)"
        tail -n 40 server.log
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit
}
setup() {
    if ! "$@" >last.out 2>&1; then
        sdv_fail "setup: $*"
        finish
    fi
}
# json FILE EXPR: evaluates a Python expression over the JSON document j of FILE.
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# ---- keys and the image repository (offline root and targets keys) ----------------------------
mkdir keys
for k in img-root img-targets img-snapshot img-timestamp dir-root dir-targets dir-snapshot \
    dir-timestamp ecu-p ecu-z1 ecu-b; do
    setup "$SDV" keygen --type ed25519 --out "keys/$k"
done
setup "$SDV" keygen --type ecdsa --out keys/ecu-z2
printf 'primary firmware 1\n' >primary-1.bin
printf 'primary firmware 2, the next release\n' >primary-2.bin
head -c 200000 /dev/urandom >zone-1.bin
head -c 3000000 /dev/urandom >big.bin

R=repo
setup "$SDV" repo init "$R"
for role in root targets snapshot timestamp; do
    setup "$SDV" repo add-key "$R" --role "$role" --key "keys/img-$role.pub.pem"
done
setup "$SDV" repo add-target "$R" primary-1.bin \
    --custom '{"hardware_ids": ["hw-primary"], "release_counter": 1}'
setup "$SDV" repo add-target "$R" zone-1.bin --custom '{"release_counter": 1}'
setup "$SDV" repo sign "$R" --role root --key keys/img-root.pem
setup "$SDV" repo sign "$R" --role targets --key keys/img-targets.pem
setup "$SDV" repo snapshot "$R" --key keys/img-snapshot.pem
setup "$SDV" repo timestamp "$R" --key keys/img-timestamp.pem
setup "$SDV" repo publish "$R"
# The release engineer's copy, where the next release is prepared offline.
setup cp -a "$R" eng

# ---- configuration ------------------------------------------------------------------------------
printf 'e2e-admin-token-0123456789abcdef\n' >token
TOKEN=e2e-admin-token-0123456789abcdef
write_config() { # write_config FILE EXTRA_DIRECTOR_JSON
    cat >"$1" <<EOF
{
  "listen": {"address": "127.0.0.1", "port": 0, "threads": 4},
  "state_dir": "state",
  $STORE_JSON
  "image_repository": {"dir": "repo", "snapshot_key": "keys/img-snapshot.pem",
                       "timestamp_key": "keys/img-timestamp.pem", "timestamp_lifetime_s": 4},
  "director": {"root_keys": ["keys/dir-root.pem"], "targets_key": "keys/dir-targets.pem",
               "snapshot_key": "keys/dir-snapshot.pem", "timestamp_key": "keys/dir-timestamp.pem"
               $2},
  "admin": {"token_file": "token"},
  "proxy": {"trusted": ["127.0.0.1"]},
  "renew_interval_s": 1,
  "shutdown_drain_ms": 3000
}
EOF
}
# The director timestamp lives 6 s, so the timer renews it after 3 s; image timestamps the server
# signs live 4 s.
write_config server.json ', "timestamp_lifetime_s": 6'
check "--check accepts the configuration" "$SERVER" --config server.json --check
write_config bad1.json ', "timestamp_lifetime_s": "soon"'
expect_exit 1 "--check refuses a mistyped field" "$SERVER" --config bad1.json --check
check "... naming it" out_has 'director.timestamp_lifetime_s'
write_config bad2.json ', "timestamp_key_typo": 1'
expect_exit 1 "--check refuses an unknown field" "$SERVER" --config bad2.json --check
check "... naming it" out_has 'director.timestamp_key_typo'
sed 's/"keys\/img-snapshot.pem"/"keys\/img-snapshot.pub.pem"/' server.json >bad3.json
expect_exit 1 "--check refuses a public online key" "$SERVER" --config bad3.json --check
check "... naming it" out_has 'image_repository.snapshot_key'

# ---- start -----------------------------------------------------------------------------------------
"$SERVER" --config server.json --port-file port 2>server.log &
SERVER_PID=$!
sdv_wait_file port 200 "$SERVER_PID" || true
PORT=$(head -n 1 port 2>/dev/null || true)
[[ "$PORT" =~ ^[0-9]+$ ]] || {
    sdv_fail "sdv-server did not start"
    finish
}
sdv_pass "sdv-server listens on port $PORT"
BASE=http://127.0.0.1:$PORT
V=$BASE/v1/vehicle
ID="X-Client-Verified-Identity"
VIN1=WVWZZZ1JZXW000001
VIN2=WVWZZZ1JZXW000002
FLEET=(--server "$BASE" --token-file token)

# curl_status OUT ARGS...: the HTTP status of a request (curl's options, served by the test
# tool's small libcurl client), the body into OUT.
curl_status() {
    local out=$1
    shift
    "$TOOL" http -o "$out" "$@"
}

# ---- registration and admin authentication -----------------------------------------------------
check "register vehicle A (primary + 2 secondaries)" "$SDV" vehicle register "${FLEET[@]}" \
    --vin "$VIN1" --primary-key keys/ecu-p.pub.pem --ecu "ecu-p:hw-primary:keys/ecu-p.pub.pem" \
    --ecu "ecu-z1:hw-zone:keys/ecu-z1.pub.pem" --ecu "ecu-z2:hw-zone:keys/ecu-z2.pub.pem"
check "register vehicle B" "$SDV" vehicle register "${FLEET[@]}" --vin "$VIN2" \
    --primary b-p --ecu "b-p:hw-primary:keys/ecu-b.pub.pem"
expect_exit 1 "registering A again is refused" "$SDV" vehicle register "${FLEET[@]}" \
    --vin "$VIN1" --primary-key keys/ecu-p.pub.pem --ecu "ecu-p:hw-primary:keys/ecu-p.pub.pem"
check "... with 409" out_has "409"
check "admin without a token: 401" test "$(curl_status o.json "$BASE/v1/admin/vehicles")" = 401
check "admin with a wrong token: 401" test "$(curl_status o.json \
    -H "Authorization: Bearer e2e-admin-token-0123456789abcdeX" "$BASE/v1/admin/vehicles")" = 401
check "registration without a token: 401" test "$(curl_status o.json -X POST -d '{}' \
    "$BASE/v1/admin/vehicles")" = 401
expect_exit 1 "sdv vehicle list with a wrong token fails" "$SDV" vehicle list --server "$BASE" \
    --token wrong-token-wrong-token
check "... with 401" out_has "401"
check "sdv vehicle list" "$SDV" vehicle list "${FLEET[@]}"
check "... lists both vehicles" bash -c "grep -q '$VIN1 *3' cmd.out && grep -q '$VIN2 *1' cmd.out"

# ---- assignments ----------------------------------------------------------------------------------
check "assign by VIN (the image's hardware_ids pick the ECU)" "$SDV" assign "${FLEET[@]}" \
    --target primary-1.bin --vin "$VIN1"
check "... to the primary only" bash -c "grep -c assigned cmd.out | grep -qx 1 &&
    grep -q 'ECU ecu-p' cmd.out"
check "assign by hardware id" "$SDV" assign "${FLEET[@]}" --target zone-1.bin --hardware-id hw-zone
check "... to both secondaries" bash -c "grep -q 'ECU ecu-z1' cmd.out && grep -q 'ECU ecu-z2' cmd.out"
expect_exit 1 "assigning an unknown target fails" "$SDV" assign "${FLEET[@]}" --target nope.bin \
    --vin "$VIN1"
check "... with 404" out_has "404"
expect_exit 1 "assigning an image to other hardware fails" "$SDV" assign "${FLEET[@]}" \
    --target primary-1.bin --hardware-id hw-zone
check "... with 400" out_has "400"
expect_exit 1 "an assignment matching no ECU fails" "$SDV" assign "${FLEET[@]}" \
    --target zone-1.bin --hardware-id hw-none
check "... with 400" out_has "400"

# ---- director metadata, verified by the real TUF client -------------------------------------------
check "vehicle A fetches its director root" test "$(curl_status dir-root.json -H "$ID: $VIN1" \
    "$V/director/root.json")" = 200
check "... also as 1.root.json" test "$(curl_status o.json -H "$ID: $VIN1" \
    "$V/director/1.root.json")" = 200
check "... but 2.root.json does not exist" test "$(curl_status o.json -H "$ID: $VIN1" \
    "$V/director/2.root.json")" = 404
check "tuf-client init with the director root" "$SDV" tuf-client --metadata-dir dmeta init \
    dir-root.json
check "tuf-client refresh of vehicle A's director repository" "$SDV" tuf-client \
    --header "$ID: $VIN1" --metadata-url "$V/director/" --metadata-dir dmeta refresh
check "director targets: primary-1.bin for ecu-p" test "$(json dmeta/targets.json \
    'sorted(j["signed"]["targets"]["primary-1.bin"]["custom"]["ecu_identifiers"])')" = "['ecu-p']"
check "director targets: zone-1.bin for both secondaries" test "$(json dmeta/targets.json \
    'sorted(j["signed"]["targets"]["zone-1.bin"]["custom"]["ecu_identifiers"])')" = \
    "['ecu-z1', 'ecu-z2']"
check "director targets carry the release counter" test "$(json dmeta/targets.json \
    'j["signed"]["targets"]["primary-1.bin"]["custom"]["release_counter"]')" = 1
check "vehicle B's director targets list nothing of A" test "$(curl_status b-targets.json \
    -H "$ID: $VIN2" "$V/director/targets.json")" = 200
check "... (empty)" test "$(json b-targets.json 'len(j["signed"]["targets"])')" = 0
check "an unknown vehicle gets 403" test "$(curl_status o.json -H "$ID: NOT-A-VEHICLE" \
    "$V/director/targets.json")" = 403
check "no identity gets 403" test "$(curl_status o.json "$V/director/targets.json")" = 403
curl_status o.json -D headers.txt -H "$ID: $VIN1" "$V/director/targets.json" >/dev/null
etag=$(tr -d '\r' <headers.txt | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')
check "director metadata has an ETag; If-None-Match gives 304" test "$(curl_status o.json \
    -H "$ID: $VIN1" -H "If-None-Match: $etag" "$V/director/targets.json")" = 304

# ---- the image repository through the server ----------------------------------------------------------
check "tuf-client init with the image root" "$SDV" tuf-client --metadata-dir imeta init \
    "$R/metadata/1.root.json"
check "tuf-client downloads zone-1.bin through the server" "$SDV" tuf-client \
    --header "$ID: $VIN1" --metadata-url "$V/image/metadata/" --metadata-dir imeta \
    --target-name zone-1.bin --target-dir itargets --target-base-url "$V/image/targets/" download
check "... the same bytes" cmp itargets/zone-1.bin zone-1.bin
zsha=$(sha256sum zone-1.bin | cut -d' ' -f1)
check "Range on an image target: 206" test "$(curl_status range.bin -H "$ID: $VIN1" \
    -H "Range: bytes=1000-1999" "$V/image/targets/$zsha.zone-1.bin")" = 206
check "... with the right bytes" cmp range.bin <(tail -c +1001 zone-1.bin | head -c 1000)
check "Range past the end: 416" test "$(curl_status o.json -H "$ID: $VIN1" \
    -H "Range: bytes=300000-" "$V/image/targets/$zsha.zone-1.bin")" = 416
check "an unknown vehicle cannot read image metadata" test "$(curl_status o.json \
    -H "$ID: NOT-A-VEHICLE" "$V/image/metadata/timestamp.json")" = 403
check "no path escapes the repository" test "$(curl_status o.json -H "$ID: $VIN1" \
    --path-as-is "$V/image/targets/../../server.json")" = 404

# ---- manifests ------------------------------------------------------------------------------------------
manifest() { # manifest OUT REPORT_COUNTER [extra tool args]
    local out=$1 counter=$2
    shift 2
    "$TOOL" --vin "$VIN1" --primary ecu-p --primary-key keys/ecu-p.pem \
        --report "ecu-p:keys/ecu-p.pem:primary-1.bin:primary-1.bin:1" \
        --report "ecu-z1:keys/ecu-z1.pem:zone-1.bin:zone-1.bin:1" \
        --report "ecu-z2:keys/ecu-z2.pem:zone-1.bin:zone-1.bin:1" \
        --report-counter "$counter" --manifest-counter "$counter" --out "$out" "$@"
}
post_manifest() { # post_manifest FILE [VIN]: prints the status; the answer is in answer.json
    curl_status answer.json -H "$ID: ${2:-$VIN1}" -H 'Content-Type: application/json' \
        --data-binary "@$1" "$V/manifest"
}
setup manifest m1.json 1
check "a signed manifest is accepted" test "$(post_manifest m1.json)" = 200
check "... {\"accepted\": true}" test "$(json answer.json 'j["accepted"]')" = True
check "sdv vehicle show" "$SDV" vehicle show "${FLEET[@]}" --vin "$VIN1"
check "... prints desired vs reported, all in sync" test "$(grep -c 'in sync' cmd.out)" = 3
check "... and a verified last manifest" out_has "verified"
check "vehicle A's manifest from vehicle B is refused" test "$(post_manifest m1.json "$VIN2")" = 400
setup manifest m2.json 2 --tamper ecu-z2
check "a manifest with a tampered report is refused: 400" test "$(post_manifest m2.json)" = 400
check "... naming the rule SIGNATURE" test "$(json answer.json 'j["rule"]')" = SIGNATURE
check "... and stored unverified" test "$(curl_status hist.json \
    -H "Authorization: Bearer $TOKEN" "$BASE/v1/admin/vehicles/$VIN1/manifests?limit=1")" = 200
check "... with the reason" test "$(json hist.json \
    '(j["manifests"][0]["verified"], "ecu-z2" in j["manifests"][0]["attack"])')" = \
    "(False, True)"
check "sdv vehicle show reports the unverified manifest" "$SDV" vehicle show "${FLEET[@]}" \
    --vin "$VIN1"
check "... as NOT VERIFIED" out_has "NOT VERIFIED"
check "a replayed manifest is refused: 400" test "$(post_manifest m1.json)" = 400
check "... rule NONCE" test "$(json answer.json 'j["rule"]')" = NONCE
check "... replayed nonce" grep -q "replayed nonce" answer.json
setup manifest m3.json 1
check "fresh nonces with an old report counter are refused" test "$(post_manifest m3.json)" = 400
check "... rule REPLAY" test "$(json answer.json 'j["rule"]')" = REPLAY
setup manifest m4.json 4 --attack "ecu-z1=image hash mismatch"
check "a newer manifest is accepted" test "$(post_manifest m4.json)" = 200
check "sdv vehicle show --json" "$SDV" vehicle show "${FLEET[@]}" --vin "$VIN1" --json
check "... the attack an ECU reported" test "$(json cmd.out \
    '[e["reported"]["attack_detected"] for e in j["ecus"] if e["serial"] == "ecu-z1"][0]')" = \
    "image hash mismatch"
check "... desired next to reported" test "$(json cmd.out \
    '[(e["desired"]["target"], e["reported"]["target"]) for e in j["ecus"] if e["primary"]][0]')" \
    = "('primary-1.bin', 'primary-1.bin')"

# ---- artifacts ----------------------------------------------------------------------------------------------
bsha=$(sha256sum big.bin | cut -d' ' -f1)
put_artifact() { # streamed from stdin: chunked transfer coding
    curl_status answer.json -H "Authorization: Bearer ${2:-$TOKEN}" -T "$1" \
        "$BASE/v1/admin/artifacts?name=$1"
}
check "chunked artifact upload: 201" test "$(put_artifact big.bin)" = 201
check "... its sha256 and length" test "$(json answer.json '(j["sha256"], j["length"])')" = \
    "('$bsha', 3000000)"
check "the same upload again is deduplicated: 200" test "$(put_artifact big.bin)" = 200
# (A refused body is read and discarded up to 1 MiB so the client gets its answer; see
# docs/httpd.md.)
check "an upload without the token: 401" test "$(put_artifact primary-1.bin wrong)" = 401
check "the artifact store holds it once" test "$(find state/artifacts/sha256 -type f | wc -l)" = 1

# ---- a release staged offline, published with the server's online keys ---------------------------------
setup "$SDV" repo add-target eng primary-2.bin \
    --custom '{"hardware_ids": ["hw-primary"], "release_counter": 2}'
stage() { # stage FILE: PUT it as staged targets.json
    curl_status answer.json -X PUT -H "Authorization: Bearer $TOKEN" --data-binary "@$1" \
        "$BASE/v1/admin/image/staged/targets.json"
}
publish() { curl_status answer.json -X POST -H "Authorization: Bearer $TOKEN" "$BASE/v1/admin/image/publish"; }
check "staging unsigned targets metadata: 200" test "$(stage eng/staged/targets.json)" = 200
check "publish refuses it: 400" test "$(publish)" = 400
check "... naming the role" grep -q "targets" answer.json
setup "$SDV" repo sign eng --role targets --key keys/img-targets.pem
check "staging the signed targets metadata: 200" test "$(stage eng/staged/targets.json)" = 200
check "staging a snapshot is refused: 400" test "$(curl_status o.json -X PUT \
    -H "Authorization: Bearer $TOKEN" --data-binary @eng/staged/snapshot.json \
    "$BASE/v1/admin/image/staged/snapshot.json")" = 400
check "publish: 200" test "$(publish)" = 200
check "... targets version 2" test "$(json answer.json 'j["versions"]["targets"]')" = 2
img_ts=$(json answer.json 'j["versions"]["timestamp"]')
p2sha=$(sha256sum primary-2.bin | cut -d' ' -f1)
check "upload primary-2.bin as an artifact" test "$(put_artifact primary-2.bin)" = 201
check "the new image is served from the artifact store" test "$(curl_status p2.bin \
    -H "$ID: $VIN1" "$V/image/targets/$p2sha.primary-2.bin")" = 200
check "... byte for byte" cmp p2.bin primary-2.bin
check "assign the new release" "$SDV" assign "${FLEET[@]}" --target primary-2.bin --vin "$VIN1"
check "tuf-client follows vehicle A's director to the new release" "$SDV" tuf-client \
    --header "$ID: $VIN1" --metadata-url "$V/director/" --metadata-dir dmeta refresh
check "... primary-2.bin, release counter 2" test "$(json dmeta/targets.json \
    'j["signed"]["targets"]["primary-2.bin"]["custom"]["release_counter"]')" = 2
check "tuf-client downloads the new image through the server" "$SDV" tuf-client \
    --header "$ID: $VIN1" --metadata-url "$V/image/metadata/" --metadata-dir imeta \
    --target-name primary-2.bin --target-dir itargets --target-base-url "$V/image/targets/" download
check "sdv vehicle show: the primary is pending" "$SDV" vehicle show "${FLEET[@]}" --vin "$VIN1"
check "... pending" out_has "pending"

# ---- renewal by the timer ------------------------------------------------------------------------------------
ts_version() {
    curl_status ts.json -H "$ID: $VIN2" "$V/director/timestamp.json" >/dev/null &&
        json ts.json 'j["signed"]["version"]'
}
ts1=$(ts_version)
renewed=0
for _ in $(seq 80); do
    sleep 0.1
    if [ "$(ts_version)" -gt "$ts1" ]; then
        renewed=1
        break
    fi
done
check "the timer renews an idle vehicle's director timestamp" test "$renewed" = 1
img_ts_version() {
    curl_status its.json -H "$ID: $VIN1" "$V/image/metadata/timestamp.json" >/dev/null &&
        json its.json 'j["signed"]["version"]'
}
renewed=0
for _ in $(seq 80); do
    if [ "$(img_ts_version)" -gt "$img_ts" ]; then
        renewed=1
        break
    fi
    sleep 0.1
done
check "the timer renews the image repository's timestamp" test "$renewed" = 1
check "... and the image repository still verifies" "$SDV" tuf-client --header "$ID: $VIN1" \
    --metadata-url "$V/image/metadata/" --metadata-dir imeta refresh
check "vehicle A still refreshes after renewals" "$SDV" tuf-client --header "$ID: $VIN1" \
    --metadata-url "$V/director/" --metadata-dir dmeta refresh
check "the access log names the vehicle" grep -q "access client=127.0.0.1 id=$VIN1 method=GET" \
    server.log

# ---- graceful shutdown ---------------------------------------------------------------------------------------
# stop_server NAME: SIGTERM; the server must exit 0 within 5 s.
stop_server() {
    local rc=0
    kill -TERM "$SERVER_PID"
    for _ in $(seq 50); do
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        sdv_fail "$1: still running 5 s after SIGTERM"
        return
    fi
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=
    check "$1: SIGTERM exits 0" test "$rc" = 0
}
stop_server "proxy-mode server"
check "... and says so" grep -q "SIGTERM: shutting down" server.log

# ---- restart on the same store with mTLS: vehicles identified by their client certificate ------
mkdir tls
setup "$TOOL" certs tls "$VIN1"
sed 's|"proxy": {"trusted": \["127.0.0.1"\]},|"tls": {"cert": "tls/server.pem", "key": "tls/server.key", "device_ca": "tls/ca.pem"},|' \
    server.json >server-tls.json
check "--check accepts the mTLS configuration" "$SERVER" --config server-tls.json --check
rm -f port
"$SERVER" --config server-tls.json --port-file port 2>server-tls.log &
SERVER_PID=$!
sdv_wait_file port 200 "$SERVER_PID" || true
PORT=$(head -n 1 port 2>/dev/null || true)
if [[ "$PORT" =~ ^[0-9]+$ ]]; then
    S=https://127.0.0.1:$PORT
    TLS=(--cacert tls/ca.pem)
    check "mTLS: vehicle A's certificate reads its director targets" test "$(curl_status \
        t.json "${TLS[@]}" --cert tls/client.pem --key tls/client.key \
        "$S/v1/vehicle/director/targets.json")" = 200
    check "... the state survived the restart" test "$(json t.json \
        '"primary-2.bin" in j["signed"]["targets"]')" = True
    check "mTLS: no client certificate gets 403" test "$(curl_status o.json "${TLS[@]}" \
        "$S/v1/vehicle/director/targets.json")" = 403
    check "mTLS: the admin API over HTTPS" "$SDV" vehicle show --server "$S" --token-file token \
        --cacert tls/ca.pem --vin "$VIN1"
    check "... shows vehicle A" out_has "vehicle $VIN1"
    stop_server "mTLS server"
else
    sdv_fail "sdv-server with mTLS did not start" "$(tail -n 5 server-tls.log)"
fi
finish
