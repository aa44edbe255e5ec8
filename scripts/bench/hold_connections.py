#!/usr/bin/env python3
"""Opens N keep-alive connections to one HTTP server, makes one GET on each
(so every connection has carried a request and sits idle between requests,
as a player's does), then holds them all open until told to stop.

Usage: hold_connections.py HOST PORT PATH N READY_FILE [HOLD_SECONDS]

Writes "<open> <failed>" to READY_FILE when every connection has had its
answer, then waits until READY_FILE is removed (or HOLD_SECONDS pass) and
closes them. Used by scripts/bench/serve.sh to read a server's memory with
that many connections open.
"""

import os
import socket
import sys
import time


def get(sock, host, path):
    """One GET on an open socket; reads the whole answer. True on 2xx."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        body += chunk
    return 200 <= status < 300


def main():
    host, port, path, n, ready = sys.argv[1:6]
    hold = float(sys.argv[6]) if len(sys.argv) > 6 else 60.0
    port, n = int(port), int(n)
    socks, failed = [], 0
    for _ in range(n):
        try:
            s = socket.create_connection((host, port), timeout=10)
            if get(s, host, path):
                socks.append(s)
            else:
                failed += 1
                s.close()
        except OSError:
            failed += 1
    with open(ready + ".tmp", "w") as f:
        f.write(f"{len(socks)} {failed}\n")
    os.rename(ready + ".tmp", ready)
    deadline = time.monotonic() + hold
    while os.path.exists(ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    for s in socks:
        s.close()


if __name__ == "__main__":
    main()
