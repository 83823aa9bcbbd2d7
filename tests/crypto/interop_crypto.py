#!/usr/bin/env python3
"""Interoperability check of lib/crypto against Python's `cryptography` package.

Usage: interop_crypto.py PATH/TO/crypto_tool

For ed25519, ECDSA P-256 and RSA-PSS keys generated here, checks that signatures made by
Python verify with crypto_tool and the reverse, that tampered signatures are refused, and
that crypto_tool's TUF key objects and key ids match ones computed here independently.
Uses only `cryptography` and the standard library. Exits non-zero on any mismatch.
"""

import hashlib
import json
import os
import sys
import tempfile

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pylib"))
from sdv_checker import Checker  # noqa: E402 (found through the path above)

MESSAGE = b"OpenSDV interop message \x00\x01\xff with binary bytes\n"


def canonical_json(obj):
    """OLPC canonical JSON (as securesystemslib writes it) of a dict of strings: keys sorted,
    no whitespace, only '"' and '\\' escaped. json.dumps(sort_keys=True) would differ for the
    PEM keys, because it escapes their newlines as \\n while canonical JSON writes them raw."""
    return canonical_value(obj).encode("utf-8")


def canonical_value(v):
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-8"))
        return "{" + ",".join(canonical_value(k) + ":" + canonical_value(x) for k, x in items) + "}"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise TypeError(f"unexpected value {v!r}")


def public_pem(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def private_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def expected_tuf(kind, key):
    if kind == "ed25519":
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}
    pem = public_pem(key).decode("ascii")
    if kind == "ecdsa":
        return {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256", "keyval": {"public": pem}}
    return {"keytype": "rsa", "scheme": "rsassa-pss-sha256", "keyval": {"public": pem}}


def py_sign(kind, key, msg):
    if kind == "ed25519":
        return key.sign(msg)
    if kind == "ecdsa":
        return key.sign(msg, ec.ECDSA(hashes.SHA256()))
    # The largest salt, to prove that our side accepts any salt length.
    return key.sign(
        msg,
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
        hashes.SHA256(),
    )


def py_verify(kind, pub, sig, msg, salt_length=None):
    try:
        if kind == "ed25519":
            pub.verify(sig, msg)
        elif kind == "ecdsa":
            pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        else:
            salt = padding.PSS.AUTO if salt_length is None else salt_length
            pub.verify(
                sig, msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt),
                hashes.SHA256(),
            )
        return True
    except InvalidSignature:
        return False


def check_kind(c, kind, key):
    pub = key.public_key()
    priv_path = c.write(f"{kind}.key.pem", private_pem(key))
    pub_path = c.write(f"{kind}.pub.pem", public_pem(key))
    msg_path = c.write(f"{kind}.msg", MESSAGE)
    other_path = c.write(f"{kind}.other", MESSAGE + b"!")

    # Python signs, crypto_tool verifies.
    sig = py_sign(kind, key, MESSAGE)
    r = c.run("verify", pub_path, msg_path, sig.hex())
    c.check(f"{kind}: python sign -> tool verify", r.returncode == 0, r.stderr.strip())
    r = c.run("verify", pub_path, other_path, sig.hex())
    c.check(f"{kind}: tool rejects python sig over other message", r.returncode == 1,
            f"exit {r.returncode} {r.stderr.strip()}")
    bad = bytearray(sig)
    bad[len(bad) // 2] ^= 0x04
    r = c.run("verify", pub_path, msg_path, bytes(bad).hex())
    c.check(f"{kind}: tool rejects flipped python sig", r.returncode == 1,
            f"exit {r.returncode} {r.stderr.strip()}")

    # crypto_tool signs, Python verifies.
    r = c.run("sign", priv_path, msg_path)
    ok = r.returncode == 0
    c.check(f"{kind}: tool sign", ok, r.stderr.strip())
    if ok:
        tool_sig = bytes.fromhex(r.stdout.strip())
        c.check(f"{kind}: tool sign -> python verify", py_verify(kind, pub, tool_sig, MESSAGE))
        c.check(f"{kind}: python rejects tool sig over other message",
                not py_verify(kind, pub, tool_sig, MESSAGE + b"!"))
        if kind == "rsa":
            # Our signing policy: salt length = digest length (32 bytes).
            c.check("rsa: tool sig has 32-byte salt", py_verify(kind, pub, tool_sig, MESSAGE, 32))
        if kind == "ed25519":
            c.check("ed25519: tool sig equals python sig (deterministic)", tool_sig == sig)

    # TUF key object and key id, computed independently.
    want = expected_tuf(kind, key)
    r = c.run("tufkey", pub_path)
    got = None
    if r.returncode == 0:
        try:
            got = json.loads(r.stdout)
        except ValueError as e:
            got = f"unparsable: {e}"
    c.check(f"{kind}: TUF key object", got == want, f"got {got!r}, want {want!r}")
    if kind == "ed25519":
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ok = isinstance(got, dict) and got.get("keyval", {}).get("public") == raw.hex()
        c.check("ed25519: keyval.public is the raw key in hex", ok)

    want_id = hashlib.sha256(canonical_json(want)).hexdigest()
    r = c.run("keyid", pub_path)
    got_id = r.stdout.strip()
    c.check(f"{kind}: keyid", r.returncode == 0 and got_id == want_id,
            f"got {got_id!r}, want {want_id!r} {r.stderr.strip()}")
    # The private PEM yields the same key id as the public one.
    r = c.run("keyid", priv_path)
    c.check(f"{kind}: keyid from private PEM", r.stdout.strip() == want_id, r.stderr.strip())


def main():
    if len(sys.argv) != 2:
        print("usage: interop_crypto.py PATH/TO/crypto_tool", file=sys.stderr)
        return 2
    tool = sys.argv[1]
    if not os.access(tool, os.X_OK):
        print(f"interop: {tool} is not an executable", file=sys.stderr)
        return 2
    keys = {
        "ed25519": ed25519.Ed25519PrivateKey.generate(),
        "ecdsa": ec.generate_private_key(ec.SECP256R1()),
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }
    with tempfile.TemporaryDirectory(prefix="sdv_interop_") as workdir:
        c = Checker(tool, workdir)
        for kind, key in keys.items():
            check_kind(c, kind, key)
    print(f"interop: {c.passed} passed, {c.failed} failed")
    return 0 if c.failed == 0 and c.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
