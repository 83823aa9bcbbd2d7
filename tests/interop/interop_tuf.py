#!/usr/bin/env python3
"""TUF interoperability test between OpenSDV and an independent implementation in this file.

This script writes and verifies TUF 1.0 repositories with nothing but the Python standard
library and the `cryptography` package; it shares no code with lib/tuf (or with python-tuf):

  a) client interop: for each key type (ed25519, ecdsa-sha2-nistp256, rsassa-pss-sha256) it
     writes a complete repository (consistent snapshots), serves it on 127.0.0.1 and runs
     `sdv tuf-client` init/refresh/download against it (one target through a delegated role);
     then a negative control (one flipped signature byte) that must make refresh fail.
  b) tooling interop: for each key type it builds a repository with `sdv keygen` and
     `sdv repo ...` and verifies every published file here: signatures over this file's
     canonical JSON (which proves both sides serialise "signed" to the same bytes), thresholds,
     key ids, snapshot/timestamp consistency and target hashes.

usage: interop_tuf.py SDV_BINARY [WORK_DIR]

Prints one line per check and a final "N passed, M failed"; exits 1 on any failure.
"""

import datetime
import functools
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

KEY_TYPES = ("ed25519", "ecdsa", "rsa")
SPEC_VERSION = "1.0.31"
CMD_TIMEOUT_S = 30

# ---- canonical JSON (OLPC / securesystemslib flavour) ----------------------------------------


def cjson(value):
    """Returns the canonical JSON bytes of value: object keys sorted, no whitespace, strings with
    only '"' and '\\' escaped (every other character raw, UTF-8), integers only."""
    out = []
    stack = [value]
    # An explicit stack instead of recursion, like the C side; markers are bytes strings.
    while stack:
        v = stack.pop()
        if isinstance(v, bytes):
            out.append(v)
        elif v is None:
            out.append(b"null")
        elif v is True:
            out.append(b"true")
        elif v is False:
            out.append(b"false")
        elif isinstance(v, int):
            out.append(str(v).encode())
        elif isinstance(v, str):
            out.append(b'"' + v.replace("\\", "\\\\").replace('"', '\\"').encode("utf-8") + b'"')
        elif isinstance(v, (list, tuple)):
            items = [b"["]
            for i, item in enumerate(v):
                if i:
                    items.append(b",")
                items.append(item)
            items.append(b"]")
            stack.extend(reversed(items))
        elif isinstance(v, dict):
            items = [b"{"]
            for i, k in enumerate(sorted(v)):
                if not isinstance(k, str):
                    raise TypeError("canonical JSON object keys must be strings")
                if i:
                    items.append(b",")
                items.append(k)
                items.append(b":")
                items.append(v[k])
            items.append(b"}")
            stack.extend(reversed(items))
        else:
            raise TypeError("canonical JSON cannot encode %r" % type(v).__name__)
    return b"".join(out)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# Custom data with everything canonical JSON must get right: both escaped characters, raw control
# characters and non-ASCII text, keys whose code-point order differs from their UTF-16 order, and
# integers of both signs.
TRICKY_CUSTOM = {
    "quote\"backslash\\": "line\nbreak\ttab \u0001 caf\u00e9 \u2713 \U0001F697",
    "\uffff": 1, "\U0001F600": -2, "Z": 0,
    "a": [True, False, None, {"b": "", "A": 9007199254740993}],
}


# ---- keys --------------------------------------------------------------------------------------

SCHEMES = {"ed25519": "ed25519", "ecdsa": "ecdsa-sha2-nistp256", "rsa": "rsassa-pss-sha256"}


def key_object(keytype, public):
    return {"keytype": keytype, "scheme": SCHEMES[keytype], "keyval": {"public": public}}


def keyid_of(keyobj):
    """The TUF key id: SHA-256 of the canonical JSON of the key object."""
    return sha256_hex(cjson(keyobj))


