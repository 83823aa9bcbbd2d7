#!/usr/bin/env bash
# Attack 10: a compromised primary hands a secondary a tampered image.
#
# Attacker: owns the primary ECU (its software, its key, its trusted metadata), and talks to the
# zonal ECUs over the in-vehicle link. It holds no director or image repository key.
#
# What they do, to each secondary (ecu-z1 verifies fully, ecu-z2 partially), handing over the
# genuine metadata the primary holds for release 1, which the director assigned:
#   a. their own software under the assigned name and length (zone/v1.bin);
#   b. an image the director did not assign (zone/evil.bin);
#   c. the assigned name with one byte more than the director's length (endless data).
#
# What must happen: every secondary verifies by itself: it refuses each image, its slot is
# unchanged, and its signed version report carries attack_detected; the next honest cycle of the
# real agent passes those reports to the server, which shows the attack on each zonal ECU;
# afterwards release 2 installs everywhere and the reports are clean again.
#
# usage: attack_compromised_primary.sh BIN_DIR ATTACK_TOOL PYTHON3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet

# The metadata a primary hands a secondary: root history, then the four roles of each repository
# (the image repository's snapshot and targets also under their consistent-snapshot names).
meta=()
for repo in director image; do
    for f in $(ls "agent/$repo-roots" | sort -n); do meta+=("$repo:$f=$W/agent/$repo-roots/$f"); done
    for r in root timestamp snapshot targets; do meta+=("$repo:$r.json=$W/agent/$repo/$r.json"); done
done
meta+=("image:$(json_get agent/image/snapshot.json signed version).snapshot.json=$W/agent/image/snapshot.json")
meta+=("image:$(json_get agent/image/targets.json signed version).targets.json=$W/agent/image/targets.json")
head -c 100001 releases/evil-zone.bin >evil-zone-long.bin
head -c 1 /dev/urandom >>evil-zone-long.bin

# malicious NAME LENGTH FILE PHRASE: the attack on both secondaries.
malicious() {
    local name=$1 len=$2 file=$3 phrase=$4
    for z in z1 z2; do
        "$TOOL" primary "unix:$W/sec-$z.sock" "$name" "$len" "$file" report-$z.json "${meta[@]}" \
            >primary-$z.log 2>&1 || { cat primary-$z.log; die "the malicious session with ecu-$z broke"; }
        grep -q "^INSTALLED" primary-$z.log && die "ecu-$z installed the attacker's image"
        grep -i "refused" primary-$z.log | sed "s/^/   ecu-$z: /"
        cmp -s sec-$z/slot.img releases/zone-v1.bin || die "ecu-$z's slot changed"
        "$PY" - report-$z.json "$phrase" <<'PY' || die "ecu-$z's next version report does not carry the attack"
import json, sys
got = json.load(open(sys.argv[1]))["signed"]["attack_detected"]
if sys.argv[2].lower() not in got.lower():
    sys.exit(f"attack_detected = {got!r}, expected it to mention {sys.argv[2]!r}")
PY
    done
}

say "a. the attacker's software under the assigned name and length"
malicious zone/v1.bin 100000 releases/evil-zone.bin "wrong sha256 hash (tampered)"

say "b. an image the director did not assign"
malicious zone/evil.bin 100000 releases/evil-zone.bin "the primary offered \"zone/evil.bin\""

say "c. one byte more than the director's length"
malicious zone/v1.bin 100000 evil-zone-long.bin "sent more than the 100000 bytes"

say "the real agent's next cycle carries both secondaries' reports to the server"
prev=$(latest_manifest_id)
run_agent
[ "$AGENT_RC" -eq 0 ] || die "the agent's honest cycle failed: $(tail -n 1 cycle.log)"
check_reported "$prev" ecu-z1 "sent more than the 100000 bytes"
check_reported "$prev" ecu-z2 "sent more than the 100000 bytes"

say "an honest primary: release 2 installs and the reports are clean"
release 2
assign 2
converge main/v2.bin zone/v2.bin
say "PASS: a compromised primary cannot install on a secondary"
