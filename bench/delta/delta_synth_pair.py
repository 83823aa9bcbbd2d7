#!/usr/bin/env python3
"""delta_synth_pair.py OLD NEW [SIZE]: write a deterministic synthetic pair for delta_bench.sh --quick.

OLD (SIZE bytes, default 4 MiB) mixes incompressible runs, repeated "idioms" drawn from a small
dictionary (as machine code repeats instruction sequences) and a table of ascending 32-bit
little-endian offsets (as a relocation or symbol table). NEW is OLD with scattered edits: bytes
overwritten, runs inserted and runs deleted every few tens of KiB, and every table entry that
points past an insertion or deletion shifted by the net change, as a rebuilt binary would.

The pair only has to exercise the tools quickly and identically on every machine, so all
randomness comes from a fixed seed (SHA-256 in counter mode for bulk bytes, splitmix64 for
decisions) and never from the platform's random module.
"""
import hashlib
import struct
import sys

MASK64 = (1 << 64) - 1


class Stream:
    """Deterministic bytes (SHA-256 counter mode) and integers (splitmix64) from one seed."""

    def __init__(self, seed):
        self.seed = seed.encode()
        self.counter = 0
        self.state = int.from_bytes(hashlib.sha256(self.seed).digest()[:8], "little")

    def bytes(self, n):
        out = bytearray()
        while len(out) < n:
            out += hashlib.sha256(self.seed + self.counter.to_bytes(8, "little")).digest()
            self.counter += 1
        return bytes(out[:n])

    def below(self, n):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return (z ^ (z >> 31)) % n


def make_old(rng, size):
    table_entries = size // 64  # the table takes 1/16 of the file
    body_len = size - 4 * table_entries
    idioms = [rng.bytes(8 + rng.below(57)) for _ in range(512)]
    body = bytearray()
    while len(body) < body_len:
        if rng.below(2) == 0:
            body += rng.bytes(16 + rng.below(497))
        else:
            for _ in range(1 + rng.below(8)):
                body += idioms[rng.below(len(idioms))]
    del body[body_len:]
    # Ascending offsets into the body, as a table of addresses would hold.
    step = body_len // table_entries
    table = [i * step + rng.below(step) for i in range(table_entries)]
    return bytes(body), table


def make_new(rng, body, table):
    out = bytearray()
    shifts = []  # (old offset, net change so far) after each edit, for shifting table entries
    pos = 0
    net = 0
    while pos < len(body):
        gap = 20000 + rng.below(80000)
        end = min(pos + gap, len(body))
        out += body[pos:end]
        pos = end
        if pos >= len(body):
            break
        kind = rng.below(3)
        if kind == 0:  # overwrite a few bytes
            n = min(1 + rng.below(64), len(body) - pos)
            out += rng.bytes(n)
            pos += n
        elif kind == 1:  # insert a run
            n = 1 + rng.below(4096)
            out += rng.bytes(n)
            net += n
        else:  # delete a run
            n = min(1 + rng.below(2048), len(body) - pos)
            pos += n
            net -= n
        shifts.append((pos, net))
    new_table = []
    k = 0
    cur = 0
    for t in table:
        while k < len(shifts) and shifts[k][0] <= t:
            cur = shifts[k][1]
            k += 1
        new_table.append((t + cur) & 0xFFFFFFFF)
    return bytes(out), new_table


def pack(body, table):
    return body + struct.pack("<%dI" % len(table), *table)


def main():
    if len(sys.argv) not in (3, 4):
        sys.stderr.write("usage: delta_synth_pair.py OLD NEW [SIZE]\n")
        return 2
    size = int(sys.argv[3]) if len(sys.argv) == 4 else 4 << 20
    if size < 4096:
        sys.stderr.write("delta_synth_pair.py: SIZE must be at least 4096\n")
        return 2
    rng = Stream("opensdv delta_bench synthetic pair v1")
    body, table = make_old(rng, size)
    new_body, new_table = make_new(rng, body, table)
    with open(sys.argv[1], "wb") as f:
        f.write(pack(body, table))
    with open(sys.argv[2], "wb") as f:
        f.write(pack(new_body, new_table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
