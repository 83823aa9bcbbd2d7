#!/usr/bin/env bash
# Attack 3: the image repository's online keys are compromised alone.
#
# Attacker: owns the server's image repository directory and the online snapshot and timestamp
# keys the server holds. The root and targets keys are offline with the release engineer; the
# director is honest.
#
# What they do:
#   a. publish targets metadata of their making (release 2's main image replaced by their
#      software; signed with a key of their own, since they lack the targets key) under a
#      snapshot and timestamp validly re-signed with the genuine online keys;
#   b. re-sign snapshot and timestamp to point back at release 1's genuine targets metadata
#      (hiding release 2 with a rollback of targets).
#
# What must happen: the snapshot and timestamp verify, but targets does not (a) or goes back
# (b): the agent refuses, installs nothing and reports the attack. TUF's rollback protection
# means the vehicle now trusts the forged snapshot and timestamp versions, so the recovering
# repository publishes above them (a new release and two publishes, as a release engineer
# would after a compromise), and the vehicle installs the new release.
#
# usage: attack_image_online_keys.sh BIN_DIR ATTACK_TOOL PYTHON3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet
release 2
assign 2
cp -a imagerepo/metadata genuine-metadata

say "a. targets of the attacker's making under a validly re-signed snapshot and timestamp"
v=$(image_version targets)
forge target "imagerepo/metadata/$v.targets.json" forged-targets.json main/v2.bin \
    --file releases/evil-main.bin
forge bump forged-targets.json forged-targets.json
sign forged-targets.json attacker.pem
forge_image_online forged-targets.json
expect_attack "image repository metadata: targets: signature threshold not met"

say "b. snapshot and timestamp re-signed to point back at release 1's targets"
forge_image_online imagerepo/metadata/1.targets.json
expect_attack "lower than trusted version"

say "the genuine repository publishes above the forged versions: release 3"
rm -rf imagerepo/metadata
cp -a genuine-metadata imagerepo/metadata
release 3
admin -X POST "$URL/v1/admin/image/publish" >/dev/null
admin -X POST "$URL/v1/admin/image/publish" >/dev/null
assign 3
converge main/v3.bin zone/v3.bin
say "PASS: the image repository's online keys alone cannot install anything"
