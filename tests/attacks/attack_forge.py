#!/usr/bin/env python3
"""attack_forge.py: edits the signed part of TUF/Uptane metadata for the attack tests.

Every command reads a metadata file, changes its "signed" object and writes the result with the
old signatures still attached (which no longer match): sign it afterwards with
`attack_tool sign OUT OUT KEY.pem ...` (the keys the attacker holds) to make the forgery.

    attack_forge.py target IN OUT NAME [--file F] [--length N] [--custom JSON]
        Entry NAME of a targets document: length and sha256/sha512 of F, or only the length,
        or its custom object. The entry is created if missing.
    attack_forge.py director-ecu IN OUT SERIAL NAME --file F [--length N] --hardware-id H
                    --release-counter N
        Director targets: ECU SERIAL moves to entry NAME (length and hashes of F, or length N
        with the hashes of F; custom
        ecu_identifiers/release_counter as Uptane's director writes them); an entry left without
        ECUs is removed.
    attack_forge.py meta IN OUT FILE_NAME FILE
        A snapshot or timestamp: meta[FILE_NAME] describes FILE (its signed.version, and its
        length and sha256 where the entry lists them).
    attack_forge.py bump IN OUT [N]
        signed.version += N (default 1).
Python standard library only.
"""
import argparse
import hashlib
import json
import os


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def save(doc, path):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def file_info(path):
    with open(path, "rb") as f:
        data = f.read()
    return len(data), {"sha256": hashlib.sha256(data).hexdigest(),
                       "sha512": hashlib.sha512(data).hexdigest()}


def cmd_target(a):
    doc = load(a.IN)
    entry = doc["signed"]["targets"].setdefault(a.NAME, {"length": 0, "hashes": {}})
    if a.file:
        entry["length"], entry["hashes"] = file_info(a.file)
    if a.length is not None:
        entry["length"] = a.length
    if a.custom is not None:
        entry["custom"] = json.loads(a.custom)
    save(doc, a.OUT)


def cmd_director_ecu(a):
    doc = load(a.IN)
    targets = doc["signed"]["targets"]
    for name in list(targets):
        ids = targets[name].get("custom", {}).get("ecu_identifiers", {})
        ids.pop(a.SERIAL, None)
        if not ids:
            del targets[name]
    length, hashes = file_info(a.file)
    if a.length is not None:
        length = a.length
    entry = targets.setdefault(a.NAME, {"length": length, "hashes": hashes,
                                        "custom": {"ecu_identifiers": {},
                                                   "release_counter": a.release_counter}})
    entry["custom"]["ecu_identifiers"][a.SERIAL] = {"hardware_id": a.hardware_id}
    save(doc, a.OUT)


def cmd_meta(a):
    doc = load(a.IN)
    with open(a.FILE, "rb") as f:
        data = f.read()
    entry = doc["signed"]["meta"][a.FILE_NAME]
    entry["version"] = json.loads(data)["signed"]["version"]
    if "length" in entry:
        entry["length"] = len(data)
    if "hashes" in entry:
        entry["hashes"] = {"sha256": hashlib.sha256(data).hexdigest()}
    save(doc, a.OUT)


def cmd_bump(a):
    doc = load(a.IN)
    doc["signed"]["version"] += a.N
    save(doc, a.OUT)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(required=True)
    t = sub.add_parser("target")
    t.add_argument("IN"), t.add_argument("OUT"), t.add_argument("NAME")
    t.add_argument("--file"), t.add_argument("--length", type=int), t.add_argument("--custom")
    t.set_defaults(fn=cmd_target)
    d = sub.add_parser("director-ecu")
    d.add_argument("IN"), d.add_argument("OUT"), d.add_argument("SERIAL"), d.add_argument("NAME")
    d.add_argument("--file", required=True), d.add_argument("--length", type=int)
    d.add_argument("--hardware-id", required=True)
    d.add_argument("--release-counter", type=int, required=True)
    d.set_defaults(fn=cmd_director_ecu)
    m = sub.add_parser("meta")
    m.add_argument("IN"), m.add_argument("OUT"), m.add_argument("FILE_NAME"), m.add_argument("FILE")
    m.set_defaults(fn=cmd_meta)
    b = sub.add_parser("bump")
    b.add_argument("IN"), b.add_argument("OUT"), b.add_argument("N", type=int, nargs="?", default=1)
    b.set_defaults(fn=cmd_bump)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
