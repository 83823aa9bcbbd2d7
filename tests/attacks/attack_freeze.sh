#!/usr/bin/env bash
# Attack 5: freeze.
#
# Attacker: a man in the middle who recorded the timestamps the vehicle last saw and keeps
# answering with them, so that the vehicle never learns of a new release (for example one that
# fixes a vulnerability they exploit).
#
# The fleet starts with one-hour timestamps; the vehicle installs release 1 and the attacker
# records both timestamps. The server then restarts with one-day timestamps, renews both, and
# release 2 is published and assigned. The attacker keeps serving the recorded timestamps:
#   - while they are valid, the vehicle cannot tell (TUF's limit): it installs nothing new;
#   - two hours later (faketime on the agent) the frozen director timestamp has expired;
#   - and so has the frozen image repository timestamp.
#
# What must happen: at +2 h the agent refuses each expired timestamp as a freeze attack,
# installs nothing and reports it; with the attacker gone, the same agent at +2 h accepts the
# server's renewed timestamps and installs release 2 (so the refusal was the freeze, not the
# clock).
#
# usage: attack_freeze.sh BIN_DIR ATTACK_TOOL PYTHON3
SERVER_EXTRA_TOP=', "renew_interval_s": 1'
SERVER_EXTRA_DIRECTOR=', "timestamp_lifetime_s": 3600'
SERVER_EXTRA_IMAGE=', "timestamp_lifetime_s": 3600'
IMAGE_TIMESTAMP_EXPIRES_IN=1h
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet
vehicle_get /v1/vehicle/director/timestamp.json frozen-director-timestamp.json
cp imagerepo/metadata/timestamp.json frozen-image-timestamp.json

say "the server restarts with one-day timestamps and renews both"
stop_server
SERVER_EXTRA_DIRECTOR=""
SERVER_EXTRA_IMAGE=""
start_server
dv=$(json_get frozen-director-timestamp.json signed version)
iv=$(json_get frozen-image-timestamp.json signed version)
for _ in $(seq 100); do
    vehicle_get /v1/vehicle/director/timestamp.json director-timestamp.json
    [ "$(json_get director-timestamp.json signed version)" -gt "$dv" ] &&
        [ "$(json_get imagerepo/metadata/timestamp.json signed version)" -gt "$iv" ] && break
    sleep 0.1
done
[ "$(json_get director-timestamp.json signed version)" -gt "$dv" ] || die "director timestamp not renewed"
[ "$(json_get imagerepo/metadata/timestamp.json signed version)" -gt "$iv" ] ||
    die "image timestamp not renewed"
release 2
assign 2

freeze_both="{\"rules\": [{\"match\": \"/director/timestamp\\\\.json\$\", \"action\": \"serve\",
                          \"file\": \"$W/frozen-director-timestamp.json\"},
                         {\"match\": \"/image/metadata/timestamp\\\\.json\$\", \"action\": \"serve\",
                          \"file\": \"$W/frozen-image-timestamp.json\"}]}"
say "both timestamps frozen, still valid: the vehicle cannot tell and installs nothing new"
mount_attack "$freeze_both"
before=$(ecu_state)
run_agent
[ "$(ecu_state)" = "$before" ] || die "an ECU changed although the vehicle saw no new metadata"

say "a. two hours later the frozen director timestamp has expired"
expect_attack "director metadata: timestamp: version $dv expired" ecu-main +2h

say "b. the frozen image repository timestamp alone"
mount_attack "{\"rules\": [{\"match\": \"/image/metadata/timestamp\\\\.json\$\", \"action\": \"serve\",
                            \"file\": \"$W/frozen-image-timestamp.json\"}]}"
expect_attack "image repository metadata: timestamp: version $iv expired" ecu-main +2h

unmount_attack
say "attacker gone: two hours later the renewed timestamps verify and release 2 installs"
converge main/v2.bin zone/v2.bin +2h
say "PASS: freeze refused"