class Signer:
    """A private key of one TUF key type that signs the way an independent tool would."""

    def __init__(self, keytype, private):
        self.keytype = keytype
        self.private = private
        pub = private.public_key()
        if keytype == "ed25519":
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            public = raw.hex()
        else:
            public = pub.public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.keyobj = key_object(keytype, public)
        self.keyid = keyid_of(self.keyobj)

    @classmethod
    def generate(cls, keytype):
        if keytype == "ed25519":
            return cls(keytype, ed25519.Ed25519PrivateKey.generate())
        if keytype == "ecdsa":
            return cls(keytype, ec.generate_private_key(ec.SECP256R1()))
        return cls(keytype, rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def sign(self, msg):
        if self.keytype == "ed25519":
            return self.private.sign(msg)
        if self.keytype == "ecdsa":
            return self.private.sign(msg, ec.ECDSA(hashes.SHA256()))
        # The largest salt, not the usual 32 bytes: the client must accept any salt length.
        return self.private.sign(
            msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH),
            hashes.SHA256())


def verify_sig(keyobj, sig, msg):
    """True if sig is a valid signature of msg by the TUF key object keyobj."""
    keytype, scheme = keyobj.get("keytype"), keyobj.get("scheme")
    public = keyobj.get("keyval", {}).get("public")
    if not isinstance(public, str):
        return False
    try:
        if keytype == "ed25519" and scheme == "ed25519":
            ed25519.Ed25519PublicKey.from_public_bytes(bytes.fromhex(public)).verify(sig, msg)
            return True
        pub = serialization.load_pem_public_key(public.encode())
        if keytype in ("ecdsa", "ecdsa-sha2-nistp256") and scheme == "ecdsa-sha2-nistp256":
            if not isinstance(pub, ec.EllipticCurvePublicKey) or pub.curve.name != "secp256r1":
                return False
            pub.verify(sig, msg, ec.ECDSA(hashes.SHA256()))
            return True
        if keytype == "rsa" and scheme == "rsassa-pss-sha256":
            if not isinstance(pub, rsa.RSAPublicKey):
                return False
            salt = getattr(padding.PSS, "AUTO", padding.PSS.DIGEST_LENGTH)
            pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=salt),
                       hashes.SHA256())
            return True
    except (InvalidSignature, ValueError):
        return False
    return False


# ---- results -----------------------------------------------------------------------------------


class Results:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print("PASS: %s" % name, flush=True)
        else:
            self.failed += 1
            print("FAIL: %s%s" % (name, (": " + detail) if detail else ""), flush=True)
        return ok


# ---- helpers -----------------------------------------------------------------------------------


def expiry(days):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def write_file(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def sign_metadata(signed, signers):
    msg = cjson(signed)
    return {"signatures": [{"keyid": s.keyid, "sig": s.sign(msg).hex()} for s in signers],
            "signed": signed}


def file_form(metadata):
    """An ordinary, pretty-printed JSON file (not canonical): the client must canonicalise."""
    return (json.dumps(metadata, indent=1, sort_keys=False) + "\n").encode()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class Server:
    """A static HTTP server for one directory on 127.0.0.1, on a port the kernel picks."""

    def __init__(self, root):
        handler = functools.partial(QuietHandler, directory=root)
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, sub):
        return "http://127.0.0.1:%d/%s/" % (self.port, sub)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def run(argv):
    """Runs a command with a timeout; returns (exit code, stdout+stderr text)."""
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=CMD_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return -1, "timed out after %d s" % CMD_TIMEOUT_S
    return p.returncode, p.stdout.decode("utf-8", "replace")


def short(text):
    text = text.strip().replace("\n", " | ")
    return text[:600]


# ---- a) a repository written here, read by sdv tuf-client --------------------------------------


