#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_delta_exec (reference map payloads, section type 3) into the
directory given as argument: valid maps for the fuzzer's 64 KiB image (x86-64, AArch64, two
ELFs per side, .bss) and a few damaged ones. The byte layout is docs/delta-format.md,
"Section type 3: reference map"."""
import os
import sys


def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def zigzag(v):
    return (v << 1) ^ (v >> 63) if v >= 0 else ((-v - 1) << 1) | 1


def image(elfs):
    """elfs: list of (arch, [(gap, filesz, vaddr, bss, exec)])"""
    out = varint(len(elfs))
    for arch, segs in elfs:
        out += bytes([arch]) + varint(len(segs))
        for gap, filesz, vaddr, bss, ex in segs:
            out += varint(gap) + varint(filesz) + varint(vaddr) + varint(bss) + bytes([ex])
    return out


def steps(st):
    out = varint(len(st))
    prev_off, prev_d = 0, 0
    for off, d in st:
        out += varint(off - prev_off) + varint(zigzag(d - prev_d))
        prev_off, prev_d = off, d
    return out


def payload(old, new, st):
    return bytes([1]) + image(old) + image(new) + steps(st)


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    one = lambda arch: [(arch, [(0, 0x8000, 0x401000, 0, 1), (0, 0x8000, 0x409000, 0x2000, 0)])]
    two = [(1, [(0, 0x4000, 0x401000, 0, 1), (0, 0x3000, 0x405000, 0x100, 0)]),
           (2, [(0x1000, 0x4000, 0x10000, 0, 1), (0, 0x4000, 0x20000, 0, 0)])]
    st = [(0, 0), (0x4000, 16), (0x9000, -32), (0xF000, 4096)]
    seeds = {
        "x86": payload(one(1), one(1), st),
        "a64": payload(one(2), one(2), st),
        "two-elfs": payload(two, two, st),
        "shifted-new": payload(one(1), [(1, [(0x10, 0x7000, 0x401000, 0, 1), (0, 0x8000, 0x40a000, 0, 0)])], st[:2]),
        "bad-version": bytes([2]) + payload(one(1), one(1), st)[1:],
        "truncated": payload(one(2), one(2), st)[:-3],
        "trailing": payload(one(1), one(1), st) + b"\0",
        "step-out-of-order": payload(one(1), one(1), [(5, 0), (5, 1)]),
    }
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
