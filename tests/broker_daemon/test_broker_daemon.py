#!/usr/bin/env python3
"""sdv-broker end to end: the real daemon on 127.0.0.1 and a Unix socket in a temporary
directory, a simulated vehicle provider (sdv-vehicle-sim, C over the client library), apps over
the Unix socket, and a WebSocket client from outside the project (Debian's python3-websockets)
speaking VISS v3 (subprotocol VISSv3), plus HTTP GET/POST with urllib.

Usage: test_broker_daemon.py BIN_DIR VSS_JSON
Exit 0 when every check passed; each failure is printed with what was expected.
"""
import asyncio
import http.client
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import websockets
except ImportError:  # pragma: no cover
    print("SKIP: python3-websockets is not installed (apt-get install python3-websockets)")
    sys.exit(77)

BIN, VSS = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
FAILED = []
SPEED = "Vehicle.Speed"
SOC = "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"
TEMP = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
FAN2 = "Vehicle.Cabin.HVAC.Station.Row2.Driver.FanSpeed"


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        FAILED.append(what)


def run(*args, **kw):
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, **kw)


class Env:
    def __init__(self, work):
        self.work = work
        self.sock = os.path.join(work, "broker.sock")
        self.config = os.path.join(work, "broker.json")
        self.proc = None
        self.port = None
        self.tokens = 0
        for name in ("issuer", "other"):
            r = run(f"{BIN}/sdv", "keygen", "--type", "ed25519" if name == "issuer" else "ecdsa",
                    "--out", os.path.join(work, name))
            assert r.returncode == 0, r.stderr
        r = run(f"{BIN}/sdv", "keygen", "--type", "ecdsa", "--out", os.path.join(work, "issuer2"))
        assert r.returncode == 0, r.stderr
        cfg = {
            "catalog": VSS,
            "audience": "vehicle-api",
            "vin": "WVWZZZ1JZXW000001",
            "keys": ["issuer.pub.pem", {"file": "issuer2.pub.pem", "kid": "k2"}],
            "purposes": {"speed_stats": {"expires": "2099-01-01T00:00:00Z",
                                         "grants": ["read:Vehicle.Speed"]}},
            "rate_limit": {"per_second": 100, "burst": 60},
            "persistence": {"file": "values.json", "interval_ms": 60000},
            "listen": {"address": "127.0.0.1", "port": 0},
            "socket": "broker.sock",
            "audit_log": "audit.log",
            "queue_len": 16,
            "actuation_timeout_ms": 2000,
            "shutdown_grace_ms": 700,
        }
        with open(self.config, "w") as f:
            json.dump(cfg, f)

    def mint(self, scope=None, purpose=None, exp_in="600", aud="vehicle-api", key="issuer",
             sub=None, extra=()):
        self.tokens += 1
        args = [f"{BIN}/sdv", "token", "mint", "--key", os.path.join(self.work, key + ".pem"),
                "--aud", aud, "--exp-in", exp_in, "--sub", sub or f"app{self.tokens}"]
        args += ["--scope", scope] if scope else ["--purpose", purpose]
        args += list(extra)
        r = run(*args)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def token_file(self, tok, name):
        path = os.path.join(self.work, name + ".tok")
        with open(path, "w") as f:
            f.write(tok + "\n")
        return path

    def start(self):
        self.log = open(os.path.join(self.work, "broker.log"), "a")
        self.proc = subprocess.Popen([f"{BIN}/sdv-broker", "--config", self.config],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        line = self.proc.stdout.readline()
        if "ready" not in line:
            with open(os.path.join(self.work, "broker.log")) as f:
                raise RuntimeError("daemon did not start: " + f.read())
        self.port = int(line.split("ws://127.0.0.1:")[1].split(" ")[0])
        self.ws = f"ws://127.0.0.1:{self.port}"

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=10)
        self.log.close()
        return rc

    def app(self, tokfile, *args, timeout=20):
        return subprocess.run([f"{BIN}/sdv-vehicle-sim", "app", "--socket", self.sock,
                               "--token-file", tokfile] + list(args),
                              capture_output=True, text=True, timeout=timeout)


async def viss(ws, req):
    await ws.send(json.dumps(req))
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if msg.get("action") != "subscription":
            return msg


async def notifications(ws, sub_id, n, timeout):
    out = []
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        try:
            msg = json.loads(await asyncio.wait_for(ws.recv(), end - time.monotonic()))
        except asyncio.TimeoutError:
            break
        if msg.get("action") == "subscription" and msg.get("subscriptionId") == sub_id:
            out.append(msg)
    return out


def values_of(notes):
    vals = []
    for n in notes:
        data = n["data"] if isinstance(n["data"], list) else [n["data"]]
        for d in data:
            dps = d["dp"] if isinstance(d["dp"], list) else [d["dp"]]
            vals += [float(dp["value"]) for dp in dps]
    return vals


def err_of(msg):
    e = msg.get("error") or {}
    return e.get("number"), e.get("reason")


