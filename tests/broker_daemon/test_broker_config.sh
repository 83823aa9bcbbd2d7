#!/usr/bin/env bash
# sdv-broker configuration: every bad configuration is refused at start with a non-zero exit and
# a message naming the file and the member; a good one passes --check; TLS serves https/wss.
# Usage: test_broker_config.sh BIN_DIR VSS_JSON
set -uo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
bin=$(cd "$1" && pwd)
vss=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-broker-config.XXXXXX")
pids=()
trap sdv_cleanup_work EXIT
PASSED=0
FAILED=0
cd "$work" || exit 1
"$bin/sdv" keygen --type ed25519 --out iss >/dev/null || exit 1

# expect_refused NAME PATTERN JSON: the daemon must exit non-zero and print PATTERN.
expect_refused() {
    local name=$1 pattern=$2
    printf '%s\n' "$3" >bad.json
    if out=$("$bin/sdv-broker" --config bad.json --check 2>&1); then
        sdv_fail "$name: accepted"
    elif grep -q -- "$pattern" <<<"$out"; then
        sdv_pass "$name: $out"
    else
        sdv_fail "$name: message does not say \"$pattern\": $out"
    fi
}
base='"catalog": "'$vss'", "audience": "a", "keys": ["iss.pub.pem"]'

expect_refused "not JSON" "bad.json:.*line" '{"catalog": '
expect_refused "unknown member" "bad.json: listn: unknown member" "{$base, \"listn\": {}}"
expect_refused "nothing to serve" "nothing to serve" "{$base}"
expect_refused "plain ws on a public address" "listen.address: plain ws:// and http:// are only allowed on a loopback" \
    "{$base, \"listen\": {\"address\": \"0.0.0.0\", \"port\": 8090}}"
expect_refused "port out of range" "listen.port: must be an integer 0..65535" \
    "{$base, \"listen\": {\"address\": \"127.0.0.1\", \"port\": 70000}}"
expect_refused "cert without key" "tls_cert and tls_key go together" \
    "{$base, \"listen\": {\"address\": \"127.0.0.1\", \"port\": 0, \"tls_cert\": \"c.pem\"}}"
expect_refused "missing keys" "bad.json: keys: missing" '{"catalog": "'"$vss"'", "audience": "a", "socket": "s"}'
expect_refused "missing audience" "bad.json: audience: missing" '{"catalog": "'"$vss"'", "keys": ["iss.pub.pem"], "socket": "s"}'
expect_refused "key file missing" "keys\[0\] .*nokey.pem" \
    '{"catalog": "'"$vss"'", "audience": "a", "keys": ["nokey.pem"], "socket": "s"}'
expect_refused "catalog missing" "catalog .*nothere.json" \
    '{"catalog": "nothere.json", "audience": "a", "keys": ["iss.pub.pem"], "socket": "s"}'
printf '{"Vehicle": {"type": "branch", "children": {"Speed": {"type": "sensor", "datatype": "float", "max": "fast"}}}}' >overlay.json
expect_refused "bad overlay" "overlay .*overlay.json: .*Vehicle.Speed" "{$base, \"socket\": \"s\", \"overlays\": [\"overlay.json\"]}"
expect_refused "bad purpose" "purposes:" \
    "{$base, \"socket\": \"s\", \"purposes\": {\"p1\": {\"expires\": \"soon\", \"grants\": []}}}"
expect_refused "bad log level" "log_level" "{$base, \"socket\": \"s\", \"log_level\": \"loud\"}"
printf 'not a snapshot' >values.json
expect_refused "damaged persistence file" "persistence.file .*values.json is damaged" \
    "{$base, \"socket\": \"s\", \"persistence\": {\"file\": \"values.json\"}}"
rm -f values.json
touch notasocket
printf '{%s, "socket": "notasocket"}\n' "$base" >bad.json
if out=$("$bin/sdv-broker" --config bad.json 2>&1); then
    sdv_fail "socket path is a regular file: accepted"
else
    grep -q "exists and is not a socket" <<<"$out" && sdv_pass "socket path is a regular file: $out" ||
        sdv_fail "socket path message: $out"
fi
if "$bin/sdv-broker" --config missing.json >/dev/null 2>&1; then sdv_fail "missing config accepted"; else sdv_pass "missing config file refused"; fi
printf '{%s, "socket": "s"}\n' "$base" >good.json
if out=$("$bin/sdv-broker" --config good.json --check 2>&1) && grep -q "configuration OK (1263 signals)" <<<"$out"; then
    sdv_pass "good configuration: $out"
else
    sdv_fail "good configuration refused: $out"
fi

# TLS: a self-signed certificate; https GET works, plain http on the TLS port does not.
if command -v openssl >/dev/null && command -v curl >/dev/null; then
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout tls.key \
        -out tls.crt -days 1 -subj /CN=localhost >/dev/null 2>&1
    printf '{%s, "listen": {"address": "127.0.0.1", "port": 0, "tls_cert": "tls.crt", "tls_key": "tls.key"}}\n' "$base" >tls.json
    "$bin/sdv-broker" --config tls.json >ready.txt 2>tls.log &
    pids+=($!)
    if sdv_wait_file ready.txt 100 "${pids[-1]}" && grep -q "wss://127.0.0.1:" ready.txt; then
        port=$(sed -n 's/.*127.0.0.1:\([0-9]*\).*/\1/p' ready.txt)
        tok=$("$bin/sdv" token mint --key iss.pem --aud a --scope read:Vehicle.Speed)
        code=$(curl -sk -o body.json -w '%{http_code}' -H "Authorization: Bearer $tok" "https://127.0.0.1:$port/Vehicle/Speed")
        # Nothing was published: 404 unavailable_data, over TLS.
        if [ "$code" = 404 ] && grep -q unavailable_data body.json; then sdv_pass "HTTPS GET over TLS answers ($code)"; else sdv_fail "HTTPS GET: $code $(cat body.json)"; fi
        if curl -s -o /dev/null --max-time 3 "http://127.0.0.1:$port/Vehicle/Speed"; then sdv_fail "plain http on the TLS port answered"; else sdv_pass "plain http on the TLS port refused"; fi
        # wss:// with Debian's python3-websockets, trusting the test certificate.
        py=/usr/bin/python3
        [ -x "$py" ] || py=python3
        if "$py" -c 'import websockets' 2>/dev/null; then
            out=$("$py" - "$port" "$tok" tls.crt <<'PYEOF'
import asyncio, json, ssl, sys
import websockets
async def main():
    ctx = ssl.create_default_context(cafile=sys.argv[3])
    ctx.check_hostname = False
    async with websockets.connect(f"wss://127.0.0.1:{sys.argv[1]}", ssl=ctx, subprotocols=["VISSv3"],
                                  extra_headers={"Authorization": "Bearer " + sys.argv[2]}) as ws:
        await ws.send(json.dumps({"action": "get", "path": "Vehicle.Speed", "requestId": "1"}))
        print(await ws.recv())
asyncio.run(main())
PYEOF
            ) || true
            if grep -q '"unavailable_data"' <<<"$out"; then sdv_pass "VISS over wss:// answers: $out"; else sdv_fail "wss: $out"; fi
        fi
    else
        sdv_fail "TLS daemon did not start: $(cat tls.log)"
    fi
fi
echo "passed $PASSED, failed $FAILED"
[ "$FAILED" -eq 0 ]
