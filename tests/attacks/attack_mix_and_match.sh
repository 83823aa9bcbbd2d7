#!/usr/bin/env bash
# Attack 7: mix-and-match.
#
# Attacker: a man in the middle who recorded genuine, validly signed metadata of an earlier
# release and serves it together with current metadata, hoping the vehicle accepts a combination
# that no repository ever published (each file alone verifies).
#
# Release 1 is installed and recorded; release 2 is published and assigned. Then:
#   a. the director's current timestamp and snapshot with the director targets of release 1;
#   b. the director's current metadata with the image repository of release 1 (its recorded
#      timestamp, which still verifies and is not expired);
#   c. the image repository's current timestamp with the snapshot of release 1;
#   d. the image repository's current snapshot with the targets of release 1.
# (The order matters: each attack hits a file the vehicle has not trusted yet.)
#
# What must happen: snapshot and timestamp pin the versions (and hashes) of what they list, and
# director and image repository must agree: the agent refuses, installs nothing and reports the
# attack; afterwards release 2 installs.
#
# usage: attack_mix_and_match.sh BIN_DIR ATTACK_TOOL PYTHON3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet
vehicle_get /v1/vehicle/director/targets.json old-director-targets.json
cp imagerepo/metadata/timestamp.json old-image-timestamp.json
release 2
assign 2
sv=$(image_version snapshot)
tv=$(image_version targets)

say "a. director timestamp and snapshot of today, director targets of release 1"
mount_attack "{\"rules\": [{\"match\": \"/director/targets\\\\.json\$\", \"action\": \"serve\",
                            \"file\": \"$W/old-director-targets.json\"}]}"
expect_attack "director metadata: targets"

say "b. director of release 2, image repository of release 1"
mount_attack "{\"rules\": [{\"match\": \"/image/metadata/timestamp\\\\.json\$\", \"action\": \"serve\",
                            \"file\": \"$W/old-image-timestamp.json\"}]}"
expect_attack "image repository does not list the target"

say "c. image timestamp of release 2, image snapshot of release 1"
mount_attack "{\"rules\": [{\"match\": \"/image/metadata/$sv\\\\.snapshot\\\\.json\$\",
                            \"action\": \"serve\", \"file\": \"$W/imagerepo/metadata/1.snapshot.json\"}]}"
expect_attack "image repository metadata: snapshot"

say "d. image snapshot of release 2, image targets of release 1"
mount_attack "{\"rules\": [{\"match\": \"/image/metadata/$tv\\\\.targets\\\\.json\$\",
                            \"action\": \"serve\", \"file\": \"$W/imagerepo/metadata/1.targets.json\"}]}"
expect_attack "image repository metadata: targets: version 1 does not match version $tv"

unmount_attack
say "attacker gone: release 2 installs"
converge main/v2.bin zone/v2.bin
say "PASS: mix-and-match refused"
