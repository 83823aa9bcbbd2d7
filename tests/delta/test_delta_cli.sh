#!/usr/bin/env bash
# `sdv delta` end to end: diff, apply (regular OUT and --slot), info, and every failure path:
# a wrong base, truncated and corrupted patches, a memory limit too small, bad usage. On failure
# the exit status is 1 with a message, and OUT never looks complete (absent, unchanged, or a
# slot whose first 4 KiB are zero).
# Usage: test_delta_cli.sh SDV_BINARY
set -euo pipefail
sdv=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
# expect_fail PATTERN CMD...: CMD must exit 1 and print PATTERN on stderr.
expect_fail() {
    local pattern=$1 rc=0
    shift
    "$@" 2>err.txt >/dev/null || rc=$?
    [ "$rc" = 1 ] || fail "exit $rc, expected 1: $*"
    grep -q -- "$pattern" err.txt || fail "no \"$pattern\" in: $(cat err.txt)"
}

seq 1 150000 >old
sed -e 's/^1234$/one two three four/' -e '/^5000[0-9]$/d' old >new
printf 'appended tail\n' >>new

# diff writes the patch atomically: no temporary file is left.
"$sdv" delta diff --level 9 --threads 2 old new patch
[ -s patch ] || fail "no patch"
[ -z "$(ls | grep '\.tmp\.')" ] || fail "temporary file left"
[ "$(stat -c %s patch)" -lt 2000 ] || fail "patch too large: $(stat -c %s patch)"

# info: version, sizes, hashes and stream sizes.
"$sdv" delta info patch >info.txt
grep -qx 'format_version: 2' info.txt || fail "info: version"
grep -qx "old_size: $(stat -c %s old)" info.txt || fail "info: old size"
grep -qx "new_size: $(stat -c %s new)" info.txt || fail "info: new size"
grep -qx "old_sha256: $(sha256sum old | cut -d' ' -f1)" info.txt || fail "info: old sha256"
grep -qx "new_sha256: $(sha256sum new | cut -d' ' -f1)" info.txt || fail "info: new sha256"
grep -q '^stream_diff_compressed: [0-9]' info.txt || fail "info: stream sizes"
grep -qx "patch_size: $(stat -c %s patch)" info.txt || fail "info: patch size"

# apply to a regular file, with the peak memory on -v.
"$sdv" delta apply -v old patch out 2>apply.txt
cmp out new || fail "apply: wrong output"
[ ! -e out.part ] || fail "out.part left"
grep -q 'peak decoder working memory [0-9]' apply.txt || fail "-v: no peak memory"
# A new apply replaces an existing OUT.
"$sdv" delta apply old patch out

# A wrong base is refused before anything is written.
cp old wrong
printf 'X' | dd of=wrong bs=1 seek=10 conv=notrunc 2>/dev/null
expect_fail 'not the base' "$sdv" delta apply wrong patch out2
[ ! -e out2 ] && [ ! -e out2.part ] || fail "wrong base: output written"

# Truncated and corrupted patches: exit 1, OUT absent or unchanged, no OUT.part left.
size=$(stat -c %s patch)
head -c $((size - 10)) patch >trunc
expect_fail 'truncated' "$sdv" delta apply old trunc out3
[ ! -e out3 ] && [ ! -e out3.part ] || fail "truncated: output left"
cp patch flipped
printf '\xff' | dd of=flipped bs=1 seek=$((size - 20)) conv=notrunc 2>/dev/null
cp new before
expect_fail 'apply failed' "$sdv" delta apply old flipped out
cmp out before || fail "corrupted patch changed an existing OUT"
[ ! -e out.part ] || fail "corrupted: out.part left"
head -c 50 patch >short
expect_fail 'truncated in its header' "$sdv" delta apply old short out4
expect_fail 'not an OpenSDV delta' "$sdv" delta info old