def python_repo(root_dir, signer, dsigner, targets):
    """Writes a consistent-snapshot TUF repository signed by signer for all four roles, with
    targets under "firmware/" in a role "firmware" that targets delegates to dsigner:
    root_dir/metadata and root_dir/targets. targets maps target path -> bytes."""
    meta_dir = os.path.join(root_dir, "metadata")
    tgt_dir = os.path.join(root_dir, "targets")
    os.makedirs(meta_dir)
    os.makedirs(tgt_dir)
    roles = {r: {"keyids": [signer.keyid], "threshold": 1}
             for r in ("root", "targets", "snapshot", "timestamp")}
    root = {"_type": "root", "spec_version": SPEC_VERSION, "version": 1,
            "expires": expiry(365), "consistent_snapshot": True,
            "keys": {signer.keyid: signer.keyobj}, "roles": roles}
    tlists = {"targets": {}, "firmware": {}}
    for path, data in targets.items():
        digest = sha256_hex(data)
        role = "firmware" if path.startswith("firmware/") else "targets"
        tlists[role][path] = {"length": len(data),
                              "hashes": {"sha256": digest},
                              "custom": TRICKY_CUSTOM}
        head, base = os.path.split(path)
        write_file(os.path.join(tgt_dir, head, "%s.%s" % (digest, base)), data)
    firmware_md = {"_type": "targets", "spec_version": SPEC_VERSION, "version": 1,
                   "expires": expiry(90), "targets": tlists["firmware"]}
    targets_md = {"_type": "targets", "spec_version": SPEC_VERSION, "version": 1,
                  "expires": expiry(90), "targets": tlists["targets"],
                  "delegations": {"keys": {dsigner.keyid: dsigner.keyobj},
                                  "roles": [{"name": "firmware", "keyids": [dsigner.keyid],
                                             "threshold": 1, "terminating": True,
                                             "paths": ["firmware/*"]}]}}
    firmware_raw = file_form(sign_metadata(firmware_md, [dsigner]))
    targets_raw = file_form(sign_metadata(targets_md, [signer]))
    snapshot_md = {"_type": "snapshot", "spec_version": SPEC_VERSION, "version": 1,
                   "expires": expiry(7),
                   "meta": {"targets.json": {"version": 1, "length": len(targets_raw),
                                             "hashes": {"sha256": sha256_hex(targets_raw)}},
                            "firmware.json": {"version": 1}}}
    snapshot_raw = file_form(sign_metadata(snapshot_md, [signer]))
    timestamp_md = {"_type": "timestamp", "spec_version": SPEC_VERSION, "version": 1,
                    "expires": expiry(1),
                    "meta": {"snapshot.json": {"version": 1, "length": len(snapshot_raw),
                                               "hashes": {"sha256": sha256_hex(snapshot_raw)}}}}
    timestamp_raw = file_form(sign_metadata(timestamp_md, [signer]))
    root_raw = file_form(sign_metadata(root, [signer]))
    write_file(os.path.join(meta_dir, "1.root.json"), root_raw)
    write_file(os.path.join(meta_dir, "root.json"), root_raw)
    write_file(os.path.join(meta_dir, "1.targets.json"), targets_raw)
    write_file(os.path.join(meta_dir, "1.firmware.json"), firmware_raw)
    write_file(os.path.join(meta_dir, "1.snapshot.json"), snapshot_raw)
    write_file(os.path.join(meta_dir, "timestamp.json"), timestamp_raw)


