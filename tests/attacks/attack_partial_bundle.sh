#!/usr/bin/env bash
# Attack 8: partial bundle.
#
# Attacker: a man in the middle (or a broken mirror) who lets some of a release through and
# withholds one ECU's image, hoping to leave the vehicle with a mix of releases that was never
# tested together.
#
# What they do:
#   a. release 2 is assigned to every ECU; the zone controllers' image is answered with 404 (the
#      main ECU's image passes);
#   b. release 3 is assigned instead; the main ECU's image is answered with 404 (the zone
#      controllers' image passes). (A new release: the agent keeps verified downloads, so
#      release 2's main image from (a) would not be asked for again.)
#
# What must happen: the agent downloads and verifies every image before it installs any, so no
# ECU installs anything; the cycle fails naming the missing image, and the manifest still
# reaches the server, whose view shows the new release desired and release 1 reported on every ECU.
# A withheld file is not proof of an attack (an outage looks the same), so Uptane does not
# report it as one. Afterwards release 2 installs on every ECU.
#
# usage: attack_partial_bundle.sh BIN_DIR ATTACK_TOOL PYTHON3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet
release 2
assign 2

# desired_not_reported N: the server sees release N desired and release 1 reported on every ECU.
desired_not_reported() {
    admin "$URL/v1/admin/vehicles/$VIN" >view.json
    "$PY" - view.json "$1" <<'PY' || die "the server's view is not 'release $1 desired, release 1 reported'"
import json, sys
for e in json.load(open(sys.argv[1]))["ecus"]:
    d, r = e["desired"]["target"], (e["reported"] or {}).get("target")
    if not (d.endswith(f"/v{sys.argv[2]}.bin") and r and r.endswith("/v1.bin")):
        sys.exit(f"{e['serial']}: desired {d}, reported {r}")
PY
    echo "   server: release $1 desired, release 1 reported, on every ECU"
}

say "a. the zone controllers' image withheld"
mount_attack '{"rules": [{"match": "/image/targets/zone/", "action": "status", "status": 404}]}'
expect_refused "cycle failed: ECU image zone/v2.bin"
desired_not_reported 2
# The main ECU's image came first (director targets are in path order) and verified; it is kept
# for the next cycle, but it was not installed without the rest of the bundle.
[ -f "agent/downloads/$(sha256sum releases/main-v2.bin | cut -d' ' -f1).img" ] ||
    die "main/v2.bin was not downloaded: the test no longer shows that a verified image waits"
echo "   main/v2.bin downloaded and verified, not installed"

say "b. release 3 instead, the main ECU's image withheld"
release 3
assign 3
mount_attack '{"rules": [{"match": "/image/targets/main/", "action": "status", "status": 404}]}'
expect_refused "cycle failed: ECU image main/v3.bin"
desired_not_reported 3

unmount_attack
say "nothing withheld: release 3 installs on every ECU"
converge main/v3.bin zone/v3.bin
say "PASS: a partial bundle installs nothing"