async def ws_checks(env):
    full = env.mint("read:Vehicle actuate:Vehicle.Cabin.HVAC provide:Vehicle.OBD")
    hdr = {"Authorization": "Bearer " + full}
    async with websockets.connect(env.ws, subprotocols=["VISSv3"], extra_headers=hdr) as ws:
        check(ws.subprotocol == "VISSv3", "WebSocket subprotocol VISSv3 negotiated")
        m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "r1"})
        check(m.get("requestId") == "r1" and m["data"]["path"] == SPEED and
              float(m["data"]["dp"]["value"]) >= 0, f"get {SPEED} with the upgrade token: {m}")
        m = await viss(ws, {"action": "get", "path": "Vehicle/Powertrain/TractionBattery/"
                                                     "StateOfCharge/Current", "requestId": "r2"})
        check("data" in m and m["data"]["path"] == SOC, "get with a slash path")
        m = await viss(ws, {"action": "get", "path": "Vehicle.Nope.Nothing", "requestId": "r3"})
        check(err_of(m)[0] == 404 and m.get("requestId") == "r3", f"unknown path is 404: {m}")
        # Bad requests: 400 bad_request, the id echoed when it could be read.
        for bad in ['{"action":"get"', '{"action":"fly","path":"Vehicle.Speed","requestId":"b1"}',
                    '{"action":"get","requestId":"b2"}', '[1,2]',
                    '{"action":"get","path":"Vehicle.Speed","requestId":"b3","bogus":1}',
                    '{"action":"subscribe","path":"Vehicle.Speed","requestId":"b4",'
                    '"filter":{"variant":"timebased","parameter":{"period":"0"}}}']:
            await ws.send(bad)
            m = json.loads(await asyncio.wait_for(ws.recv(), 5))
            check(err_of(m) == (400, "bad_request"), f"bad request refused with 400: {bad}")
        await ws.send(b"\x00\x01binary")
        m = json.loads(await asyncio.wait_for(ws.recv(), 5))
        check(err_of(m) == (400, "bad_request"), f"a binary WebSocket message is refused: {m}")
        # Actuation through the provider: accepted, rejected by it, no provider, bad value.
        m = await viss(ws, {"action": "set", "path": TEMP, "value": "22", "requestId": "s1"})
        check(m.get("action") == "set" and "error" not in m and m.get("requestId") == "s1",
              f"set {TEMP}=22 accepted by the provider: {m}")
        m = await viss(ws, {"action": "set", "path": TEMP, "value": "35", "requestId": "s2"})
        check(err_of(m)[0] == 403 and "outside" in m["error"].get("message", ""),
              f"set {TEMP}=35 rejected by the provider with its reason: {m}")
        m = await viss(ws, {"action": "set", "path": FAN2, "value": "30", "requestId": "s3"})
        check(err_of(m)[0] == 503 and "no provider" in m["error"].get("message", ""),
              f"actuation with no provider is unavailable: {m}")
        m = await viss(ws, {"action": "set", "path": FAN2, "value": "300", "requestId": "s4"})
        check(err_of(m)[0] == 400, f"out-of-range value refused with 400: {m}")
        m = await viss(ws, {"action": "set", "path": SPEED, "value": "10", "requestId": "s5"})
        check(err_of(m)[0] == 403, f"publishing a sensor without provide: is 403: {m}")
        # The accepted value is current once the provider publishes it (bounded wait).
        for _ in range(50):
            m = await viss(ws, {"action": "get", "path": TEMP, "requestId": "g9"})
            if "data" in m and float(m["data"]["dp"]["value"]) == 22.0:
                break
            await asyncio.sleep(0.1)
        check("data" in m and float(m["data"]["dp"]["value"]) == 22.0,
              f"the provider published the actual temperature: {m}")

        # Subscriptions: every update, then unsubscribe.
        m = await viss(ws, {"action": "subscribe", "path": SPEED, "requestId": "u1"})
        sid = m.get("subscriptionId")
        check(sid is not None and m.get("requestId") == "u1", f"subscribe answered: {m}")
        notes = await notifications(ws, sid, 5, 5)
        check(len(notes) == 5 and all(n["data"]["path"] == SPEED for n in notes[:1]),
              f"5 notifications of {SPEED} (got {len(notes)})")
        m = await viss(ws, {"action": "unsubscribe", "subscriptionId": sid, "requestId": "u2"})
        check(m.get("action") == "unsubscribe" and "error" not in m, f"unsubscribe: {m}")
        await asyncio.sleep(0.2)
        late = await notifications(ws, sid, 1, 0.5)
        check(late == [], "no notification after unsubscribe")
        m = await viss(ws, {"action": "unsubscribe", "subscriptionId": sid, "requestId": "u3"})
        check(err_of(m)[0] == 404, "unsubscribe of an unknown subscription is 404")

        # timebased: one notification per period while the provider publishes every 25 ms.
        m = await viss(ws, {"action": "subscribe", "path": SPEED, "requestId": "t1",
                            "filter": {"variant": "timebased", "parameter": {"period": "200"}}})
        sid = m.get("subscriptionId")
        t0 = time.monotonic()
        notes = await notifications(ws, sid, 6, 5)
        span = time.monotonic() - t0
        check(len(notes) == 6 and 0.75 <= span <= 2.5,
              f"timebased 200 ms: 6 notifications in {span:.2f} s (expected about 1 s)")
        await viss(ws, {"action": "unsubscribe", "subscriptionId": sid, "requestId": "t2"})

        # change: battery falls 0.1 per cycle; "lt -1" delivers only falls of more than 1.
        m = await viss(ws, {"action": "subscribe", "path": SOC, "requestId": "c1",
                            "filter": {"variant": "change",
                                       "parameter": {"logic-op": "lt", "diff": "-1"}}})
        sid = m.get("subscriptionId")
        vals = values_of(await notifications(ws, sid, 4, 6))
        deltas = [b - a for a, b in zip(vals, vals[1:])]
        check(len(vals) == 4 and all(d < -1 for d in deltas),
              f"change lt -1: values {vals} fall by more than 1 each")
        await viss(ws, {"action": "unsubscribe", "subscriptionId": sid, "requestId": "c2"})

        # range: speed cycles 50..119; only values above 100 pass.
        m = await viss(ws, {"action": "subscribe", "path": SPEED, "requestId": "g1",
                            "filter": {"variant": "range",
                                       "parameter": {"logic-op": "gt", "boundary": "100"}}})
        sid = m.get("subscriptionId")
        vals = values_of(await notifications(ws, sid, 5, 6))
        check(len(vals) == 5 and all(v > 100 for v in vals), f"range gt 100: values {vals}")
        await viss(ws, {"action": "unsubscribe", "subscriptionId": sid, "requestId": "g2"})

        # paths filter under a branch.
        m = await viss(ws, {"action": "get", "path": "Vehicle", "requestId": "p1",
                            "filter": {"variant": "paths", "parameter": ["Speed",
                                       "Powertrain.TractionBattery.StateOfCharge.Current"]}})
        check(isinstance(m.get("data"), list) and len(m["data"]) == 2,
              f"get with a paths filter returns both signals: {str(m)[:200]}")

    # No token, a token in the request's authorization member, forbidden paths.
    async with websockets.connect(env.ws, subprotocols=["VISSv3"]) as ws:
        m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "n1"})
        check(err_of(m) == (401, "missing_token"), f"no token: 401 missing_token: {m}")
        speed_only = env.mint("read:Vehicle.Speed")
        m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "n2",
                            "authorization": speed_only})
        check("data" in m, "token in the VISS authorization member")
        m = await viss(ws, {"action": "get", "path": SOC, "requestId": "n3"})
        check(err_of(m) == (403, "forbidden_request"), f"outside the scope: 403: {m}")
        m = await viss(ws, {"action": "set", "path": TEMP, "value": "20", "requestId": "n4"})
        check(err_of(m)[0] == 403, "read-only token cannot actuate: 403")
        m = await viss(ws, {"action": "subscribe", "path": "Vehicle.Cabin", "requestId": "n5"})
        check(err_of(m)[0] == 403, "subscribe outside the scope: 403")
        purpose = env.mint(purpose="speed_stats")
        m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "n6",
                            "authorization": purpose})
        check("data" in m, "purpose token reads its approved signal")
        m = await viss(ws, {"action": "get", "path": SOC, "requestId": "n7"})
        check(err_of(m)[0] == 403, "purpose token refused outside its signals")

    await token_lifecycle(env)

    # Invalid and expired tokens, at upgrade or in the request.
    good = env.mint("read:Vehicle.Speed")
    h, p, s = good.split(".")
    tampered = h + "." + p[:-4] + ("AAAA" if p[-4:] != "AAAA" else "BBBB") + "." + s
    cases = [("tampered", tampered, "invalid_token"),
             ("wrong audience", env.mint("read:Vehicle.Speed", aud="someone-else"),
              "invalid_token"),
             ("unknown key", env.mint("read:Vehicle.Speed", key="other"), "invalid_token"),
             ("wrong vin", env.mint("read:Vehicle.Speed", extra=("--vin", "OTHERVIN")),
              "invalid_token"),
             ("expired", env.expired, "expired_token"),
             ("garbage", "not.a.jwt", "invalid_token")]
    for name, tok, reason in cases:
        async with websockets.connect(env.ws, subprotocols=["VISSv3"],
                                      extra_headers={"Authorization": "Bearer " + tok}) as ws:
            m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "x"})
            check(err_of(m) == (401, reason), f"{name} token at upgrade: 401 {reason}: {m}")
        async with websockets.connect(env.ws, subprotocols=["VISSv3"]) as ws:
            m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "y",
                                "authorization": tok})
            check(err_of(m) == (401, reason), f"{name} token in the request: 401 {reason}")
    async with websockets.connect(env.ws, subprotocols=["VISSv3"],
                                  extra_headers={"Authorization": "Bearer " +
                                                 env.mint("read:Vehicle.Speed", key="issuer2",
                                                          extra=("--kid", "k2"))}) as ws:
        m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "es"})
        check("data" in m, "ES256 token with a kid accepted")

    # Rate limit: 100/s with a burst of 60 per token; a flood gets 429.
    flood = env.mint("read:Vehicle.Speed")
    async with websockets.connect(env.ws, subprotocols=["VISSv3"],
                                  extra_headers={"Authorization": "Bearer " + flood}) as ws:
        for i in range(150):
            await ws.send(json.dumps({"action": "get", "path": SPEED, "requestId": str(i)}))
        got = [json.loads(await asyncio.wait_for(ws.recv(), 5)) for _ in range(150)]
        limited = [m for m in got if err_of(m) == (429, "too_many_requests")]
        check(len(limited) > 0 and len(limited) < 150,
              f"rate limit: {len(limited)} of 150 rapid requests got 429")


