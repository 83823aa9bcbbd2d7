#!/usr/bin/env bash
# Attack 2: the director is compromised alone.
#
# Attacker: owns the director: its database (the server's store) and its online keys (targets,
# snapshot, timestamp). Every director metadata file they write verifies. They hold no key of
# the image repository, whose targets are signed offline.
#
# What they do (each time re-signing director targets, snapshot and timestamp with the genuine
# director keys and writing them straight into the store, past the server's own checks of
# assignments against the image repository):
#   a. name an image the image repository does not list (main/evil.bin);
#   b. name a released image (main/v2.bin) with the hashes of their software;
#   c. name a released image with another length;
#   d. name an image for another hardware id (the zone controller's image for the main ECU);
#   e. claim another hardware id for an ECU (ecu-z1 is "hw-main" and must run the main image).
#
# What must happen: director and image repository must agree (Uptane's checks in the primary):
# the agent refuses, installs nothing on any ECU and reports the rule that failed; once the
# director is honest again (a new assignment re-signs above the forged versions) the vehicle
# installs the genuine release.
#
# usage: attack_director_compromised.sh BIN_DIR ATTACK_TOOL PYTHON3
source "$(dirname "${BASH_SOURCE[0]}")/attack_harness.sh"
setup_fleet
release 2

say "a. the director names an image the image repository lacks"
forge_director ecu-main main/evil.bin releases/evil-main.bin hw-main 2
expect_attack "image repository does not list the target"

say "b. the director names main/v2.bin with the hashes of the attacker's software"
forge_director ecu-main main/v2.bin releases/evil-main.bin hw-main 2
expect_attack "hashes differ between director and image repository"

say "c. the director names main/v2.bin with another length"
forge_director ecu-main main/v2.bin releases/main-v2.bin hw-main 2 200001
expect_attack "length differs between director and image repository"

say "d. the director names the zone controller's image for the main ECU"
forge_director ecu-main zone/v2.bin releases/zone-v2.bin hw-main 2
expect_attack "hardware id mismatch"

say "e. the director claims ecu-z1 is a main ECU and must run the main image"
forge_director ecu-z1 main/v2.bin releases/main-v2.bin hw-main 2
expect_attack "hardware id mismatch"

say "director honest again: a new assignment re-signs above the forged versions"
assign 2
converge main/v2.bin zone/v2.bin
say "PASS: a compromised director alone cannot install anything"