# Memory limit: too small is refused before writing; a patch with small blocks fits.
expect_fail 'working memory' "$sdv" delta apply --memory-limit 1M old patch out5
[ ! -e out5 ] && [ ! -e out5.part ] || fail "memory limit: output written"
"$sdv" delta diff --block-size 64K old new patch64k
"$sdv" delta apply --memory-limit 1M old patch64k out5
cmp out5 new || fail "small blocks: wrong output"

# A slot (in place): the image lands at offset 0. A failure after the first output byte leaves
# the head zero; a failure before it (wrong base, truncated first block) leaves the slot as it
# was.
head -c 2000000 /dev/zero | tr '\0' 'J' >slot
"$sdv" delta apply --slot old patch slot
cmp -n "$(stat -c %s new)" slot new || fail "slot: wrong image"
cp slot slot.before
expect_fail 'not the base' "$sdv" delta apply --slot wrong patch slot
cmp slot slot.before || fail "slot: wrong base touched the slot"
head -c $(($(stat -c %s patch64k) * 2 / 3)) patch64k >trunc64k
expect_fail 'first 4096 bytes are left zero' "$sdv" delta apply --slot old trunc64k slot
[ "$(head -c 4096 slot | tr -d '\0' | wc -c)" = 0 ] || fail "slot: head not zeroed on failure"
cmp -s -n "$(stat -c %s new)" slot new && fail "slot: looks complete after a failure"

# Empty files, xz, and OUT = OLD refused.
: >empty
"$sdv" delta diff empty new p_e && "$sdv" delta apply empty p_e o_e && cmp o_e new
"$sdv" delta diff new empty p_e2 && "$sdv" delta apply new p_e2 o_e2 && cmp o_e2 empty
"$sdv" delta diff --codec xz old new p_xz && "$sdv" delta apply old p_xz o_xz && cmp o_xz new
expect_fail 'in-place patching' "$sdv" delta apply old patch old

# Compressed content: an .xz file (the xz tool, same liblzma) whose text changed is recompressed
# on the device; info names the libraries that made the regions. (A gzip member made by GNU gzip
# is decompressed but stays bytes: its deflate is not zlib's.)
# (100 KB of text: its compressor, with the dictionary cut to the input, needs 2.7 MiB on the
# device; a 1 MB input would need 12 MiB, above SDV_DELTA_REGION_CODEC_MEM_MAX, and stay bytes.)
head -c 100000 old >t_old
sed -e 's/^1240$/changed/' t_old >t_new
{ head -c 3000 old; xz -6 -c t_old; tail -c 2000 old; } >gz_old
{ head -c 3000 old; xz -6 -c t_new; tail -c 2000 old; } >gz_new
"$sdv" delta diff -v gz_old gz_new gz_patch 2>gz_diff.txt
grep -q 'compressed regions: 1 old decompressed, 1 new recompressed' gz_diff.txt ||
    fail "diff -v: regions: $(cat gz_diff.txt)"
"$sdv" delta info gz_patch >gz_info.txt
grep -qx 'new_regions: 1' gz_info.txt || fail "info: new regions"
grep -qx 'old_regions: 1' gz_info.txt || fail "info: old regions"
grep -q '^region_libraries: liblzma .* zstd .* zlib ' gz_info.txt || fail "info: libraries"
[ "$(stat -c %s gz_patch)" -lt 3000 ] || fail "xz patch too large: $(stat -c %s gz_patch)"
"$sdv" delta apply gz_old gz_patch gz_out && cmp gz_out gz_new || fail "xz region: wrong output"

# Usage errors.
expect_fail 'usage' "$sdv" delta
expect_fail 'usage' "$sdv" delta diff old new
expect_fail 'unknown option' "$sdv" delta diff --bogus old new p
expect_fail 'level' "$sdv" delta diff --level 40 old new p
expect_fail 'cannot open' "$sdv" delta diff missing new p
expect_fail 'cannot open' "$sdv" delta apply old missing out6
expect_fail 'unknown delta command' "$sdv" delta frobnicate
echo "test_delta_cli: all passed"
