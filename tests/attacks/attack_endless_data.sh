#!/usr/bin/env bash
# Attack 6: endless data.
#
# Attacker: a man in the middle (or a compromised server) who answers with far more bytes than
# the vehicle asked for, to exhaust its memory, disk or bandwidth.
#
# What they do:
#   a. the director timestamp is followed by 1 GiB of filler (a timestamp is at most 16 KiB);
#   b. the image repository timestamp likewise;
#   c. release 2's main image is followed by 1 GiB more than the length its metadata lists.
#
# What must happen: the agent stops reading at its bound (the proxy sees the vehicle hang up
# long before the end), installs nothing on any ECU and reports the attack; afterwards release 2
# installs.
#
# usage: attack_endless_data.sh BIN_DIR ATTACK_TOOL PYTHON3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet
big=$((1024 * 1024 * 1024))

# hung_up PATH: the proxy's answer on PATH reached the vehicle only in part: the vehicle closed
# the connection at its bound (the proxy logs the answer when it ends).
hung_up() {
    local line=""
    for _ in $(seq 100); do
        line=$(grep -F " append " proxy.log | grep -F "$1" | tail -n 1 || true)
        [ -n "$line" ] && break
        sleep 0.1
    done
    [ -n "$line" ] || die "the proxy never finished its answer to $1"
    echo "$line" | awk '{split($NF, a, "/"); exit !(a[1] < 64 * 1024 * 1024)}' ||
        die "the vehicle read on and on: $line"
    echo "   proxy: $line"
    : >proxy.log
}

say "a. a director timestamp of 1 GiB"
mount_attack "{\"rules\": [{\"match\": \"/director/timestamp\\\\.json\$\", \"action\": \"append\",
                            \"bytes\": $big}]}"
expect_attack "director metadata: timestamp: timestamp.json is larger than the limit"
hung_up "/director/timestamp.json"

say "b. an image repository timestamp of 1 GiB"
mount_attack "{\"rules\": [{\"match\": \"/image/metadata/timestamp\\\\.json\$\", \"action\": \"append\",
                            \"bytes\": $big}]}"
expect_attack "image repository metadata: timestamp: timestamp.json is larger than the limit"
hung_up "/image/metadata/timestamp.json"

say "c. release 2's main image followed by 1 GiB more than its length"
release 2
assign 2
mount_attack "{\"rules\": [{\"match\": \"/image/targets/main/\", \"action\": \"append\",
                            \"bytes\": $big}]}"
expect_attack "server sent more than the image's length"
hung_up "/image/targets/main/"

unmount_attack
say "attacker gone: release 2 installs"
converge main/v2.bin zone/v2.bin
say "PASS: endless data refused"
