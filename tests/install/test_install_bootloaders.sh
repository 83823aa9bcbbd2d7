#!/usr/bin/env bash
# test_install_bootloaders.sh SDV: the GRUB and U-Boot backends of lib/install against the real
# tools: Debian's grub-editenv reads and writes the grubenv we write (our variables and a
# foreign one, saved_entry, preserved), and fw_printenv / fw_setenv of libubootenv read and
# write a file-backed U-Boot environment (redundant copies) that sdv slot uses. The booted slot
# comes from an injected kernel command line (sdv.slot=X); the firmware's own steps (GRUB's
# save_env of <slot>_TRY, U-Boot's decrement of BOOT_<slot>_LEFT) are done with the tools.
set -u
SDV=$(realpath "$1")
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../../scripts/lib-test.sh"
PASSED=0
FAILED=0
W=$(mktemp -d /tmp/sdv-bootloaders.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
head -c 40000 /dev/urandom >v1.img
head -c 30000 /dev/urandom >v2.img
head -c 35000 /dev/urandom >v3.img
cp v1.img a.img

check() { # check NAME CMD...: passes when CMD succeeds
    local name=$1
    shift
    if "$@" >check.out 2>&1; then
        sdv_pass "$name"
    else
        sdv_fail "$name" "$(head -c 600 check.out; echo; echo '--- last output:'; head -c 600 last.out 2>/dev/null)"
    fi
}
has() { grep -qx -- "$2" "$1"; } # has FILE LINE

# ---- GRUB --------------------------------------------------------------------------------
cat >grub.json <<JSON
{"state_dir": "grub-state", "install": {"bootloader": "grub", "boot_state": "grubenv",
 "initial_version": "1", "health_check": {"command": "true"},
 "groups": [{"name": "rootfs", "slots": [
   {"name": "A", "path": "a.img", "size": 1048576, "bootname": "A"},
   {"name": "B", "path": "b.img", "size": 1048576, "bootname": "B"}]}]}}
JSON
G=(--config grub.json)
grub-editenv grubenv create
grub-editenv grubenv set saved_entry=linux-1
check "grub: first boot on A marks it good" "$SDV" slot boot "${G[@]}" --cmdline "ro sdv.slot=A"
grub-editenv grubenv list >env.txt
check "grub: grub-editenv lists ORDER, A_OK, A_TRY, saved_entry" \
    bash -c 'grep -qx "ORDER=A B" env.txt && grep -qx A_OK=1 env.txt && grep -qx A_TRY=0 env.txt &&
             grep -qx B_OK=0 env.txt && grep -qx saved_entry=linux-1 env.txt'
check "grub: block is 1024 bytes" test "$(stat -c %s grubenv)" = 1024
check "grub: install v2 into B" "$SDV" slot install "${G[@]}" --cmdline sdv.slot=A --version 2 v2.img
grub-editenv grubenv list >env.txt
check "grub: activation puts B first, OK, untried" \
    bash -c 'grep -qx "ORDER=B A" env.txt && grep -qx B_OK=1 env.txt && grep -qx B_TRY=0 env.txt &&
             grep -qx saved_entry=linux-1 env.txt'
check "grub: B holds v2" cmp b.img v2.img
# GRUB boots B: its script sets B_TRY=1 and save_env.
grub-editenv grubenv set B_TRY=1
"$SDV" slot boot "${G[@]}" --cmdline sdv.slot=B >last.out 2>&1
check "grub: trial boot of B commits" grep -q "committed version 2" last.out
grub-editenv grubenv list >env.txt
check "grub: commit clears B_TRY" bash -c 'grep -qx B_OK=1 env.txt && grep -qx B_TRY=0 env.txt'
# v3 into A; GRUB tries A once (A_TRY=1) and the kernel never comes up; next boot GRUB skips A.
check "grub: install v3 into A" "$SDV" slot install "${G[@]}" --cmdline sdv.slot=B --version 3 v3.img
grub-editenv grubenv set A_TRY=1
check "grub: simulated firmware skips the tried A" bash -c "test \"\$('$SDV' slot boot-sim --config grub.json)\" = B"
grub-editenv grubenv list >env.txt
check "grub: firmware step set B_TRY=1 like save_env" grep -qx B_TRY=1 env.txt
"$SDV" slot boot "${G[@]}" --cmdline sdv.slot=B >last.out 2>&1
check "grub: fallback reported as a rollback with its reason" \
    grep -q "rolled back version 3: boot counter exhausted" last.out
grub-editenv grubenv list >env.txt
check "grub: A marked bad, B good again" \
    bash -c 'grep -qx A_OK=0 env.txt && grep -qx B_OK=1 env.txt && grep -qx B_TRY=0 env.txt &&
             grep -qx "ORDER=B A" env.txt'
check "grub: install log verifies" "$SDV" slot log --verify "${G[@]}"
# A block GRUB cannot read is an error, not a guess.
printf 'garbage' >bad.env
sed 's/"grubenv"/"bad.env"/' grub.json >grub-bad.json
if "$SDV" slot status --config grub-bad.json --cmdline sdv.slot=A >last.out 2>&1; then
    sdv_fail "grub: a damaged grubenv is refused"
else
    check "grub: a damaged grubenv is refused with a reason" grep -q "not a GRUB environment block" last.out
fi
# An ORDER naming a slot the configuration does not have is refused, never guessed around.
cp grubenv grubenv.good
grub-editenv grubenv set "ORDER=B C"
if "$SDV" slot status "${G[@]}" --cmdline sdv.slot=B >last.out 2>&1; then
    sdv_fail "grub: an ORDER with an unknown slot is refused"
else
    check "grub: an ORDER with an unknown slot is refused with a reason" \
        grep -q 'ORDER "B C" names an unknown slot' last.out
fi
cp grubenv.good grubenv

# ---- U-Boot ------------------------------------------------------------------------------
dd if=/dev/zero of=uboot1.env bs=1k count=16 2>/dev/null
dd if=/dev/zero of=uboot2.env bs=1k count=16 2>/dev/null
printf '%s 0x0 0x4000\n%s 0x0 0x4000\n' "$W/uboot1.env" "$W/uboot2.env" >fw_env.config
printf 'bootdelay=3\n' >defenv.txt
fw_setenv -c fw_env.config -f defenv.txt bootcmd "run sdv_boot" 2>/dev/null
check "uboot: environment initialised by fw_setenv" fw_printenv -c fw_env.config bootcmd
cp v1.img a.img
rm -f b.img
cat >uboot.json <<JSON
{"state_dir": "uboot-state", "install": {"bootloader": "uboot", "fw_env_config": "fw_env.config",
 "boot_attempts": 3, "initial_version": "1",
 "groups": [{"name": "rootfs", "slots": [
   {"name": "A", "path": "a.img", "size": 1048576, "bootname": "A"},
   {"name": "B", "path": "b.img", "size": 1048576, "bootname": "B"}]}]}}
JSON
U=(--config uboot.json)
check "uboot: first boot on A" "$SDV" slot boot "${U[@]}" --cmdline sdv.slot=A
fw_printenv -c fw_env.config >env.txt 2>&1
check "uboot: fw_printenv lists BOOT_ORDER and counters, bootcmd kept" \
    bash -c 'grep -qx "BOOT_ORDER=A B" env.txt && grep -qx BOOT_A_LEFT=3 env.txt &&
             grep -qx BOOT_B_LEFT=0 env.txt && grep -qx "bootcmd=run sdv_boot" env.txt'
check "uboot: install v2 into B" "$SDV" slot install "${U[@]}" --cmdline sdv.slot=A --version 2 v2.img
fw_printenv -c fw_env.config >env.txt 2>&1
check "uboot: activation puts B first with 3 tries" \
    bash -c 'grep -qx "BOOT_ORDER=B A" env.txt && grep -qx BOOT_B_LEFT=3 env.txt'
# U-Boot boots B three times (its script decrements), the kernel never comes up; then A.
for left in 2 1 0; do fw_setenv -c fw_env.config BOOT_B_LEFT $left; done
check "uboot: simulated firmware falls back to A" bash -c "test \"\$('$SDV' slot boot-sim --config uboot.json)\" = A"
"$SDV" slot boot "${U[@]}" --cmdline sdv.slot=A >last.out 2>&1
check "uboot: fallback reported with its reason" grep -q "rolled back version 2: boot counter exhausted" last.out
"$SDV" slot install "${U[@]}" --cmdline sdv.slot=A --version 2 v2.img >last.out 2>&1
fw_setenv -c fw_env.config BOOT_B_LEFT 2
"$SDV" slot boot "${U[@]}" --cmdline sdv.slot=B >last.out 2>&1
check "uboot: trial without health check awaits a verdict" grep -q "trial boot of version 2" last.out
check "uboot: mark-good commits" "$SDV" slot mark-good "${U[@]}" --cmdline sdv.slot=B
fw_printenv -c fw_env.config >env.txt 2>&1
check "uboot: mark-good resets the counter" grep -qx BOOT_B_LEFT=3 env.txt
"$SDV" slot status "${U[@]}" --cmdline sdv.slot=B >last.out 2>&1
check "uboot: status shows committed v2 running on B" \
    bash -c 'grep -qx "state: committed version 2" last.out && grep -qx "running: 2" last.out'
check "uboot: install log verifies (2 records)" bash -c "'$SDV' slot log --verify --config uboot.json | grep -qx 'log verified: 2 records'"
fw_setenv -c fw_env.config BOOT_ORDER "B B"
if "$SDV" slot status "${U[@]}" --cmdline sdv.slot=B >last.out 2>&1; then
    sdv_fail "uboot: a BOOT_ORDER naming a slot twice is refused"
else
    check "uboot: a BOOT_ORDER naming a slot twice is refused with a reason" \
        grep -q 'BOOT_ORDER names an unknown slot "B"' last.out
fi

echo "bootloaders: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
