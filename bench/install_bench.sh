#!/usr/bin/env bash
# install_bench.sh [--quick] [--size MIB] [--rounds R] [--dir DIR] BIN_DIR
#
# A/B installation (issue 5): `sdv slot install` writing an image into a file-backed slot,
# hashing it while writing, fsyncing and reading it back to verify it (after dropping the cached
# pages), next to the baseline of the same work with standard tools, in the same run on the same
# image: `dd bs=1M conv=fsync` into a slot file, then `sha256sum` of that file after dropping
# its cached pages (dd iflag=nocache count=0). The expected hash is given to sdv (--sha256, as
# the agent has it from the metadata), so both read the image once.
# Prints, as medians of R rounds (default 3; --quick 1): wall seconds, MB/s (10^6 bytes per
# second of write + verify), the ratio ours/baseline, and the peak RSS (GNU time) of the
# installing process, with the issue's target (under 32 MiB for a 1 GiB image).
#
# SIZE defaults to 1024 MiB (--quick: 64 MiB). DIR (default: build/install-bench under the source
# tree) must have room for three images. BIN_DIR holds sdv (a Release build for real figures).
# Fails only when a tool fails or a slot does not hold the image afterwards.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib-bench.sh
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib-bench.sh"

usage="usage: install_bench.sh [--quick] [--size MIB] [--rounds R] [--dir DIR] BIN_DIR"
src=$(cd "$(dirname "$0")/.." && pwd)
size="" rounds="" dir="" bin_dir="" quick=0
while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --size) size=${2:?$usage}; shift ;;
    --rounds) rounds=${2:?$usage}; shift ;;
    --dir) dir=${2:?$usage}; shift ;;
    -h | --help) echo "$usage"; exit 0 ;;
    -*) echo "$usage" >&2; exit 2 ;;
    *) bin_dir=$1 ;;
    esac
    shift
done
[ -n "$bin_dir" ] || { echo "$usage" >&2; exit 2; }
[ -n "$size" ] || { [ "$quick" = 1 ] && size=64 || size=1024; }
[ -n "$rounds" ] || { [ "$quick" = 1 ] && rounds=1 || rounds=3; }
[ -n "$dir" ] || dir="$src/build/install-bench"
sdv="$(cd "$bin_dir" && pwd)/sdv"
gnu_time=/usr/bin/time
[ -x "$gnu_time" ] || { echo "install_bench: GNU time missing (Debian package time)" >&2; exit 1; }
[ -x "$sdv" ] || { echo "install_bench: $sdv missing" >&2; exit 1; }

mkdir -p "$dir"
w=$(mktemp -d "$dir/run.XXXXXX")
trap 'rm -rf "$w"' EXIT
bytes=$((size * 1024 * 1024))
echo "install_bench: $(date -u +%Y-%m-%d), $(nproc) CPUs, image $size MiB, medians of $rounds round(s), in $dir"
head -c "$bytes" /dev/urandom >"$w/image"
sha=$(sha256sum "$w/image" | cut -d' ' -f1)
head -c 4096 /dev/zero >"$w/a.img"
cat >"$w/conf.json" <<JSON
{"state_dir": "state", "install": {"bootloader": "file", "boot_state": "bootstate.json",
 "groups": [{"name": "rootfs", "slots": [
   {"name": "A", "path": "a.img", "size": $((bytes * 2)), "bootname": "A"},
   {"name": "B", "path": "b.img", "size": $((bytes * 2)), "bootname": "B"}]}]}}
JSON

mbps() { awk -v b="$bytes" -v t="$1" 'BEGIN {printf "%.1f", (t > 0) ? b / t / 1e6 : 0}'; }

ours_t=() ours_m=() base_t=() dd_m=()
for r in $(seq 1 "$rounds"); do
    # Ours: a fresh transaction into an empty slot file.
    rm -rf "$w/state" "$w/bootstate.json" "$w/b.img"
    "$sdv" slot boot-sim --config "$w/conf.json" >/dev/null
    "$gnu_time" -f "%e %M" -o "$w/t.ours" \
        "$sdv" slot install --config "$w/conf.json" --version "r$r" --sha256 "$sha" \
        --checkpoint $((64 * 1024 * 1024)) "$w/image" >/dev/null
    cmp -s "$w/image" "$w/b.img" || { echo "install_bench: slot B does not hold the image" >&2; exit 1; }
    read -r t m <"$w/t.ours"
    ours_t+=("$t") ours_m+=("$m")
    # Baseline: dd with fsync, drop the cached pages, sha256sum reads back.
    rm -f "$w/dd.img"
    "$gnu_time" -f "%e %M" -o "$w/t.dd" dd if="$w/image" of="$w/dd.img" bs=1M conv=fsync status=none
    dd if="$w/dd.img" iflag=nocache count=0 status=none
    "$gnu_time" -f "%e %M" -o "$w/t.sum" sha256sum "$w/dd.img" >"$w/sum"
    [ "$(cut -d' ' -f1 "$w/sum")" = "$sha" ] || { echo "install_bench: dd copy differs" >&2; exit 1; }
    read -r t1 m1 <"$w/t.dd"
    read -r t2 _ <"$w/t.sum"
    base_t+=("$(awk -v a="$t1" -v b="$t2" 'BEGIN {print a + b}')") dd_m+=("$m1")
done
ot=$(sdv_bench_median "${ours_t[@]}") om=$(sdv_bench_median "${ours_m[@]}") bt=$(sdv_bench_median "${base_t[@]}")
printf '%-34s %10s %10s %12s\n' "" "seconds" "MB/s" "peak RSS KiB"
printf '%-34s %10s %10s %12s\n' "sdv slot install (write+verify)" "$ot" "$(mbps "$ot")" "$om"
printf '%-34s %10s %10s %12s\n' "dd conv=fsync + sha256sum" "$bt" "$(mbps "$bt")" "$(sdv_bench_median "${dd_m[@]}")"
ratio=$(awk -v a="$ot" -v b="$bt" 'BEGIN {printf "%.2f", (a > 0) ? b / a : 0}')
echo "throughput ours/baseline: ${ratio}x"
target=$((32 * 1024))
if [ "$size" -ge 1024 ]; then
    verdict=$([ "$om" -lt "$target" ] && echo PASS || echo BELOW)
    echo "peak RSS installing $size MiB: $om KiB (target < $target KiB): $verdict"
else
    echo "peak RSS installing $size MiB: $om KiB (the 32 MiB target is for 1 GiB: run without --quick)"
fi
