#!/usr/bin/env bash
# shellcheck disable=SC2317 # functions run through check/setup/trap, which it cannot follow
# test_repo_http.sh SDV SDV_TUF_CLIENT [PYTHON3] - end to end over real HTTP on 127.0.0.1:
# a repository built with `sdv keygen` and `sdv repo` (consistent snapshots, a delegated role
# "firmware" for "firmware/*", two targets) is served by Python's http.server and followed by
# the `sdv-tuf-client` wrapper through three releases, tampered targets and metadata, a root
# rotation and a command-line error. Prints one line per check and "N passed, M failed".
set -euo pipefail

SDV=${1:?usage: test_repo_http.sh PATH_TO_SDV PATH_TO_SDV_TUF_CLIENT [PYTHON3]}
CLIENT=${2:?usage: test_repo_http.sh PATH_TO_SDV PATH_TO_SDV_TUF_CLIENT [PYTHON3]}
PYTHON=${3:-python3}
# The script works in a temporary directory: make relative program paths absolute first.
abspath() { case $1 in /*) echo "$1" ;; */*) echo "$PWD/$1" ;; *) echo "$1" ;; esac; }
SDV=$(abspath "$SDV")
CLIENT=$(abspath "$CLIENT")
PYTHON=$(abspath "$PYTHON")
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib-test.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sdv-integ-http-XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$WORK"

PASSED=0
FAILED=0


# check NAME CMD...: CMD must succeed.
check() {
    local name=$1
    shift
    if "$@" >last.out 2>&1; then sdv_pass "$name"; else sdv_fail "$name"; fi
}

# expect_exit RC NAME CMD...: CMD must exit with status RC; its output is kept in expect.out.
expect_exit() {
    local want=$1 name=$2 rc=0
    shift 2
    "$@" >last.out 2>&1 || rc=$?
    cp last.out expect.out
    if [ "$rc" -eq "$want" ]; then
        sdv_pass "$name"
    else
        sdv_fail "$name (exit $rc, expected $want)"
    fi
}

finish() {
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
    exit
}

# setup CMD...: a preparation step; if it fails nothing after it can be meaningful.
setup() {
    if ! "$@" >last.out 2>&1; then
        sdv_fail "setup: $*"
        finish
    fi
}

# ---- the repository -------------------------------------------------------------------------
# Mixed key types: root RSA, targets and firmware ECDSA, snapshot and timestamp ed25519.
mkdir keys src
setup "$SDV" keygen --type rsa --out keys/root
setup "$SDV" keygen --type ecdsa --out keys/targets
setup "$SDV" keygen --type ed25519 --out keys/snapshot
setup "$SDV" keygen --type ed25519 --out keys/timestamp
setup "$SDV" keygen --type ecdsa --out keys/firmware
setup "$SDV" keygen --type ed25519 --out keys/root-new

R=repo
setup "$SDV" repo init "$R"
for role in root targets snapshot timestamp; do
    setup "$SDV" repo add-key "$R" --role "$role" --key "keys/$role.pub.pem"
done
printf 'OpenSDV integration test repository\n' >src/readme.txt
printf 'ecu firmware release 1\n' >src/ecu-1.bin
printf 'ecu firmware release 2, longer than the first\n' >src/ecu-2.bin
printf 'ecu firmware release 3, longer than the first\n' >src/ecu-3.bin
setup "$SDV" repo add-target "$R" src/readme.txt --name readme.txt
setup "$SDV" repo delegate "$R" --from targets --to firmware --key keys/firmware.pub.pem \
    --paths 'firmware/*'
setup "$SDV" repo add-target "$R" src/ecu-1.bin --name firmware/ecu.bin --role firmware
setup "$SDV" repo sign "$R" --role root --key keys/root.pem
setup "$SDV" repo sign "$R" --role targets --key keys/targets.pem
setup "$SDV" repo sign "$R" --role firmware --key keys/firmware.pem
setup "$SDV" repo snapshot "$R" --key keys/snapshot.pem --hashes
setup "$SDV" repo timestamp "$R" --key keys/timestamp.pem
setup "$SDV" repo publish "$R"

