#!/usr/bin/env bash
# run_slot_rollback.sh SDV [DIR]: the A/B story of issue 5 told with `sdv slot` on a simulated
# ECU (file-backed bootloader and slots in DIR, default a temporary directory): v1 runs in A;
# v2 is installed into B, booted on trial, passes its health check and is committed; v3 goes
# into A, boots on trial, fails its health check and is rolled back automatically (reboot into
# B, which still runs v2); the hash-chained install log records both, with the reason. Meant for
# `make demo` (one call) and run as the test test_install_rollback_cli. Exit 0 when every step
# did what it says.
set -eu
SDV=$(realpath "$1")
if [ $# -gt 1 ]; then
    D=$2
    mkdir -p "$D"
else
    D=$(mktemp -d /tmp/sdv-slot-demo.XXXXXX)
    trap 'rm -rf "$D"' EXIT
fi
cd "$D"
say() { printf '  %s\n' "$*"; }
die() { echo "slot demo FAILED: $*" >&2; exit 1; }
for v in 1 2 3; do printf 'ecu-main release %s\n%0400000d\n' "$v" "$v" >"rootfs-$v.img"; done
cp rootfs-1.img a.img
# The health check: v3 has a service that does not come up.
cat >health.sh <<'SH'
#!/bin/sh
if [ "$SDV_INSTALL_VERSION" = "3" ]; then echo "brake-by-wire service did not start"; exit 1; fi
echo "all services up"
SH
chmod +x health.sh
cat >ecu.json <<JSON
{"state_dir": "state", "ecu": "ecu-main", "install": {
 "bootloader": "file", "boot_state": "bootstate.json", "boot_attempts": 3,
 "initial_version": "1", "health_check": {"command": "$D/health.sh", "timeout_ms": 10000},
 "groups": [{"name": "rootfs", "slots": [
   {"name": "A", "path": "a.img", "size": 8388608, "bootname": "A"},
   {"name": "B", "path": "b.img", "size": 8388608, "bootname": "B"}]}]}}
JSON
slot() { "$SDV" slot "$@" --config ecu.json; }
reboot() { local b; b=$(slot boot-sim); say "[reboot: firmware boots slot $b]"; slot boot || true; }

echo "A/B slots on ecu-main (sdv slot, file-backed bootloader)"
reboot >/dev/null
slot install --version 2 rootfs-2.img | sed 's/^/  /'
reboot | sed 's/^/  /' | tee out.txt
grep -q "committed version 2" out.txt || die "v2 not committed"
cmp -s b.img rootfs-2.img || die "slot B does not hold v2"
slot install --version 3 rootfs-3.img | sed 's/^/  /'
reboot | sed 's/^/  /' | tee out.txt
grep -q "rolled back version 3: health check failed (exit status 1): brake-by-wire service did not start" out.txt ||
    die "v3 not rolled back"
reboot | sed 's/^/  /' | tee out.txt
grep -q "booted B" out.txt || die "not back on B"
slot status | sed 's/^/  /' | tee out.txt
grep -q "running: 2" out.txt || die "B does not run v2"
echo "  install log (hash-chained):"
slot log | sed 's/^/    /'
slot log --verify | sed 's/^/  /'
echo "automatic rollback of a release whose health check fails: ok"
