#!/bin/sh
# test_repo_cli.sh SDV - the `sdv keygen` and `sdv repo` command line through a full release:
# keys, init, targets, a delegation, offline signing of root and targets in a second directory,
# snapshot, timestamp, publish, refusals and error messages.
set -eu

SDV=${1:?usage: test_repo_cli.sh PATH_TO_SDV}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sdv-repo-cli-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# expect_fail PATTERN CMD...: CMD must exit 1 and print PATTERN on stderr.
expect_fail() {
    pattern=$1
    shift
    if "$@" >out.txt 2>err.txt; then
        fail "expected failure: $*"
    else
        rc=$?
    fi
    [ "$rc" -eq 1 ] || fail "exit status $rc, not 1: $*"
    grep -q -- "$pattern" err.txt || fail "stderr of '$*' lacks '$pattern': $(cat err.txt)"
}

# ---- keygen ------------------------------------------------------------------------------
mkdir keys
for role in root targets snapshot timestamp apps; do
    "$SDV" keygen --type ed25519 --out "keys/$role" >"keys.$role.id"
    grep -Eq '^[0-9a-f]{64}$' "keys.$role.id" || fail "keygen printed no key id for $role"
    [ -f "keys/$role.pem" ] && [ -f "keys/$role.pub.pem" ] || fail "keygen files for $role"
done
[ "$(stat -c %a keys/root.pem)" = 600 ] || fail "private key mode is not 0600"
"$SDV" keygen --type ecdsa --out keys/ec >/dev/null || fail "ecdsa keygen"
grep -q "PUBLIC KEY" keys/ec.pub.pem || fail "ecdsa public PEM"
expect_fail "private key file exists" "$SDV" keygen --type ed25519 --out keys/root
expect_fail "sdv keygen: unknown key type (dsa)" "$SDV" keygen --type dsa --out keys/x

# ---- init and keys (options before and after DIR) ------------------------------------------
"$SDV" repo init online >/dev/null
[ -d online/staged ] && [ -d online/metadata ] && [ -d online/targets ] || fail "layout"
expect_fail "already holds a repository" "$SDV" repo init online
for role in root targets snapshot timestamp; do
    "$SDV" repo add-key --role "$role" online --key "keys/$role.pub.pem" >/dev/null
done
grep -q "$(cat keys.root.id)" online/staged/root.json || fail "root key not in root.json"

# A bad flag: exit status 1 and a message naming the command and the flag.
expect_fail "sdv repo add-key: unknown option (--bogus)" \
    "$SDV" repo add-key online --role root --bogus
expect_fail "sdv repo sign: missing required option (--key)" "$SDV" repo sign online --role root
expect_fail "unknown command" "$SDV" repo frobnicate online

# ---- targets and a delegation -------------------------------------------------------------
mkdir -p src
echo "ecu firmware 1.0" >src/ecu.bin
echo "infotainment 2.3" >src/ivi.bin
echo "navigation app" >src/nav.bin
"$SDV" repo add-target online src/ecu.bin src/ivi.bin --expires-in 30d >/dev/null
"$SDV" repo add-target online src/ecu.bin --name fw/ecu-1.0.bin --custom '{"hw":"ecu-a"}' \
    >/dev/null
"$SDV" repo delegate online --from targets --to apps --key keys/apps.pub.pem --paths 'apps/*' \
    >/dev/null
"$SDV" repo add-target online src/nav.bin --name apps/nav.bin --role apps >/dev/null
expect_fail "not delegated target path" \
    "$SDV" repo add-target online src/nav.bin --name other/nav.bin --role apps
expect_fail "--name needs exactly one FILE" \
    "$SDV" repo add-target online src/nav.bin src/ivi.bin --name x.bin
[ -f online/targets/fw/ecu-1.0.bin ] || fail "target file not copied"
sha=$(sha256sum src/ecu.bin | cut -d' ' -f1)
[ -f "online/targets/fw/$sha.ecu-1.0.bin" ] || fail "hash-prefixed copy missing"
grep -q '"hw": "ecu-a"' online/staged/targets.json || fail "custom data missing"

# ---- offline signing of root and targets in another directory -------------------------------
mkdir -p offline/staged
cp online/staged/root.json online/staged/targets.json offline/staged/
cp offline/staged/targets.json targets.before
"$SDV" repo sign offline --role root --key keys/root.pem >/dev/null
"$SDV" repo sign offline --role targets --key keys/targets.pem >/dev/null
expect_fail "not authorised for role targets" \
    "$SDV" repo sign offline --role targets --key keys/snapshot.pem
