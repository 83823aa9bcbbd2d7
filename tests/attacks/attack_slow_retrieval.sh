#!/usr/bin/env bash
# Attack 9: slow retrieval.
#
# Attacker: a man in the middle (or a compromised mirror) who answers, but trickles the bytes
# (1 byte per second) so that the vehicle never finishes an update and never notices, holding it
# on old software indefinitely.
#
# What they do:
#   a. the director timestamp trickles;
#   b. release 2's main image trickles.
#
# The agent's minimum speed is configured here as 1 KiB/s over 3 s, with 2 download attempts.
#
# What must happen: each transfer is aborted by the minimum-speed check, the cycle ends within a
# bounded time (well before the trickle would end), nothing is installed on any ECU, and the
# attack is reported (lib/net's SDV_ESLOW); afterwards release 2 installs.
#
# Known gap (ctest attack_slow_retrieval_reported, disabled until fixed): lib/agent reports
# SDV_ESLOW as an attack for metadata, but for an image download fetch_image() in
# lib/agent/agent_cycle.c fills attack_detected only for SDV_EHASH and SDV_ETOOBIG, so a trickled
# image is refused (nothing installed) but reported as a plain failure. With
# SLOW_IMAGE_REPORTED=1 this script demands the attack report for (b) as well.
#
# usage: attack_slow_retrieval.sh BIN_DIR ATTACK_TOOL PYTHON3
AGENT_MIN_SPEED_TIME_S=3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet

# within SECONDS: the last agent cycle took at most SECONDS.
within() {
    [ "$CYCLE_S" -le "$1" ] || die "the cycle took $CYCLE_S s under a trickle (bound $1 s)"
    echo "   cycle ended after $CYCLE_S s"
}
timed() {
    local t0=$SECONDS
    "$@"
    CYCLE_S=$((SECONDS - t0))
}

say "a. the director timestamp trickles at 1 byte/s"
mount_attack '{"rules": [{"match": "/director/timestamp\\.json$", "action": "trickle", "rate": 1}]}'
timed expect_attack "director metadata: timestamp"
within 20

say "b. release 2's main image trickles at 1 byte/s"
release 2
assign 2
mount_attack '{"rules": [{"match": "/image/targets/main/", "action": "trickle", "rate": 1}]}'
if [ -n "${SLOW_IMAGE_REPORTED:-}" ]; then
    timed expect_attack "image main/v2.bin"
else
    timed expect_refused "ECU image main/v2.bin: .*slower than the minimum speed"
fi
within 30

unmount_attack
say "attacker gone: release 2 installs"
converge main/v2.bin zone/v2.bin
say "PASS: slow retrieval refused"
