#!/usr/bin/env python3
"""attacker_proxy.py: a man in the middle between sdv-agent and sdv-server, for the attack tests.

    attacker_proxy.py PORT_FILE UPSTREAM_FILE MODE_FILE LOG_FILE

Listens on 127.0.0.1 (a free port, written to PORT_FILE) and forwards every request to the URL in
UPSTREAM_FILE (read per request, so the server may restart on another port), headers and body
included: the server trusts 127.0.0.1 as a TLS-terminating proxy, so the vehicle identity header
passes through unchanged. What the attacker does is read from MODE_FILE on every request, a JSON
object {"rules": [RULE, ...]} (a missing or empty file forwards everything). The first rule whose
"match" (a Python regular expression) is found in the request path applies:

    {"match": RE, "action": "serve", "file": PATH}       answer 200 with the bytes of PATH
    {"match": RE, "action": "status", "status": 404}     answer that status, no upstream request
    {"match": RE, "action": "append", "bytes": N}        the upstream answer plus N bytes of 'x'
    {"match": RE, "action": "trickle", "rate": B}        the upstream answer at B bytes per second

Every request is logged to LOG_FILE as one line: "METHOD PATH ACTION STATUS SENT/LENGTH", where
SENT is what actually reached the client (a client that gives up early shows SENT < LENGTH).
Python standard library only.
"""
import http.client
import http.server
import json
import os
import re
import sys
import threading
import time
import urllib.parse

PORT_FILE, UPSTREAM_FILE, MODE_FILE, LOG_FILE = sys.argv[1:5]
LOG_LOCK = threading.Lock()
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-connection", "expect", "host", "content-length"}


def log(line):
    with LOG_LOCK:
        with open(LOG_FILE, "a", encoding="utf-8") as f:
            f.write(line + "\n")


def rules():
    try:
        with open(MODE_FILE, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return []
    return json.loads(text).get("rules", []) if text.strip() else []


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # the access log is LOG_FILE
        pass

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return body
                body += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length", "0"))
        return self.rfile.read(n) if n > 0 else b""

    def upstream(self, body):
        with open(UPSTREAM_FILE, encoding="utf-8") as f:
            url = urllib.parse.urlsplit(f.read().strip())
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        conn.request(self.command, self.path, body=body if body else None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        kept = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        return resp.status, kept, data

    def answer(self, status, headers, data, action, rate=0, extra=0):
        """Sends data (then extra bytes of 'x', produced as they go out, so that an endless
        answer costs no memory), at rate bytes per second if rate > 0."""
        total = len(data) + extra
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(total))
        self.end_headers()
        sent = 0
        step = rate if rate > 0 else 65536
        filler = b"x" * step
        try:
            while sent < total:
                chunk = data[sent:sent + step] if sent < len(data) else b""
                if len(chunk) < step:
                    chunk += filler[:min(step - len(chunk), total - sent - len(chunk))]
                self.wfile.write(chunk)
                sent += len(chunk)
                if rate > 0:
                    self.wfile.flush()
                    time.sleep(1.0)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        log(f"{self.command} {self.path} {action} {status} {sent}/{total}")

    def handle_any(self):
        body = self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        rule = next((r for r in rules() if re.search(r["match"], path)), None)
        action = rule["action"] if rule else "forward"
        if action == "serve":
            with open(rule["file"], "rb") as f:
                self.answer(200, [("Content-Type", "application/octet-stream")], f.read(), action)
            return
        if action == "status":
            self.answer(rule["status"], [("Content-Type", "text/plain")], b"withheld\n", action)
            return
        try:
            status, headers, data = self.upstream(body)
        except OSError as e:
            self.answer(502, [("Content-Type", "text/plain")], f"upstream: {e}\n".encode(),
                        "error")
            return
        extra = int(rule["bytes"]) if action == "append" else 0
        self.answer(status, headers, data, action, int(rule.get("rate", 0)) if rule else 0, extra)

    do_GET = handle_any
    do_POST = handle_any
    do_PUT = handle_any


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    server.daemon_threads = True
    with open(PORT_FILE + ".tmp", "w", encoding="utf-8") as f:
        f.write(str(server.server_address[1]))
    os.replace(PORT_FILE + ".tmp", PORT_FILE)
    server.serve_forever()


if __name__ == "__main__":
    main()
