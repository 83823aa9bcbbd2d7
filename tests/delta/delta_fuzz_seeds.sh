#!/usr/bin/env bash
# Writes the seed corpora of fuzz/delta.cmake: real patches against the fuzz harness's fixed
# 4 KiB old image (fuzz_delta_decode.c, fuzz_old()) and raw OLD|NEW inputs for the round trip.
# Usage: delta_fuzz_seeds.sh SDV_BINARY FUZZ_CORPUS_DIR   (e.g. build/debug/bin/sdv fuzz/corpus)
set -euo pipefail
sdv=$1
corpus=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$work" <<'PY'
import gzip, lzma, os, random, sys
w = sys.argv[1]
old = bytearray(((i % 251) ^ (i >> 8) ^ (0x5a if i % 7 == 0 else 0)) & 0xff for i in range(4096))
# The gzip member of fuzz_delta_decode.c (FUZZ_GZIP_AT): 1080 bytes of text at level 9.
text = b'compressed file in the old image, version 1. ' * 24
gz = gzip.compress(text, 9, mtime=0)
assert gz.hex() == ('1f8b08000000000002034bcecf2d284a2d2e4e4d5148cbcc4955c8cc5328c94855c8cf4951'
                   'c8cc4d4c4fd551284b2d2acecccf5330d453481e553caa7854f1a8623d050088f7d1e138040000'), \
    'the gzip member differs from the one in fuzz_delta_decode.c'
old[1024:1024 + len(gz)] = gz
old = bytes(old)
open(os.path.join(w, 'old'), 'wb').write(old)
r = random.Random(4)
# Compressed regions: the gzip member's text edited (a new region recompressed from an old one
# decompressed), and an xz stream added (its compressor needs more than the harness's 1 MiB).
gz2 = gzip.compress(text.replace(b'version 1', b'version 2', 3), 9, mtime=0)
xz = lzma.compress(text * 2, format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC32, preset=6)
news = {
    'same': old,
    'edit': old[:1000] + b'\x01\x02\x03' + old[1003:],
    'insert': old[:2000] + bytes(r.randrange(256) for _ in range(300)) + old[2000:],
    'delete': old[:500] + old[1500:],
    'random': bytes(r.randrange(256) for _ in range(700)),
    'moved': old[3000:] + old[:3000],
    'empty': b'',
    'gzedit': old[:1024] + gz2 + old[1024 + len(gz):],
    'xzadd': old[:3000] + xz + old[3000:],
}
for k, v in news.items():
    open(os.path.join(w, 'new.' + k), 'wb').write(v)
PY
mkdir -p "$corpus/delta_decode" "$corpus/delta_roundtrip"
i=0
for f in "$work"/new.*; do
    name=${f##*/new.}
    for bs in 256 4096; do
        "$sdv" delta diff --level 3 --block-size "$bs" "$work/old" "$f" "$work/p"
        # First byte: feed size ((b % 64) + 1); 0x3f feeds the whole patch at once.
        { printf "$(printf '\\x%02x' $((i * 7 % 64)))"; cat "$work/p"; } >"$corpus/delta_decode/$name-$bs"
        i=$((i + 1))
    done
done
"$sdv" delta diff --codec xz --level 3 --block-size 1024 "$work/old" "$work/new.insert" "$work/p"
{ printf '\x3f'; cat "$work/p"; } >"$corpus/delta_decode/insert-xz"
# Damaged: truncated in a block, and one bit flipped in a compressed stream.
head -c 300 "$corpus/delta_decode/insert-4096" >"$corpus/delta_decode/truncated"
python3 - "$corpus/delta_decode/edit-4096" "$corpus/delta_decode/flipped" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[len(d) - 5] ^= 0x10
open(sys.argv[2], 'wb').write(bytes(d))
PY

# Round trip: two bytes choose the split, one the feed size, then OLD|NEW.
python3 - "$corpus/delta_roundtrip" <<'PY'
import gzip, os, random, sys
d = sys.argv[1]
r = random.Random(5)
base = bytes(r.randrange(256) for _ in range(1500)) + b'the quick brown fox ' * 40
def seed(name, old, new, step):
    split = len(old)
    data = bytes([split >> 8, split & 0xff, step]) + old + new
    open(os.path.join(d, name), 'wb').write(data)
seed('edit', base, base[:700] + b'XYZ' + base[703:], 3)
seed('insert', base, base[:100] + bytes(range(256)) + base[100:], 17)
seed('empty-old', b'', base, 1)
seed('empty-new', base, b'', 5)
seed('shuffled', base, base[1200:] + base[:1200], 31)
gz_text = b'a compressed member inside the image ' * 30
seed('gzip', base[:500] + gzip.compress(gz_text, 6, mtime=0) + base[500:],
     base[:500] + gzip.compress(gz_text.replace(b'member', b'MEMBER', 2), 6, mtime=0) + base[500:], 9)
PY