# publish_firmware SRC: a release with new content for firmware/ecu.bin.
publish_firmware() {
    "$SDV" repo add-target "$R" "$1" --name firmware/ecu.bin --role firmware &&
        "$SDV" repo sign "$R" --role firmware --key keys/firmware.pem &&
        "$SDV" repo snapshot "$R" --key keys/snapshot.pem --hashes &&
        "$SDV" repo timestamp "$R" --key keys/timestamp.pem &&
        "$SDV" repo publish "$R"
}

# ---- the HTTP server: Python binds port 0 and prints the port it got -------------------------
"$PYTHON" -c '
import functools, http.server, sys
class Handler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                      functools.partial(Handler, directory=sys.argv[1]))
print(srv.server_address[1], flush=True)
srv.serve_forever()
' "$WORK/$R" >port.txt 2>server.log &
SERVER_PID=$!
for _ in $(seq 100); do
    [ -s port.txt ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
PORT=$(head -n 1 port.txt)
[[ "$PORT" =~ ^[0-9]+$ ]] || { sdv_fail "HTTP server did not start" "$(cat server.log)"; finish; }
MURL="http://127.0.0.1:$PORT/metadata/"
TURL="http://127.0.0.1:$PORT/targets/"
MDIR=$WORK/client/metadata
TDIR=$WORK/client/targets
FW_LOCAL=$TDIR/firmware%2Fecu.bin

refresh() { "$CLIENT" --metadata-url "$MURL" --metadata-dir "$MDIR" refresh; }
download() {
    "$CLIENT" --metadata-url "$MURL" --metadata-dir "$MDIR" --target-dir "$TDIR" \
        --target-base-url "$TURL" --target-name readme.txt --target-name firmware/ecu.bin download
}
# no_partials: TDIR holds exactly the two targets, no temporary files.
no_partials() {
    [ "$(find "$TDIR" -mindepth 1 -printf '%f\n' | sort | tr '\n' ' ')" = \
        "firmware%2Fecu.bin readme.txt " ]
}

# ---- release 1 --------------------------------------------------------------------------------
check "init with the published 1.root.json" \
    "$CLIENT" --metadata-dir "$MDIR" init "$R/metadata/1.root.json"
check "refresh" refresh
for role in root timestamp snapshot targets; do
    check "trusted $role.json stored" test -s "$MDIR/$role.json"
done
check "trusted targets.json is the published 1.targets.json" \
    cmp "$MDIR/targets.json" "$R/metadata/1.targets.json"
check "download both targets" download
check "readme.txt bytes" cmp "$TDIR/readme.txt" src/readme.txt
check "firmware/ecu.bin bytes (delegated role)" cmp "$FW_LOCAL" src/ecu-1.bin
check "delegated firmware.json trusted" cmp "$MDIR/firmware.json" "$R/metadata/1.firmware.json"
inode_before=$(stat -c %i "$FW_LOCAL" 2>/dev/null || echo missing)
check "download again" download
check "downloaded file unchanged" cmp "$FW_LOCAL" src/ecu-1.bin
check "downloaded file not replaced" test "$(stat -c %i "$FW_LOCAL")" = "$inode_before"
check "no partial files" no_partials

# ---- release 2 --------------------------------------------------------------------------------
setup publish_firmware src/ecu-2.bin
sha1=$(sha256sum src/ecu-1.bin | cut -d' ' -f1)
check "release 1's hash-prefixed copy kept intact" \
    cmp "$R/targets/firmware/$sha1.ecu.bin" src/ecu-1.bin
check "refresh to release 2" refresh
check "download release 2" download
check "firmware/ecu.bin has the release 2 bytes" cmp "$FW_LOCAL" src/ecu-2.bin
check "readme.txt still the same" cmp "$TDIR/readme.txt" src/readme.txt
check "no partial files after release 2" no_partials

# ---- a tampered target: release 3 is served with other bytes of the same length ----------------
setup publish_firmware src/ecu-3.bin
sha3=$(sha256sum src/ecu-3.bin | cut -d' ' -f1)
sha3_512=$(sha512sum src/ecu-3.bin | cut -d' ' -f1)
tr '[:lower:]' '[:upper:]' <src/ecu-3.bin >evil.bin
check "tampered file has the same length" \
    test "$(stat -c %s evil.bin)" = "$(stat -c %s src/ecu-3.bin)"
# Replace (not rewrite in place): the copies may be hard links of the published files.
for f in "ecu.bin" "$sha3.ecu.bin" "$sha3_512.ecu.bin"; do
    setup rm -f "$R/targets/firmware/$f"
    setup cp evil.bin "$R/targets/firmware/$f"
done
expect_exit 1 "download of a tampered target fails" download
check "error names the hash mismatch" grep -q "hash mismatch" expect.out
check "stored release 2 file untouched" cmp "$FW_LOCAL" src/ecu-2.bin
check "no partial file after the failed download" no_partials
for f in "ecu.bin" "$sha3.ecu.bin" "$sha3_512.ecu.bin"; do
    setup rm -f "$R/targets/firmware/$f"
    setup cp src/ecu-3.bin "$R/targets/firmware/$f"
done
check "download after the repair" download
check "firmware/ecu.bin has the release 3 bytes" cmp "$FW_LOCAL" src/ecu-3.bin

# ---- a tampered timestamp: a new version whose signature has one byte changed -----------------
setup "$SDV" repo timestamp "$R" --key keys/timestamp.pem
setup "$SDV" repo publish "$R"
cp "$R/metadata/timestamp.json" timestamp.good
setup "$PYTHON" -c '
import json, sys
path = sys.argv[1]
with open(path) as f:
    md = json.load(f)
sig = bytearray.fromhex(md["signatures"][0]["sig"])
sig[len(sig) // 2] ^= 0x01
md["signatures"][0]["sig"] = sig.hex()
with open(path, "w") as f:
    json.dump(md, f, indent=2)
' "$R/metadata/timestamp.json"
cp -a "$MDIR" mdir.before 2>/dev/null || mkdir -p mdir.before
expect_exit 1 "refresh with a bad timestamp signature fails" refresh
check "error names the timestamp role" grep -q "timestamp" expect.out
check "metadata dir byte-identical after the refusal" diff -r mdir.before "$MDIR"
cp timestamp.good "$R/metadata/timestamp.json"
check "refresh after the repair" refresh
check "trusted timestamp is the repaired one" cmp "$MDIR/timestamp.json" timestamp.good

# ---- root rotation: v2 adds a new key (signed by old and new), v3 drops the old one -----------
setup "$SDV" repo add-key "$R" --role root --key keys/root-new.pub.pem
setup "$SDV" repo sign "$R" --role root --key keys/root.pem --key keys/root-new.pem
setup "$SDV" repo publish "$R"
check "refresh follows root version 2" refresh
check "trusted root.json is 2.root.json" cmp "$MDIR/root.json" "$R/metadata/2.root.json"
setup "$SDV" repo remove-key "$R" --role root --key keys/root.pub.pem
setup "$SDV" repo sign "$R" --role root --key keys/root-new.pem
setup "$SDV" repo publish "$R"
check "refresh follows root version 3 (signed by the new key only)" refresh
check "trusted root.json is 3.root.json" cmp "$MDIR/root.json" "$R/metadata/3.root.json"
check "download after the rotations" download
check "firmware/ecu.bin still the release 3 bytes" cmp "$FW_LOCAL" src/ecu-3.bin

# ---- command line -----------------------------------------------------------------------------
expect_exit 1 "refresh without --metadata-url fails" "$CLIENT" --metadata-dir "$MDIR" refresh
check "message names --metadata-url" grep -q -- "--metadata-url" expect.out

finish
