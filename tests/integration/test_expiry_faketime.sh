#!/usr/bin/env bash
# test_expiry_faketime.sh SDV SDV_TUF_CLIENT - freeze-attack defence driven by the real clock:
# the programs read the wall clock through libc, so faketime(1) moves them into the future.
# A client days ahead of the last timestamp refuses it as expired and keeps its trusted state;
# a renewed timestamp is accepted; an expired snapshot and an expired root are refused.
# Prints one line per check and "N passed, M failed".
set -euo pipefail

SDV=$(realpath "${1:?usage: test_expiry_faketime.sh SDV SDV_TUF_CLIENT}")
CLIENT=$(realpath "${2:?usage: test_expiry_faketime.sh SDV SDV_TUF_CLIENT}")
command -v faketime >/dev/null || { echo "faketime is not installed (Debian package faketime)"; exit 1; }

# Under AddressSanitizer, faketime's LD_PRELOAD library comes before the ASan runtime; ASan's
# link-order check would abort, and is safe to skip for this preload.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/sdv-faketime-XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
PASSED=0 FAILED=0
pass() { PASSED=$((PASSED + 1)); echo "ok: $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $1"; sed 's/^/    /' out 2>/dev/null | head -5; }

# at OFFSET CMD...: runs CMD with the clock moved by OFFSET (e.g. +2d), or now for "now".
at() {
    local offset=$1
    shift
    if [ "$offset" = now ]; then "$@"; else faketime -f "$offset" "$@"; fi
}
refresh() { at "$1" "$CLIENT" --metadata-url "file://$WORK/repo/metadata/" --metadata-dir meta refresh; }
state() { (cd meta && sha256sum ./*) ; }

# expect_refused OFFSET ROLE NAME: refresh at OFFSET fails naming ROLE as expired, state unchanged.
expect_refused() {
    local before
    before=$(state)
    if refresh "$1" >out 2>&1; then
        fail "$3 (refresh succeeded)"
    elif ! grep -q "$2: .*expired" out; then
        fail "$3 (message does not say $2 expired)"
    elif [ "$before" != "$(state)" ]; then
        fail "$3 (trusted metadata changed)"
    else
        pass "$3"
    fi
}

for k in root targets snapshot timestamp; do "$SDV" keygen --type ed25519 --out "$k" >/dev/null; done
"$SDV" repo init repo >/dev/null
for k in root targets snapshot timestamp; do
    "$SDV" repo add-key repo --role "$k" --key "$k.pub.pem" >/dev/null
done
echo "firmware 1" >fw.bin
"$SDV" repo add-target repo fw.bin >/dev/null
"$SDV" repo sign repo --role root --key root.pem >/dev/null
"$SDV" repo sign repo --role targets --key targets.pem >/dev/null
# Defaults: timestamp expires in 1 day, snapshot in 7, targets in 90, root in 365.
"$SDV" repo snapshot repo --key snapshot.pem >/dev/null
"$SDV" repo timestamp repo --key timestamp.pem >/dev/null
"$SDV" repo publish repo >/dev/null
"$CLIENT" --metadata-dir meta init repo/metadata/1.root.json

if refresh now >out 2>&1; then pass "refresh today"; else fail "refresh today"; fi
expect_refused +2d timestamp "two days later the unrenewed timestamp is refused as expired"

renew_timestamp() {
    at "$1" "$SDV" repo timestamp repo --key timestamp.pem >/dev/null
    at "$1" "$SDV" repo publish repo >/dev/null
}
renew_timestamp +2d
if refresh +2d >out 2>&1; then pass "a renewed timestamp is accepted two days later"; else fail "renewed timestamp"; fi

# A short-lived snapshot under a longer-lived timestamp: the snapshot is the one that expires.
at +2d "$SDV" repo snapshot repo --key snapshot.pem --expires-in 1d >/dev/null
at +2d "$SDV" repo timestamp repo --key timestamp.pem --expires-in 5d >/dev/null
at +2d "$SDV" repo publish repo >/dev/null
if refresh +2d >out 2>&1; then pass "the new snapshot is accepted"; else fail "new snapshot"; fi
expect_refused +4d snapshot "two days later that snapshot (1 day) is refused as expired"

expect_refused +400d root "after 400 days the root (365 days) is refused as expired"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
