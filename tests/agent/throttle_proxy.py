#!/usr/bin/env python3
"""throttle_proxy.py LISTEN_PORT_FILE UPSTREAM_PORT BYTES_PER_S RANGE_LOG

A TCP proxy on 127.0.0.1 in front of a real server: bytes from the server to the client are
paced at BYTES_PER_S, so that a test can kill a client in the middle of a download. Every
"Range:" request header seen from a client is appended to RANGE_LOG. The chosen port is written
to LISTEN_PORT_FILE.
"""
import socket
import sys
import threading
import time


def pump(src, dst, rate, log):
    pending = b""
    try:
        while True:
            data = src.recv(16384 if rate else 65536)
            if not data:
                break
            if log is not None:
                pending = (pending + data)[-8192:]
                while b"\r\n" in pending:
                    line, pending = pending.split(b"\r\n", 1)
                    if line.lower().startswith(b"range:"):
                        with open(log, "a") as f:
                            f.write(line.decode("latin-1") + "\n")
            if rate:
                for i in range(0, len(data), 4096):
                    dst.sendall(data[i:i + 4096])
                    time.sleep(4096 / rate)
            else:
                dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    port_file, upstream, rate, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(ls.getsockname()[1]))
    import os
    os.rename(port_file + ".tmp", port_file)
    while True:
        c, _ = ls.accept()
        u = socket.create_connection(("127.0.0.1", upstream))
        threading.Thread(target=pump, args=(c, u, 0, log), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, rate, None), daemon=True).start()


if __name__ == "__main__":
    main()