# Signing changed only the signatures.
sed -n '/"signed"/,$p' targets.before >a.txt
sed -n '/"signed"/,$p' offline/staged/targets.json >b.txt
cmp -s a.txt b.txt || fail "sign changed the signed content"
cp offline/staged/root.json offline/staged/targets.json online/staged/

# ---- online side --------------------------------------------------------------------------
"$SDV" repo sign online --role apps --key keys/apps.pem >/dev/null
"$SDV" repo snapshot online --key keys/snapshot.pem >/dev/null
expect_fail "role timestamp has 0 valid signatures" "$SDV" repo publish online
"$SDV" repo timestamp online --key keys/timestamp.pem --expires-in 12h >/dev/null
"$SDV" repo status online >status.txt
grep -q "^targets .*signatures 1/1  modified" status.txt || fail "status: $(cat status.txt)"
"$SDV" repo publish online >/dev/null
for f in 1.root.json root.json 1.targets.json 1.apps.json 1.snapshot.json timestamp.json; do
    [ -f "online/metadata/$f" ] || fail "published $f missing"
done
"$SDV" repo status online >status.txt
grep -q modified status.txt && fail "status after publish: $(cat status.txt)"
[ "$(wc -l <status.txt)" -eq 5 ] || fail "status lists 5 roles: $(cat status.txt)"

# ---- refusals -----------------------------------------------------------------------------
echo "ecu firmware 1.1" >src/ecu.bin
"$SDV" repo add-target online src/ecu.bin --name fw/ecu-1.1.bin >/dev/null
grep -q '"version": 2' online/staged/targets.json || fail "targets not bumped to 2"
expect_fail "sdv repo publish: role targets has 0 valid signatures" "$SDV" repo publish online
"$SDV" repo sign online --role targets --key keys/targets.pem >/dev/null
expect_fail "snapshot lists targets version 1" "$SDV" repo publish online
"$SDV" repo snapshot online --key keys/snapshot.pem --hashes >/dev/null
expect_fail "timestamp does not point at snapshot version 2" "$SDV" repo publish online
"$SDV" repo timestamp online --key keys/timestamp.pem >/dev/null
"$SDV" repo publish online >/dev/null
[ -f online/metadata/2.targets.json ] && [ -f online/metadata/1.targets.json ] ||
    fail "versioned targets files"
expect_fail "not an RFC 3339 time" "$SDV" repo timestamp online --key keys/timestamp.pem \
    --expires yesterday

# ---- hash bins and a repository without consistent snapshots --------------------------------
"$SDV" repo init plain --no-consistent-snapshot >/dev/null
for role in root targets snapshot timestamp; do
    "$SDV" repo add-key plain --role "$role" --key "keys/$role.pub.pem" >/dev/null
done
"$SDV" repo delegate plain --from targets --hash-bins 16 --prefix bins --key keys/apps.pub.pem \
    >/dev/null
[ "$(ls plain/staged | grep -c '^bins-')" -eq 16 ] || fail "16 bin files"
"$SDV" repo add-target plain src/ecu.bin src/ivi.bin src/nav.bin >/dev/null
"$SDV" repo sign plain --role bins --key keys/apps.pem >/dev/null
"$SDV" repo sign plain --role root --key keys/root.pem >/dev/null
"$SDV" repo sign plain --role targets --key keys/targets.pem >/dev/null
"$SDV" repo snapshot plain --key keys/snapshot.pem >/dev/null
"$SDV" repo timestamp plain --key keys/timestamp.pem >/dev/null
"$SDV" repo publish plain >/dev/null
[ -f plain/metadata/targets.json ] && [ -f plain/metadata/snapshot.json ] &&
    [ -f plain/metadata/1.root.json ] || fail "unversioned names"
[ -f plain/metadata/1.targets.json ] && fail "versioned targets without consistent snapshots"
[ "$(cat plain/metadata/bins-*.json | grep -c '"length"')" -eq 3 ] || fail "3 targets in bins"
expect_fail "power of two" "$SDV" repo delegate plain --from targets --hash-bins 12 \
    --prefix x --key keys/apps.pub.pem

echo "ok"