async def collect(ws, seconds):
    """Every message that arrives within the next seconds, parsed."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            out.append(json.loads(await asyncio.wait_for(ws.recv(), end - time.monotonic())))
        except asyncio.TimeoutError:
            break
    return out


def sub_msgs(msgs, sid):
    data = [m for m in msgs if m.get("action") == "subscription" and
            m.get("subscriptionId") == sid and "error" not in m]
    errs = [m for m in msgs if m.get("action") == "subscription" and
            m.get("subscriptionId") == sid and "error" in m]
    return data, errs


async def token_lifecycle(env):
    """Session-level tokens over WebSocket: the token the connection holds governs its
    subscriptions; a request carrying a fresh token renews it; at expiry each subscription gets
    one error notification (401 expired_token) and ends; a renewal that grants less ends the
    subscriptions it no longer covers (403); a refused renewal leaves the old token in force."""
    hdr = lambda tok: {"Authorization": "Bearer " + tok}  # noqa: E731

    async def expires():
        short = env.mint("read:Vehicle.Speed", exp_in="2")
        t0 = time.monotonic()
        async with websockets.connect(env.ws, subprotocols=["VISSv3"],
                                      extra_headers=hdr(short)) as ws:
            m = await viss(ws, {"action": "subscribe", "path": SPEED, "requestId": "e1"})
            sid = m.get("subscriptionId")
            msgs = await collect(ws, 3.2 - (time.monotonic() - t0))
            data, errs = sub_msgs(msgs, sid)
            check(len(data) >= 3 and len(errs) == 1 and err_of(errs[0]) == (401, "expired_token")
                  and msgs.index(errs[0]) == len(msgs) - 1,
                  f"token expiry: {len(data)} notifications, then exactly one error notification "
                  f"401 expired_token, then silence ({[err_of(e) for e in errs]})")
            later = await collect(ws, 0.5)
            check(sub_msgs(later, sid) == ([], []), "nothing more after the expiry notice")
            m = await viss(ws, {"action": "unsubscribe", "subscriptionId": sid, "requestId": "e2"})
            check(err_of(m)[0] == 404, f"the expired subscription is gone: {m}")

    async def renews():
        short = env.mint("read:Vehicle.Speed", exp_in="2")
        fresh = env.mint("read:Vehicle.Speed")
        t0 = time.monotonic()
        async with websockets.connect(env.ws, subprotocols=["VISSv3"],
                                      extra_headers=hdr(short)) as ws:
            m = await viss(ws, {"action": "subscribe", "path": SPEED, "requestId": "r1"})
            sid = m.get("subscriptionId")
            await asyncio.sleep(0.3)
            m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "r2",
                                "authorization": fresh})
            check("data" in m, f"a get carrying a fresh token renews the session: {str(m)[:120]}")
            await collect(ws, 3.0 - (time.monotonic() - t0))  # past the first token's expiry
            data, errs = sub_msgs(await collect(ws, 0.8), sid)
            check(len(data) >= 5 and errs == [],
                  f"renewed before expiry: the subscription goes on past the old token's exp "
                  f"({len(data)} notifications, errors {errs})")

    async def narrows():
        wide = env.mint("read:Vehicle")
        narrow = env.mint("read:Vehicle.Speed")
        async with websockets.connect(env.ws, subprotocols=["VISSv3"],
                                      extra_headers=hdr(wide)) as ws:
            sid1 = (await viss(ws, {"action": "subscribe", "path": SPEED,
                                    "requestId": "w1"})).get("subscriptionId")
            sid2 = (await viss(ws, {"action": "subscribe", "path": SOC,
                                    "requestId": "w2"})).get("subscriptionId")
            await ws.send(json.dumps({"action": "get", "path": SPEED, "requestId": "w3",
                                      "authorization": narrow}))
            msgs = await collect(ws, 1.0)
            d1, e1 = sub_msgs(msgs, sid1)
            _, e2 = sub_msgs(msgs, sid2)
            after = e2 and sub_msgs(msgs[msgs.index(e2[0]) + 1:], sid2)[0]
            check(len(e2) == 1 and err_of(e2[0]) == (403, "forbidden_request") and
                  SOC in e2[0]["error"].get("message", "") and not after,
                  f"renewal with a narrower token ends the subscription it no longer grants: {e2}")
            check(len(d1) >= 5 and e1 == [], "the subscription it still grants goes on")
            # A refused renewal: the request fails, the token in force stays.
            bad = env.mint("read:Vehicle", aud="someone-else")
            m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "w4",
                                "authorization": bad})
            check(err_of(m) == (401, "invalid_token"), f"a bad renewal token is refused: {m}")
            m = await viss(ws, {"action": "get", "path": SPEED, "requestId": "w5"})
            d1, e1 = sub_msgs(await collect(ws, 0.5), sid1)
            check(len(d1) >= 3 and e1 == [],
                  "after a refused renewal the previous token stays in force")

    await asyncio.gather(expires(), renews(), narrows())


def local_token_lifecycle(env):
    """The same over the Unix socket with the client library (sdv-vehicle-sim): AUTH renews,
    SUB_ENDED 401 at expiry, 403 after a narrower renewal, a refused AUTH changes nothing."""
    def sub(tok, renew=None, after_ms=300, count="200"):
        args = [f"{BIN}/sdv-vehicle-sim", "app", "--socket", env.sock, "--token-file", tok,
                "subscribe", SPEED, "--count", count, "--idle-ms", "3000"]
        if renew:
            args += ["--renew-token-file", renew, "--renew-after-ms", str(after_ms)]
        return subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    short = lambda n: env.token_file(env.mint("read:Vehicle.Speed", exp_in="2"), n)  # noqa
    expiring = sub(short("l_exp"), count="1000")
    renewed = sub(short("l_ren"), renew=env.token_file(env.mint("read:Vehicle.Speed"), "l_fresh"))
    narrowed = sub(env.token_file(env.mint("read:Vehicle"), "l_wide"),
                   renew=env.token_file(env.mint("read:Vehicle.Cabin"), "l_narrow"))
    refused = sub(env.token_file(env.mint("read:Vehicle.Speed"), "l_keep"), count="40",
                  renew=env.token_file(env.mint("read:Vehicle", aud="nobody"), "l_bad"))
    out = {name: p.communicate(timeout=20)[0] for name, p in
           (("exp", expiring), ("ren", renewed), ("nar", narrowed), ("bad", refused))}
    rcs = {name: p.returncode for name, p in
           (("exp", expiring), ("ren", renewed), ("nar", narrowed), ("bad", refused))}
    check(rcs["exp"] == 3 and "ended 401 token expired" in out["exp"] and
          time.monotonic() - t0 < 8,
          f"local: the token expires: SUB_ENDED 401 once, the app stops: {out['exp'][-160:]}")
    check(rcs["ren"] == 0 and "renewed" in out["ren"] and "received 200 events" in out["ren"] and
          "ended" not in out["ren"],
          f"local: AUTH before the expiry keeps the subscription 5 s: {out['ren'][-160:]}")
    check(rcs["nar"] == 3 and "renewed" in out["nar"] and
          "ended 403 the renewed token does not grant read on Vehicle.Speed" in out["nar"],
          f"local: a narrower renewal ends the subscription it no longer grants: "
          f"{out['nar'][-200:]}")
    check(rcs["bad"] == 0 and "renewal refused: SDV_EDENIED" in out["bad"] and
          "previous token stays in force" in out["bad"] and "received 40 events" in out["bad"],
          f"local: a refused AUTH leaves the old token in force: {out['bad'][-200:]}")


def frame(ftype, rid, payload):
    return struct.pack("<BBHII", 0xB1, ftype, 0, len(payload), rid) + payload


def str16(b):
    return struct.pack("<H", len(b)) + b


def read_frame(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("broker closed the connection")
            buf += chunk
        return buf
    magic, ftype, _, length, rid = struct.unpack("<BBHII", exact(12))
    return ftype, rid, exact(length)


def one_take_per_request(env):
    """A request naming many signals costs one take from the rate bucket (burst 60 here),
    however many of its signals are refused; the refusals are still audited; the limit still
    holds once the requests outnumber the burst."""
    import socket as pysocket
    tok = env.mint("read:Vehicle.Speed", sub="multi-signal")
    refused = ["Vehicle.Cabin.HVAC.IsAirConditioningActive", SOC, TEMP, FAN2] * 5
    get = frame(5, 0, struct.pack("<H", 21) + b"".join(
        b"\x02" + str16(p.encode()) for p in [SPEED] + refused))
    raw = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    raw.settimeout(5)
    raw.connect(env.sock)
    raw.sendall(frame(1, 1, struct.pack("<H", 1) + str16(b"take-test") + str16(tok.encode())))
    ftype, _, _ = read_frame(raw)
    statuses = []
    for i in range(50):
        raw.sendall(get[:8] + struct.pack("<I", 100 + i) + get[12:])
        ftype, rid, pay = read_frame(raw)
        if ftype == 6:  # GET_RESULT: count, then per entry id, status (and ts, value if 0)
            off, st = 2, []
            for _ in range(struct.unpack_from("<H", pay)[0]):
                sid, status = struct.unpack_from("<IH", pay, off)
                off += 6
                if status == 0:
                    off += 8 + {10: 5, 0: 1}.get(pay[off + 8], 5)
                st.append(status)
            statuses.append(st)
        else:
            statuses.append(struct.unpack_from("<H", pay)[0])
    ok = [s for s in statuses if isinstance(s, list)]
    check(len(ok) == 50 and all(s[0] == 0 and s[1:] == [403] * 20 for s in ok),
          f"binary: 50 GETs of 21 signals (20 refused) within a burst of 60 all answered "
          f"({len(ok)} answered, others {[s for s in statuses if not isinstance(s, list)][:3]})")
    # Pipelined, so that the bucket's refill (100/s) cannot keep up whatever the machine's speed.
    raw.sendall(b"".join(get[:8] + struct.pack("<I", 200 + i) + get[12:] for i in range(150)))
    more = []
    for i in range(150):
        ftype, rid, pay = read_frame(raw)
        more.append(ftype == 9 and struct.unpack_from("<H", pay)[0] == 429)
    check(any(more), f"binary: the limit still holds: {sum(more)} of 150 more GETs got 429")
    raw.close()


def renew_by_handle(env):
    """SESSION_HANDLE and RENEW (what `sdv app run` does for its app): the handle is stable per
    session; RENEW works from a connection that never said HELLO (and does not greet it); an
    unknown handle is 404, another subject 403, a token from an untrusted key 401, each with a
    reason; an accepted renewal moves the session's expiry, so its subscription outlives the
    first token; a refused renewal is audited."""
    import socket as pysocket

    def conn():
        c = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
        c.settimeout(5)
        c.connect(env.sock)
        return c

    def renew(handle, tok, rid):
        c = conn()
        c.sendall(frame(23, rid, handle + str16(tok.encode())))
        ftype, r, pay = read_frame(c)
        c.sendall(frame(5, rid + 1, struct.pack("<H", 1) + b"\x02" + str16(SPEED.encode())))
        after = read_frame(c)
        c.close()
        status = struct.unpack_from("<H", pay)[0] if ftype == 9 else 0
        msg = pay[8:].decode(errors="replace") if ftype == 9 else ""
        return ftype, r, status, msg, after

    app = conn()
    app.sendall(frame(1, 1, struct.pack("<H", 1) + str16(b"renewed-app") +
                      str16(env.mint("read:Vehicle.Speed", exp_in="2", sub="app:renewed").encode())))
    t0 = time.monotonic()
    check(read_frame(app)[0] == 2, "renew: the app's session is greeted (token for 1-2 s)")
    app.sendall(frame(14, 2, struct.pack("<IBBBBB", 0, 0, 0, 0, 0, 0) + struct.pack("<H", 1) +
                      b"\x02" + str16(SPEED.encode())))
    ftype, _, _ = read_frame(app)
    check(ftype == 15, f"renew: the app subscribes to {SPEED} ({ftype})")
    handles = []
    for rid in (3, 4):
        app.sendall(frame(21, rid, b""))
        while True:
            ftype, r, pay = read_frame(app)
            if r == rid:
                break
        handles.append((ftype, pay))
    check(handles[0][0] == 22 and len(handles[0][1]) == 32 and handles[0] == handles[1] and
          handles[0][1] != bytes(32),
          f"renew: SESSION_HANDLE_OK carries 32 random bytes, the same when asked again")
    h = handles[0][1]
    good = env.mint("read:Vehicle.Speed", exp_in="600", sub="app:renewed")
    r = renew(bytes(32), good, 10)
    check(r[0] == 9 and r[2] == 404 and "no session with this handle" in r[3],
          f"renew: an unknown handle is 404: {r[2]} {r[3]}")
    r = renew(h, env.mint("read:Vehicle.Speed", sub="app:intruder"), 20)
    check(r[0] == 9 and r[2] == 403 and "app:intruder" in r[3] and "identity" in r[3],
          f"renew: another subject is 403: {r[3]}")
    r = renew(h, env.mint("read:Vehicle.Speed", key="other", sub="app:renewed"), 30)
    check(r[0] == 9 and r[2] == 401 and "stays in force" in r[3],
          f"renew: a token of an untrusted key is 401: {r[3]}")
    r = renew(h, good, 40)
    check(r[0] == 8 and r[1] == 40, f"renew: a good token of the same subject is accepted ({r[0]})")
    check(r[4][0] == 9 and struct.unpack_from("<H", r[4][2])[0] == 401,
          "renew: RENEW does not greet the renewing connection (its GET is refused 401)")
    # The first token has expired by now + 1 s: the subscription must still deliver, unended.
    ended, late = False, 0
    while time.monotonic() < t0 + 3.2:
        ftype, _, _ = read_frame(app)
        ended = ended or ftype == 20
        if ftype == 17 and time.monotonic() > t0 + 2.2:
            late += 1
    app.close()
    check(not ended and late > 0,
          f"renew: the renewed session's subscription outlives the first token "
          f"({late} events after its expiry, ended: {ended})")
    # A flood of guessed handles: every one answered 404, the audit lines within the budget
    # (100 a second), the rest counted as suppressed in the next line.
    flood = conn()
    flood.sendall(b"".join(frame(23, 1000 + i, os.urandom(32) + str16(b"x")) for i in range(250)))
    answers = [read_frame(flood) for _ in range(250)]
    time.sleep(1.05)
    flood.sendall(frame(23, 2000, os.urandom(32) + str16(b"x")))
    answers.append(read_frame(flood))
    flood.close()
    check(all(a[0] == 9 and struct.unpack_from("<H", a[2])[0] == 404 for a in answers),
          "renew: 251 guessed handles are all refused 404")
    with open(os.path.join(env.work, "audit.log")) as f:
        lines = [json.loads(x) for x in f]
    guessed = [x for x in lines if x["action"] == "renew" and "handle" in x["reason"]]
    check(len(guessed) < 240 and sum(x["suppressed"] for x in guessed) > 0,
          f"renew: a flood of guessed handles is audited within the budget "
          f"({len(guessed)} lines, {sum(x['suppressed'] for x in guessed)} suppressed)")
    check(any(x["action"] == "renew" and x["status"] == 403 and x["sub"] == "app:intruder"
              for x in lines) and
          any(x["action"] == "renew" and x["status"] == 401 and "handle" in x["reason"]
              for x in lines),
          "renew: refused renewals are audited (action renew: other subject, unknown handle)")


async def viss_one_take(env):
    tok = env.mint("read:Vehicle.Speed", sub="multi-viss")
    async with websockets.connect(env.ws, subprotocols=["VISSv3"],
                                  extra_headers={"Authorization": "Bearer " + tok}) as ws:
        codes = []
        for i in range(45):
            m = await viss(ws, {"action": "get", "path": "Vehicle", "requestId": f"m{i}",
                                "filter": {"variant": "paths",
                                           "parameter": ["Speed", "Cabin.HVAC"]}})
            codes.append(err_of(m)[0])
        check(codes == [403] * 45,
              f"VISS: 45 gets naming a refused branch within a burst of 60 are all 403, none "
              f"429: {sorted(set(codes))}")


def http_req(env, method, path, token=None, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{env.port}/{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def http_checks(env):
    tok = env.mint("read:Vehicle actuate:Vehicle.Cabin.HVAC")
    st, m = http_req(env, "GET", "Vehicle/Speed", tok)
    check(st == 200 and m["data"]["path"] == SPEED, f"HTTP GET /Vehicle/Speed: {st}")
    st, m = http_req(env, "GET", "Vehicle/Speed")
    check(st == 401 and err_of(m)[1] == "missing_token", f"HTTP GET without a token: {st}")
    st, m = http_req(env, "GET", "Vehicle/Nope", tok)
    check(st == 404, f"HTTP GET of an unknown path: {st}")
    st, m = http_req(env, "POST", TEMP.replace(".", "/"), tok, {"value": "21"})
    check(st == 200 and "error" not in m, f"HTTP POST set accepted by the provider: {st} {m}")
    st, m = http_req(env, "POST", TEMP.replace(".", "/"), tok, {"value": "40"})
    check(st == 403, f"HTTP POST set rejected by the provider: {st}")
    st, m = http_req(env, "POST", TEMP.replace(".", "/"), env.mint("read:Vehicle.Speed"),
                 {"value": "21"})
    check(st == 403, f"HTTP POST outside the scope: {st}")
    st, m = http_req(env, "POST", TEMP.replace(".", "/"), tok, {"value": "warm"})
    check(st == 400, f"HTTP POST of a non-number: {st}")
    st, m = http_req(env, "POST", TEMP.replace(".", "/"), tok, {"value": "22"})
    check(st == 200, "HTTP POST back to 22")
    # Keep-alive: several transactions on one connection, with and without a token.
    conn = http.client.HTTPConnection("127.0.0.1", env.port, timeout=10)
    codes = []
    for hdrs in ({"Authorization": "Bearer " + tok}, {}, {"Authorization": "Bearer " + tok}):
        conn.request("GET", "/Vehicle/Speed", headers=hdrs)
        resp = conn.getresponse()
        resp.read()
        codes.append(resp.status)
    conn.close()
    check(codes == [200, 401, 200], f"HTTP keep-alive: three requests on one connection: {codes}")


def local_checks(env):
    climate = env.token_file(env.mint("read:Vehicle.Speed actuate:Vehicle.Cabin.HVAC"), "climate")
    speed = env.token_file(env.mint("read:Vehicle.Speed"), "speed")
    r = env.app(speed, "get", SPEED)
    check(r.returncode == 0 and r.stdout.startswith(SPEED + " = "), f"local get: {r.stdout.strip()}")
    r = env.app(speed, "subscribe", SPEED, "--count", "3")
    check(r.returncode == 0 and "received 3 events" in r.stdout, "local subscribe: 3 events")
    r = env.app(climate, "set", TEMP, "23")
    check(r.returncode == 0, f"local app actuates within its scope: {r.stdout.strip()}")
    r = env.app(climate, "set", TEMP, "12")
    check(r.returncode == 3 and "SDV_EREJECTED" in r.stdout, f"provider rejects 12 C: {r.stdout.strip()}")
    r = env.app(speed, "set", TEMP, "23")
    check(r.returncode == 3 and "SDV_EDENIED" in r.stdout,
          f"speed-only app refused outside its scope: {r.stdout.strip()}")
    r = env.app(speed, "get", SOC)
    check(r.returncode == 3 and "SDV_EDENIED" in r.stdout, f"local read outside scope: {r.stdout.strip()}")
    r = env.app(climate, "set", FAN2, "30")
    check(r.returncode == 3 and "SDV_EUNAVAILABLE" in r.stdout and "no provider" in r.stdout,
          f"local actuation with no provider: {r.stdout.strip()}")
    bad = env.token_file(env.mint("read:Vehicle.Speed", aud="nobody"), "bad")
    r = env.app(bad, "get", SPEED)
    check(r.returncode == 3 and "connect" in r.stdout, f"local hello with a bad token: {r.stdout.strip()}")
    r = env.app(env.token_file(env.expired, "expired"), "get", SPEED)
    check(r.returncode == 3, f"local hello with an expired token: {r.stdout.strip()}")
    # The sdv command-line client against the real daemon.
    def sig(tok, *args):
        return subprocess.run([f"{BIN}/sdv", "signal", args[0], "--socket", env.sock, "--token",
                               tok] + list(args[1:]), capture_output=True, text=True, timeout=20)
    r = sig(speed, "get", SPEED)
    check(r.returncode == 0 and r.stdout.startswith(SPEED + " "), f"sdv signal get: {r.stdout}")
    r = sig(speed, "subscribe", "--count", "3", "--range", "gt:100", SPEED)
    vals = [float(x.split()[1]) for x in r.stdout.splitlines()]
    check(r.returncode == 0 and len(vals) == 3 and all(v > 100 for v in vals),
          f"sdv signal subscribe --range gt:100: {vals}")
    r = sig(climate, "set", TEMP, "24")
    check(r.returncode == 0 and "accepted" in r.stdout, f"sdv signal set accepted: {r.stdout}")
    r = sig(climate, "set", TEMP, "31")
    check(r.returncode != 0 and "rejected" in r.stderr, f"sdv signal set rejected: {r.stderr}")
    r = sig(speed, "set", TEMP, "24")
    check(r.returncode != 0 and "403" in r.stderr, f"sdv signal set outside scope: {r.stderr}")
    r = sig(climate, "set", TEMP, "23")
    check(r.returncode == 0, "sdv signal set back to 23")

    # Garbage on the Unix socket closes that connection only; the daemon keeps serving.
    import socket as pysocket
    raw = pysocket.socket(pysocket.AF_UNIX, pysocket.SOCK_STREAM)
    raw.connect(env.sock)
    raw.sendall(b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256)))
    raw.settimeout(5)
    try:
        closed = raw.recv(4096) == b""
    except OSError:
        closed = True
    raw.close()
    r = env.app(speed, "get", SPEED)
    check(closed and r.returncode == 0, "garbage on the Unix socket: that connection is closed, "
                                        "the next client is served")

    # A second provider cannot take signals someone else provides.
    prov2 = env.token_file(env.mint("provide:Vehicle"), "prov2")
    r = subprocess.run([f"{BIN}/sdv-vehicle-sim", "provider", "--socket", env.sock,
                        "--token-file", prov2], capture_output=True, text=True, timeout=10)
    check(r.returncode != 0 and "claim" in r.stderr, f"second provider refused: {r.stderr}")


def slow_subscriber(env, provider):
    """A subscriber that does not read loses its oldest values and is told; the provider's
    burst is not slowed down (it finishes while the subscriber still sleeps)."""
    speed = env.token_file(env.mint("read:Vehicle.Speed"), "slow")
    app = subprocess.Popen([f"{BIN}/sdv-vehicle-sim", "app", "--socket", env.sock,
                            "--token-file", speed, "subscribe", SPEED, "--count", "-1",
                            "--sleep-ms", "2500", "--idle-ms", "3000", "--until", "199999"],
                           stdout=subprocess.PIPE, text=True)
    assert app.stdout.readline().startswith("subscribed")
    time.sleep(0.2)
    provider.send_signal(signal.SIGUSR1)
    line = ""
    end = time.monotonic() + 10
    while "burst" not in line and time.monotonic() < end:
        line = provider.stdout.readline()
    out = app.communicate(timeout=20)[0]
    ms = int(line.split(" in ")[1].split(" ms")[0]) if "burst" in line else -1
    check(0 <= ms < 2000, f"provider burst of 200000 values took {ms} ms, not held up by the "
                          "slow subscriber (asleep 2.5 s)")
    last = out.strip().splitlines()[-1]
    lost = int(last.split("lost ")[1].split(",")[0]) if "lost " in last else 0
    check(lost > 0, f"slow subscriber told it lost values: {last}")
    check(last.endswith("last 199999"), f"slow subscriber kept the newest value: {last}")


def main():
    with tempfile.TemporaryDirectory(prefix="sdv-broker-test.") as work:
        env = Env(work)
        env.expired = env.mint("read:Vehicle.Speed", exp_in="0")
        env.start()
        prov_tok = env.token_file(env.mint("provide:Vehicle.Speed provide:Vehicle.Powertrain "
                                           "provide:Vehicle.Cabin.HVAC.Station.Row1",
                                           sub="vehicle"), "provider")
        provider = subprocess.Popen([f"{BIN}/sdv-vehicle-sim", "provider", "--socket", env.sock,
                                     "--token-file", prov_tok, "--period-ms", "25",
                                     "--burst", "200000"], stdout=subprocess.PIPE, text=True)
        check(provider.stdout.readline().strip() == "provider ready", "provider claimed signals")
        time.sleep(1.1)  # values flowing, and the expired token is past its exp
        try:
            asyncio.run(ws_checks(env))
            http_checks(env)
            local_checks(env)
            local_token_lifecycle(env)
            one_take_per_request(env)
            renew_by_handle(env)
            asyncio.run(viss_one_take(env))
            slow_subscriber(env, provider)
            # 503 while shutting down, then a clean exit with the values saved.
            async def shutdown_503():
                tok = env.mint("read:Vehicle.Speed")
                async with websockets.connect(env.ws, subprotocols=["VISSv3"],
                                              extra_headers={"Authorization": "Bearer " + tok}
                                              ) as ws:
                    env.proc.send_signal(signal.SIGTERM)
                    await asyncio.sleep(0.2)
                    return await viss(ws, {"action": "get", "path": SPEED, "requestId": "z"})
            m = asyncio.run(shutdown_503())
            check(err_of(m) == (503, "service_unavailable"), f"503 while shutting down: {m}")
            rc = env.proc.wait(timeout=10)
            check(rc == 0, f"SIGTERM: clean exit ({rc})")
            provider.wait(timeout=10)
            with open(os.path.join(work, "values.json")) as f:
                snap = json.load(f)["values"]
            check(snap.get(TEMP, {}).get("value") == 23.0, "snapshot holds the cabin temperature")
            # Restart: persisted values survive, without any provider attached.
            env.start()
            st, m = http_req(env, "GET", TEMP.replace(".", "/"), env.mint("read:Vehicle"))
            check(st == 200 and float(m["data"]["dp"]["value"]) == 23.0,
                  f"after a restart the last value is served: {st} {m}")
            st, m = http_req(env, "GET", "Vehicle/Speed", env.mint("read:Vehicle"))
            check(st == 200 and float(m["data"]["dp"]["value"]) == 199999.0,
                  "after a restart the last speed is served")
            check(env.stop() == 0, "second daemon stops cleanly")
            r = run(f"{BIN}/sdv", "token", "audit-verify", os.path.join(work, "audit.log"))
            check(r.returncode == 0, f"audit log chain verifies: {r.stdout.strip()}")
            with open(os.path.join(work, "audit.log")) as f:
                lines = [json.loads(x) for x in f]
            check(any(x["action"] == "actuate" and x["result"] == "allowed" for x in lines) and
                  any(x["result"] == "denied" and x["status"] == 403 for x in lines) and
                  any(x["status"] == 429 for x in lines) and
                  any(x["action"] == "authenticate" for x in lines),
                  "audit log records actuations, denials, 429s and bad tokens")
            multi = [x for x in lines if x["sub"] == "multi-signal" and x["status"] == 403]
            check(len({x["path"] for x in multi}) == 4,
                  f"the refused signals of multi-signal requests are audited "
                  f"({len(multi)} lines, paths {sorted({x['path'] for x in multi})})")
        finally:
            for p in (provider, env.proc):
                if p.poll() is None:
                    p.kill()
                    p.wait()
        with open(os.path.join(work, "broker.log")) as f:
            log = f.read()
        check(not any(w in log for w in ("AddressSanitizer", "LeakSanitizer", "runtime error:")),
              "no sanitizer report in the daemon's log")
        if FAILED:
            with open(os.path.join(work, "broker.log")) as f:
                print("--- broker.log (tail)\n" + "".join(f.readlines()[-30:]))
    print(f"{len(FAILED)} failed" if FAILED else "all passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
