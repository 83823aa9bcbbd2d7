#!/usr/bin/env python3
"""A small HTTP server on 127.0.0.1 for lib/net tests: well-behaved and hostile answers.

Usage: net_test_server.py PORT_FILE  (binds port 0, writes the port to PORT_FILE, serves until
killed). Paths: /file (1,000 bytes), /missing (404), /forbidden (403), /error (500),
/big (100,000 bytes with Content-Length), /endless (close-delimited, no length, 100,000 bytes),
/slow (one byte every 0.4 s), /redirect (302 to /file), /redirect-ftp (302 to an ftp URL),
/range (/file honouring "Range: bytes=N-" with 206/416), /range-ignored (/file, Range ignored),
/range-wrong (206 that starts at 0 whatever was asked).
"""
import re
import http.server
import socketserver
import sys
import time

FILE = bytes(range(256)) * 3 + b"x" * 232  # 1,000 bytes


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def body(self, data, length=True):
        self.send_response(200)
        if length:
            self.send_header("Content-Length", str(len(data)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(data)

    def status(self, code, location=None):
        self.send_response(code)
        if location:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def ranged(self, honour=True):
        m = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if m is None:
            self.body(FILE)
            return
        start = int(m.group(1)) if honour else 0
        if start >= len(FILE):
            self.send_response(416)
            self.send_header("Content-Range", "bytes */%d" % len(FILE))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206)
        self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(FILE) - 1, len(FILE)))
        self.send_header("Content-Length", str(len(FILE) - start))
        self.end_headers()
        self.wfile.write(FILE[start:])

    def do_GET(self):
        p = self.path
        if p == "/range":
            self.ranged()
        elif p == "/range-ignored":
            self.body(FILE)
        elif p == "/range-wrong":
            self.ranged(honour=False)
        elif p == "/file":
            self.body(FILE)
        elif p == "/missing":
            self.status(404)
        elif p == "/forbidden":
            self.status(403)
        elif p == "/error":
            self.status(500)
        elif p == "/big":
            self.body(b"b" * 100000)
        elif p == "/endless":
            self.body(b"e" * 100000, length=False)
        elif p == "/slow":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                for _ in range(1000):
                    self.wfile.write(b"s")
                    self.wfile.flush()
                    time.sleep(0.4)
            except (BrokenPipeError, ConnectionResetError):
                pass
        elif p == "/redirect":
            self.status(302, "/file")
        elif p == "/redirect-ftp":
            self.status(302, "ftp://127.0.0.1/file")
        else:
            self.status(404)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    srv = Server(("127.0.0.1", 0), Handler)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
