#!/usr/bin/env bash
# Attack 1: arbitrary software.
#
# Attacker: controls the server's disk and the network between server and vehicle, but holds no
# signing key: not the image repository's offline targets key, nor any online key.
#
# What they do:
#   a. replace a released image on the server (in the artifact store and the repository's
#      targets directory) with their own software of the same length;
#   b. serve image repository targets metadata of their own that lists their software under the
#      name of the release, signed by a key of their own;
#   c. the same, unsigned.
#
# What must happen: the agent refuses (image hashes; targets signature threshold), installs
# nothing on any ECU, reports the attack in its signed manifest; once the attacker is gone the
# next cycle installs the genuine release.
#
# usage: attack_arbitrary_software.sh BIN_DIR ATTACK_TOOL PYTHON3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet

say "a. release 2's main image replaced on the server by the attacker's software"
release 2
sha=$(sha256sum releases/main-v2.bin | cut -d' ' -f1)
replaced=()
for f in "server/artifacts/sha256/${sha:0:2}/$sha" imagerepo/targets/main/*v2.bin; do
    [ -f "$f" ] || continue
    cp -p "$f" "$f.genuine"
    cp releases/evil-main.bin "$f.tmp" && mv "$f.tmp" "$f"
    replaced+=("$f")
done
[ ${#replaced[@]} -gt 0 ] || die "found no copy of main/v2.bin on the server to replace"
assign 2
expect_attack "does not match its length and hashes"
for f in "${replaced[@]}"; do mv "$f.genuine" "$f"; done
say "attacker gone: the genuine release 2 installs"
converge main/v2.bin zone/v2.bin

say "b. release 3's image targets metadata forged: the attacker's image, the attacker's key"
release 3
assign 3
v=$(image_version targets)
forge target "imagerepo/metadata/$v.targets.json" forged-targets.json main/v3.bin \
    --file releases/evil-main.bin
sign forged-targets.json attacker.pem
mount_attack "{\"rules\": [{\"match\": \"/image/metadata/($v\\\\.)?targets\\\\.json\$\",
                            \"action\": \"serve\", \"file\": \"$W/forged-targets.json\"}]}"
expect_attack "signature threshold not met"

say "c. the same metadata without any signature"
sign forged-targets.json
expect_attack "signature threshold not met"

unmount_attack
say "attacker gone: the genuine release 3 installs"
converge main/v3.bin zone/v3.bin
say "PASS: arbitrary software refused"
