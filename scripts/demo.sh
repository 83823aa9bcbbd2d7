#!/usr/bin/env bash
# OpenSDV demo: a release engineer builds and signs a TUF repository with offline and online keys,
# serves it on 127.0.0.1, and a vehicle-side client refreshes, downloads, follows a second
# release, and refuses a tampered image and a rollback. Usage: scripts/demo.sh BUILD_DIR
set -euo pipefail

build=${1:-build/release}
sdv="$(cd "$build" && pwd)/bin/sdv"
client="$(cd "$build" && pwd)/bin/sdv-tuf-client"
work=$(mktemp -d "${TMPDIR:-/tmp}/sdv-demo.XXXXXX")
server_pid=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

bold=$(printf '\033[1m'); green=$(printf '\033[32m'); red=$(printf '\033[31m'); off=$(printf '\033[0m')
[ -t 1 ] || { bold=""; green=""; red=""; off=""; }
step() { printf '\n%s== %s%s\n' "$bold" "$*" "$off"; }
ok() { printf '   %s✔%s %s\n' "$green" "$off" "$*"; }
refused() { printf '   %s✘ refused:%s %s\n' "$red" "$off" "$*"; }
run() { printf '   $ %s\n' "$*" | sed "s|$work/||g; s|$sdv|sdv|g; s|$client|sdv-tuf-client|g"; "$@"; }

offline="$work/offline-keys" online="$work/server-keys" repo="$work/repo" car="$work/vehicle"
mkdir -p "$offline" "$online" "$car"

step "1. Keys: root and targets keys stay offline; snapshot and timestamp keys live on the server"
for k in root-1 root-2 targets; do "$sdv" keygen --type ed25519 --out "$offline/$k" >/dev/null; done
"$sdv" keygen --type ecdsa --out "$online/snapshot" >/dev/null
"$sdv" keygen --type ecdsa --out "$online/timestamp" >/dev/null
ok "root (2 keys, threshold 2) and targets: ed25519, offline"
ok "snapshot and timestamp: ECDSA P-256, online"

step "2. Repository with consistent snapshots"
run "$sdv" repo init "$repo"
run "$sdv" repo add-key "$repo" --role root --key "$offline/root-1.pub.pem"
run "$sdv" repo add-key "$repo" --role root --key "$offline/root-2.pub.pem" --threshold 2
run "$sdv" repo add-key "$repo" --role targets --key "$offline/targets.pub.pem"
run "$sdv" repo add-key "$repo" --role snapshot --key "$online/snapshot.pub.pem"
run "$sdv" repo add-key "$repo" --role timestamp --key "$online/timestamp.pub.pem"

publish_release() {
    local version=$1
    printf 'zonal-ecu firmware %s\n' "$version" >"$work/firmware.bin"
    head -c 200000 /dev/urandom >>"$work/firmware.bin"
    run "$sdv" repo add-target "$repo" "$work/firmware.bin" --name ecu/firmware.bin \
        --custom "{\"version\":\"$version\"}"
    # Offline machine: the release engineer signs targets (and root) with offline keys.
    run "$sdv" repo sign "$repo" --role targets --key "$offline/targets.pem"
    # Online side: snapshot and timestamp, then publish.
    run "$sdv" repo snapshot "$repo" --key "$online/snapshot.pem"
    run "$sdv" repo timestamp "$repo" --key "$online/timestamp.pem"
    run "$sdv" repo publish "$repo"
}

step "3. Release 1.0.0 of ecu/firmware.bin"
run "$sdv" repo sign "$repo" --role root --key "$offline/root-1.pem"
run "$sdv" repo sign "$repo" --role root --key "$offline/root-2.pem"
publish_release 1.0.0
"$sdv" repo status "$repo" | sed 's/^/   /'

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 "$port" --directory "$repo" >"$work/http.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/metadata/1.root.json')" \
        2>/dev/null && break
    sleep 0.1
done
meta="http://127.0.0.1:$port/metadata/"
targ="http://127.0.0.1:$port/targets/"
ok "serving the repository at http://127.0.0.1:$port/"

vclient() { "$client" --metadata-url "$meta" --metadata-dir "$car/metadata" "$@"; }
download() {
    vclient --target-name ecu/firmware.bin --target-dir "$car/targets" --target-base-url "$targ" \
        download
}

step "4. The vehicle is provisioned with the root (no network) and updates"
run "$client" --metadata-dir "$car/metadata" init "$repo/metadata/1.root.json"
run vclient refresh && ok "metadata verified: root, timestamp, snapshot, targets"
run download && ok "ecu/firmware.bin downloaded, length and hashes verified: $(head -1 "$car/targets/ecu%2Ffirmware.bin")"
run download && ok "second download: already present and verified, nothing fetched"

step "5. Release 1.1.0"
publish_release 1.1.0
run download && ok "updated: $(head -1 "$car/targets/ecu%2Ffirmware.bin")"
cp "$repo/metadata/timestamp.json" "$work/timestamp-old.json"

step "6. Attack: a compromised mirror serves a tampered image"
for f in "$repo"/targets/ecu/*.firmware.bin; do
    printf 'EVIL' | dd of="$f" bs=1 seek=30 conv=notrunc status=none
done
rm -f "$car/targets/ecu%2Ffirmware.bin"
if download 2>"$work/err"; then
    echo "   demo failed: the tampered image was accepted" >&2
    exit 1
fi
refused "$(tail -1 "$work/err" | sed 's/^sdv tuf-client: //')"
[ ! -e "$car/targets/ecu%2Ffirmware.bin" ] && ok "nothing was stored"

step "7. Attack: a replayed older timestamp (rollback / freeze)"
publish_release 1.2.0
vclient refresh
cp "$work/timestamp-old.json" "$repo/metadata/timestamp.json"
before=$(cd "$car/metadata" && sha256sum ./* | sha256sum)
if vclient refresh 2>"$work/err"; then
    echo "   demo failed: the replayed timestamp was accepted" >&2
    exit 1
fi
refused "$(tail -1 "$work/err" | sed 's/^sdv tuf-client: //')"
after=$(cd "$car/metadata" && sha256sum ./* | sha256sum)
[ "$before" = "$after" ] && ok "trusted metadata on the vehicle is unchanged"

step "Done"
ok "the vehicle trusts: $(ls "$car/metadata" | tr '\n' ' ')"
