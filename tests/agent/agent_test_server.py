#!/usr/bin/env python3
"""A throttled fleet server on 127.0.0.1 for the sdv-agent resume test.

Usage: agent_test_server.py FLEET_DIR PORT_FILE LOG_FILE BYTES_PER_S
Serves /v1/vehicle/director/NAME from FLEET_DIR/director, /v1/vehicle/image/metadata/NAME and
/v1/vehicle/image/targets/PATH from FLEET_DIR/imagerepo (targets honour "Range: bytes=N-" with
206, and are sent at BYTES_PER_S), accepts POST /v1/vehicle/manifest (saved as
FLEET_DIR/manifest-N.json). Every targets request is logged as "GET PATH RANGE" to LOG_FILE.
"""
import http.server
import os
import re
import socketserver
import sys
import time

FLEET, PORT_FILE, LOG, RATE = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
MANIFESTS = [0]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def empty(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def file(self, path, throttle):
        if ".." in path.split("/") or not os.path.isfile(path):
            return self.empty(404)
        data = open(path, "rb").read()
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if throttle:
            with open(LOG, "a") as f:
                f.write("GET %s %s\n" % (self.path, self.headers.get("Range", "-")))
        if m is not None:
            start = int(m.group(1))
            if start >= len(data):
                return self.empty(416)
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        chunk = max(1, RATE // 20)
        try:
            for off in range(start, len(data), chunk if throttle else len(data)):
                self.wfile.write(data[off:off + (chunk if throttle else len(data))])
                self.wfile.flush()
                if throttle:
                    time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_GET(self):
        p = self.path
        if p.startswith("/v1/vehicle/director/"):
            self.file(os.path.join(FLEET, "director", p[len("/v1/vehicle/director/"):]), False)
        elif p.startswith("/v1/vehicle/image/metadata/"):
            self.file(os.path.join(FLEET, "imagerepo/metadata",
                                   p[len("/v1/vehicle/image/metadata/"):]), False)
        elif p.startswith("/v1/vehicle/image/targets/"):
            self.file(os.path.join(FLEET, "imagerepo/targets",
                                   p[len("/v1/vehicle/image/targets/"):]), True)
        else:
            self.empty(404)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path != "/v1/vehicle/manifest":
            return self.empty(404)
        MANIFESTS[0] += 1
        with open(os.path.join(FLEET, "manifest-%d.json" % MANIFESTS[0]), "wb") as f:
            f.write(body)
        answer = b'{"accepted": true}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


srv = Server(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
