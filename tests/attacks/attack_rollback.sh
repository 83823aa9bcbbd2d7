#!/usr/bin/env bash
# Attack 4: rollback.
#
# Attacker: a director that names an older release (compromised, or an operator's mistake), and
# a man in the middle who recorded the metadata the vehicle fetched in the past and replays it.
#
# What they do, once the vehicle runs release 2:
#   a. the director assigns release 1 again: validly signed director targets whose release
#      counter (1) is below the one the main ECU runs (2);
#   b. replay the director timestamp of the release 1 days (a lower version than trusted);
#   c. replay the whole director repository of those days (timestamp, snapshot, targets);
#   d. replay the image repository's timestamp of those days.
#
# What must happen: the release counter never goes down (Uptane) and no metadata version goes
# down (TUF): the agent refuses, installs nothing and reports the attack; afterwards release 3
# installs.
#
# usage: attack_rollback.sh BIN_DIR ATTACK_TOOL PYTHON3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet
mkdir -p old-director
for r in timestamp snapshot targets; do
    vehicle_get /v1/vehicle/director/$r.json old-director/$r.json
done
cp imagerepo/metadata/timestamp.json old-image-timestamp.json
release 2
assign 2
converge main/v2.bin zone/v2.bin

say "a. the director assigns release 1 (release counter 1) to the main ECU, which runs 2"
sdv assign --target main/v1.bin --vin "$VIN" >/dev/null
expect_attack "release counter lower than the installed one"
sdv assign --target main/v2.bin --vin "$VIN" >/dev/null

say "b. an older director timestamp replayed"
mount_attack "{\"rules\": [{\"match\": \"/director/timestamp\\\\.json\$\", \"action\": \"serve\",
                            \"file\": \"$W/old-director/timestamp.json\"}]}"
expect_attack "director metadata: timestamp: version"

say "c. the whole older director repository replayed"
mount_attack "{\"rules\": [{\"match\": \"/director/timestamp\\\\.json\$\", \"action\": \"serve\",
                            \"file\": \"$W/old-director/timestamp.json\"},
                           {\"match\": \"/director/snapshot\\\\.json\$\", \"action\": \"serve\",
                            \"file\": \"$W/old-director/snapshot.json\"},
                           {\"match\": \"/director/targets\\\\.json\$\", \"action\": \"serve\",
                            \"file\": \"$W/old-director/targets.json\"}]}"
expect_attack "is lower than trusted version"

say "d. an older image repository timestamp replayed"
mount_attack "{\"rules\": [{\"match\": \"/image/metadata/timestamp\\\\.json\$\", \"action\": \"serve\",
                            \"file\": \"$W/old-image-timestamp.json\"}]}"
expect_attack "image repository metadata: timestamp: version"

unmount_attack
say "attacker gone: release 3 installs"
release 3
assign 3
converge main/v3.bin zone/v3.bin
say "PASS: rollback refused"