def flip_signature_byte(path):
    """Flips the bits of one byte in the middle of the first signature of a metadata file."""
    md = json.loads(read_file(path))
    sig = bytearray(bytes.fromhex(md["signatures"][0]["sig"]))
    sig[len(sig) // 2] ^= 0xFF
    md["signatures"][0]["sig"] = sig.hex()
    write_file(path, file_form(md))


def client_interop(res, sdv, work, keytype, signer, dsigner):
    name = "client[%s]" % keytype
    repo = os.path.join(work, "pyrepo-" + keytype)
    client_dir = os.path.join(work, "client-" + keytype)
    mdir = os.path.join(client_dir, "metadata")
    tdir = os.path.join(client_dir, "targets")
    targets = {
        "hello.txt": b"hello from an independent TUF writer\n",
        "apps/engine ctl.bin": bytes(range(256)) * 9 + keytype.encode(),
        "firmware/ecu.bin": b"firmware listed by the delegated role\n" * 3,
    }
    python_repo(repo, signer, dsigner, targets)
    server = Server(repo)
    try:
        murl, turl = server.url("metadata"), server.url("targets")
        rc, out = run([sdv, "tuf-client", "--metadata-dir", mdir, "init",
                       os.path.join(repo, "metadata", "1.root.json")])
        res.check("%s: init with the Python-written root" % name, rc == 0, short(out))
        rc, out = run([sdv, "tuf-client", "--metadata-url", murl, "--metadata-dir", mdir,
                       "refresh"])
        res.check("%s: refresh" % name, rc == 0, short(out))
        for role in ("root", "timestamp", "snapshot", "targets"):
            stored = os.path.join(mdir, role + ".json")
            served = os.path.join(repo, "metadata",
                                  ("timestamp.json" if role == "timestamp" else "1.%s.json" % role))
            ok = os.path.exists(stored) and read_file(stored) == read_file(served)
            res.check("%s: trusted %s.json holds the served bytes" % (name, role), ok)
        argv = [sdv, "tuf-client", "--metadata-url", murl, "--metadata-dir", mdir,
                "--target-dir", tdir, "--target-base-url", turl]
        for path in targets:
            argv += ["--target-name", path]
        rc, out = run(argv + ["download"])
        res.check("%s: download all targets (one through the delegation)" % name, rc == 0,
                  short(out))
        stored = os.path.join(mdir, "firmware.json")
        res.check("%s: trusted firmware.json holds the served bytes" % name,
                  os.path.exists(stored) and read_file(stored) ==
                  read_file(os.path.join(repo, "metadata", "1.firmware.json")))
        for path, data in targets.items():
            local = os.path.join(tdir, urllib.parse.quote(path, safe=""))
            ok = os.path.exists(local) and read_file(local) == data
            res.check("%s: downloaded bytes of %s" % (name, path), ok,
                      "missing or different: " + local)
        leftovers = [f for f in os.listdir(tdir) if f.endswith(".part")] \
            if os.path.isdir(tdir) else []
        res.check("%s: no partial files left" % name, not leftovers, repr(leftovers))

        # Negative control: the same timestamp with one signature byte changed.
        ts_path = os.path.join(mdir, "timestamp.json")
        trusted_ts = read_file(ts_path) if os.path.exists(ts_path) else None
        flip_signature_byte(os.path.join(repo, "metadata", "timestamp.json"))
        rc, out = run([sdv, "tuf-client", "--metadata-url", murl, "--metadata-dir", mdir,
                       "refresh"])
        res.check("%s: refresh refuses a timestamp with a flipped signature byte" % name,
                  rc == 1 and "timestamp" in out, "exit %d: %s" % (rc, short(out)))
        stored = read_file(ts_path) if os.path.exists(ts_path) else None
        res.check("%s: the trusted timestamp is kept after the refusal" % name,
                  stored is not None and stored == trusted_ts, "timestamp.json changed")
        fresh = os.path.join(client_dir, "fresh")
        run([sdv, "tuf-client", "--metadata-dir", fresh, "init",
             os.path.join(repo, "metadata", "1.root.json")])
        rc, out = run([sdv, "tuf-client", "--metadata-url", murl, "--metadata-dir", fresh,
                       "refresh"])
        res.check("%s: fresh client refuses the flipped timestamp" % name,
                  rc == 1 and not os.path.exists(os.path.join(fresh, "timestamp.json")),
                  "exit %d: %s" % (rc, short(out)))
    finally:
        server.close()


# ---- b) a repository written by sdv repo, verified here ----------------------------------------


def public_key_object(keytype, pub_pem_path):
    """The TUF key object of a public PEM file written by sdv keygen, derived here."""
    pub = serialization.load_pem_public_key(read_file(pub_pem_path))
    if keytype == "ed25519":
        public = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    else:
        public = pub.public_bytes(serialization.Encoding.PEM,
                                  serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return key_object(keytype, public)


class Verifier:
    """Checks a published repository (DIR/metadata, DIR/targets) from first principles."""

    def __init__(self, res, name, repo):
        self.res = res
        self.name = name
        self.meta_dir = os.path.join(repo, "metadata")
        self.tgt_dir = os.path.join(repo, "targets")

    def check(self, what, ok, detail=""):
        return self.res.check("%s: %s" % (self.name, what), ok, detail)

    def load(self, fname):
        raw = read_file(os.path.join(self.meta_dir, fname))
        return raw, json.loads(raw)

    def check_keys(self, where, keys):
        bad = [k for k, obj in keys.items() if keyid_of(obj) != k]
        self.check("%s: every key id is the SHA-256 of the canonical key object" % where,
                   not bad, "mismatching ids: %r" % bad)

    def check_signed(self, fname, md, role_type):
        signed = md.get("signed", {})
        self.check("%s: _type %s, spec_version 1.x" % (fname, role_type),
                   signed.get("_type") == role_type and
                   str(signed.get("spec_version", "")).startswith("1."))
        exp = signed.get("expires", "")
        try:
            t = datetime.datetime.strptime(exp, "%Y-%m-%dT%H:%M:%SZ")
            ok = t.replace(tzinfo=datetime.timezone.utc) > datetime.datetime.now(
                datetime.timezone.utc)
        except ValueError:
            ok = False
        self.check("%s: expires is a future RFC 3339 UTC time" % fname, ok, repr(exp))

    def check_threshold(self, fname, md, keys, role_entry, role):
        """Signatures over the canonical JSON computed here, by distinct authorised keys."""
        msg = cjson(md["signed"])
        authorised = set(role_entry.get("keyids", []))
        threshold = role_entry.get("threshold", 0)
        good = set()
        for s in md.get("signatures", []):
            kid = s.get("keyid")
            if kid in authorised and kid in keys and kid not in good:
                if verify_sig(keys[kid], bytes.fromhex(s.get("sig", "")), msg):
                    good.add(kid)
        return self.check(
            "%s: %d valid signature(s) over Python's canonical JSON, threshold %d of %s" %
            (fname, len(good), threshold, role),
            isinstance(threshold, int) and threshold >= 1 and len(good) >= threshold,
            "signatures do not verify over the canonical bytes computed here")

    def check_meta_entry(self, what, entry, fname, require_hashes):
        """A snapshot/timestamp "meta" entry against the file it names."""
        path = os.path.join(self.meta_dir, fname)
        if not self.check("%s: %s exists" % (what, fname), os.path.exists(path)):
            return None
        raw, md = self.load(fname)
        ok = md["signed"].get("version") == entry.get("version")
        detail = "version %r vs %r" % (md["signed"].get("version"), entry.get("version"))
        if "length" in entry:
            ok = ok and entry["length"] == len(raw)
            detail += ", length %r vs %d" % (entry["length"], len(raw))
        hashes = entry.get("hashes", {})
        if require_hashes and "sha256" not in hashes:
            ok = False
            detail += ", no sha256"
        for alg, digest in hashes.items():
            ok = ok and alg in ("sha256", "sha512") and \
                hashlib.new(alg, raw).hexdigest() == digest.lower()
        self.check("%s: %s matches its version%s" %
                   (what, fname, ", length and hashes" if "length" in entry else ""), ok, detail)
        return raw, md

    def verify(self, expect_root_version, expect_targets):
        """expect_targets: target path -> bytes, across all targets roles."""
        files = sorted(os.listdir(self.meta_dir))
        checked = set()

        # Root: every N.root.json, N = 1.., signed by its own keys and by its predecessor's.
        prev = None
        n = 1
        while os.path.exists(os.path.join(self.meta_dir, "%d.root.json" % n)):
            fname = "%d.root.json" % n
            raw, md = self.load(fname)
            checked.add(fname)
            signed = md["signed"]
            self.check_signed(fname, md, "root")
            self.check("%s: version %d" % (fname, n), signed.get("version") == n)
            self.check_keys(fname, signed.get("keys", {}))
            self.check_threshold(fname, md, signed["keys"], signed["roles"]["root"],
                                 "its own root keys")
            if prev is not None:
                self.check_threshold(fname, md, prev["keys"], prev["roles"]["root"],
                                     "root version %d's keys" % (n - 1))
            prev = signed
            n += 1
        root = prev
        self.check("root versions 1..%d published" % (n - 1), n - 1 == expect_root_version,
                   "expected %d" % expect_root_version)
        if root is None:
            return
        raw, _ = self.load("root.json")
        checked.add("root.json")
        self.check("root.json is the newest N.root.json",
                   raw == read_file(os.path.join(self.meta_dir, "%d.root.json" % (n - 1))))
        self.check("root lists keys for all four roles",
                   all(r in root["roles"] and root["roles"][r]["keyids"]
                       for r in ("root", "targets", "snapshot", "timestamp")))
        consistent = root.get("consistent_snapshot") is True
        self.check("root has consistent_snapshot true", consistent)
        keys = root["keys"]

        def versioned(role, version):
            return "%d.%s.json" % (version, urllib.parse.quote(role, safe="")) if consistent \
                else "%s.json" % urllib.parse.quote(role, safe="")

        # Timestamp -> snapshot.
        _, ts = self.load("timestamp.json")
        checked.add("timestamp.json")
        self.check_signed("timestamp.json", ts, "timestamp")
        self.check_threshold("timestamp.json", ts, keys, root["roles"]["timestamp"], "timestamp")
        snap_entry = ts["signed"].get("meta", {}).get("snapshot.json", {})
        got = self.check_meta_entry("timestamp", snap_entry,
                                    versioned("snapshot", snap_entry.get("version", 0)), True)
        if got is None:
            return
        _, snap = got
        checked.add(versioned("snapshot", snap_entry["version"]))
        self.check_signed("snapshot", snap, "snapshot")
        self.check_threshold("snapshot", snap, keys, root["roles"]["snapshot"], "snapshot")

        # Snapshot -> every targets role, delegations followed from "targets".
        listed = snap["signed"].get("meta", {})
        targets_seen = {}
        queue = [("targets", keys, root["roles"]["targets"])]
        visited = set()
        delegators = {}
        while queue:
            role, dkeys, dentry = queue.pop(0)
            if role in visited:
                continue
            visited.add(role)
            delegators[role] = (dkeys, dentry)
            entry = listed.get(role + ".json")
            if not self.check("snapshot lists %s.json" % role, entry is not None):
                continue
            fname = versioned(role, entry.get("version", 0))
            got = self.check_meta_entry("snapshot", entry, fname, False)
            if got is None:
                continue
            _, md = got
            checked.add(fname)
            self.check_signed(fname, md, "targets")
            self.check_threshold(fname, md, dkeys, dentry,
                                 "the keys %s lists" % ("root" if role == "targets" else "its "
                                                        "delegator"))
            signed = md["signed"]
            for path, t in signed.get("targets", {}).items():
                targets_seen[path] = t
            deleg = signed.get("delegations")
            if deleg:
                self.check_keys(fname + " delegations", deleg.get("keys", {}))
                for r in deleg.get("roles", []):
                    queue.append((r["name"], deleg.get("keys", {}), r))
        self.check("snapshot lists exactly the reachable targets roles",
                   set(listed) == {r + ".json" for r in visited},
                   "listed %r, reachable %r" % (sorted(listed), sorted(visited)))

        # Target files: the plain copy and, with consistent snapshots, one per listed hash.
        self.check("targets roles list exactly the expected targets",
                   set(targets_seen) == set(expect_targets),
                   "listed %r" % sorted(targets_seen))
        for path, t in sorted(targets_seen.items()):
            copies = [path]
            head, base = path.rsplit("/", 1) if "/" in path else ("", path)
            if consistent:
                copies += [(head + "/" if head else "") + "%s.%s" % (d, base)
                           for d in t.get("hashes", {}).values()]
            problems = []
            for c in copies:
                fpath = os.path.join(self.tgt_dir, *c.split("/"))
                if not os.path.exists(fpath):
                    problems.append("missing " + c)
                    continue
                data = read_file(fpath)
                if len(data) != t.get("length"):
                    problems.append("length of " + c)
                for alg, digest in t.get("hashes", {}).items():
                    if hashlib.new(alg, data).hexdigest() != digest:
                        problems.append("%s of %s" % (alg, c))
            self.check("target %s: %d file(s) match length and hashes (%s)" %
                       (path, len(copies), ", ".join(sorted(t.get("hashes", {})))),
                       not problems and "sha256" in t.get("hashes", {}), "; ".join(problems))
            if path in expect_targets:
                self.check("target %s: listed bytes are the added file" % path,
                           hashlib.sha256(expect_targets[path]).hexdigest() ==
                           t.get("hashes", {}).get("sha256"))

        # Older published versions must still verify against the current keys (none rotated
        # besides root).
        for fname in files:
            if fname in checked or not fname.endswith(".json"):
                continue
            parts = fname.split(".")
            role = urllib.parse.unquote(".".join(parts[1:-1]) if parts[0].isdigit()
                                        else ".".join(parts[:-1]))
            _, md = self.load(fname)
            if role == "snapshot":
                self.check_threshold(fname, md, keys, root["roles"][role], role + " (older)")
            elif self.check("%s: an older version of a known role" % fname, role in visited):
                dkeys, dentry = delegators[role]
                self.check_threshold(fname, md, dkeys, dentry, role + "'s keys (older)")


def sdv_ok(res, name, argv):
    rc, out = run(argv)
    shown = " ".join(os.path.basename(a) if os.path.isabs(a) else a for a in argv[1:])
    return res.check("%s: sdv %s" % (name, shown[:100]), rc == 0, short(out))


def tooling_interop(res, sdv, work, keytype):
    name = "tooling[%s]" % keytype
    base = os.path.join(work, "tooling-" + keytype)
    keydir = os.path.join(base, "keys")
    repo = os.path.join(base, "repo")
    os.makedirs(keydir)
    ids = {}
    for k in ("root1", "root2", "targets", "snapshot", "timestamp", "apps"):
        rc, out = run([sdv, "keygen", "--type", keytype, "--out", os.path.join(keydir, k)])
        if not res.check("%s: keygen %s" % (name, k), rc == 0, short(out)):
            return
        ids[k] = out.strip()
        expect = keyid_of(public_key_object(keytype, os.path.join(keydir, k + ".pub.pem")))
        res.check("%s: keygen %s prints the key id computed here" % (name, k), ids[k] == expect,
                  "%s vs %s" % (ids[k], expect))

    def key(k, private=False):
        return os.path.join(keydir, k + (".pem" if private else ".pub.pem"))

    def repo_cmd(*args):
        return sdv_ok(res, name, [sdv, "repo", args[0], repo] + list(args[1:]))

    src = os.path.join(base, "src")
    os.makedirs(src)
    files = {"a.bin": b"top-level target \x00\xff " + keytype.encode() + b"\n",
             "nav1": b"navigation app 1.0\n" * 40,
             "nav2": b"navigation app 2.0 -- a different length\n" * 40}
    for f, data in files.items():
        write_file(os.path.join(src, f), data)
    nav_path = "apps/nav \u00fc.bin"
    ok = repo_cmd("init")
    ok = ok and repo_cmd("add-key", "--role", "root", "--key", key("root1"))
    ok = ok and repo_cmd("add-key", "--role", "root", "--key", key("root2"), "--threshold", "2")
    for role in ("targets", "snapshot", "timestamp"):
        ok = ok and repo_cmd("add-key", "--role", role, "--key", key(role))
    ok = ok and repo_cmd("add-target", os.path.join(src, "a.bin"), "--name", "a.bin",
                         "--custom", json.dumps(TRICKY_CUSTOM, ensure_ascii=False))
    ok = ok and repo_cmd("delegate", "--from", "targets", "--to", "apps", "--key", key("apps"),
                         "--paths", "apps/*")
    ok = ok and repo_cmd("add-target", os.path.join(src, "nav1"), "--name", nav_path,
                         "--role", "apps")
    ok = ok and repo_cmd("sign", "--role", "root", "--key", key("root1", True),
                         "--key", key("root2", True))
    ok = ok and repo_cmd("sign", "--role", "targets", "--key", key("targets", True))
    ok = ok and repo_cmd("sign", "--role", "apps", "--key", key("apps", True))
    ok = ok and repo_cmd("snapshot", "--key", key("snapshot", True), "--hashes")
    ok = ok and repo_cmd("timestamp", "--key", key("timestamp", True))
    ok = ok and repo_cmd("publish")
    if not ok:
        return
    v = Verifier(res, name + " release 1", repo)
    v.verify(1, {"a.bin": files["a.bin"], nav_path: files["nav1"]})
    _, targets_md = v.load("1.targets.json")
    custom = targets_md["signed"]["targets"].get("a.bin", {}).get("custom")
    res.check("%s: custom data survives unchanged" % name, custom == TRICKY_CUSTOM, repr(custom))
    if keytype == "ed25519":
        # Ed25519 is deterministic: the same key over the same bytes gives the same signature,
        # so equal signatures show the signed bytes are identical, not merely equivalent.
        priv = serialization.load_pem_private_key(read_file(key("targets", True)), None)
        mine = priv.sign(cjson(targets_md["signed"])).hex()
        res.check("%s: targets signature equals Python's over its canonical JSON" % name,
                  [s["sig"] for s in targets_md["signatures"]] == [mine])

    # Release 2: new content for the delegated target, a root rotation dropping root2.
    ok = repo_cmd("add-target", os.path.join(src, "nav2"), "--name", nav_path, "--role", "apps")
    ok = ok and repo_cmd("set-threshold", "--role", "root", "--threshold", "1")
    ok = ok and repo_cmd("remove-key", "--role", "root", "--key", key("root2"))
    ok = ok and repo_cmd("sign", "--role", "root", "--key", key("root1", True),
                         "--key", key("root2", True))
    ok = ok and repo_cmd("sign", "--role", "apps", "--key", key("apps", True))
    ok = ok and repo_cmd("snapshot", "--key", key("snapshot", True))
    ok = ok and repo_cmd("timestamp", "--key", key("timestamp", True))
    ok = ok and repo_cmd("publish")
    if not ok:
        return
    v = Verifier(res, name + " release 2", repo)
    v.verify(2, {"a.bin": files["a.bin"], nav_path: files["nav2"]})
    _, root2 = v.load("2.root.json")
    res.check("%s: root 2 lists only root1 for root" % name,
              root2["signed"]["roles"]["root"] == {"keyids": [ids["root1"]], "threshold": 1},
              repr(root2["signed"]["roles"]["root"]))



def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__.strip().splitlines()[-3], file=sys.stderr)
        return 2
    sdv = os.path.abspath(sys.argv[1])
    base = sys.argv[2] if len(sys.argv) == 3 else None
    if base is not None:
        os.makedirs(base, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sdv-interop-tuf.", dir=base)
    res = Results()
    try:
        sections = [("client[%s]" % kt, functools.partial(
            lambda k: client_interop(res, sdv, work, k, Signer.generate(k), Signer.generate(k)),
            kt)) for kt in KEY_TYPES]
        sections += [("tooling[%s]" % kt, functools.partial(tooling_interop, res, sdv, work, kt))
                     for kt in KEY_TYPES]
        for title, section in sections:
            # A section that breaks (a missing file, malformed metadata) is one failed check,
            # not the end of the run.
            try:
                section()
            except Exception as e:  # noqa: BLE001 - reported, never swallowed
                res.check("%s: ran to completion" % title, False, "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (res.passed, res.failed))
    return 0 if res.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
