#!/usr/bin/env python3
"""notify_listen.py SOCKET LOG SECONDS: a stand-in for systemd's notification socket.

Binds a datagram socket at SOCKET (mode 0666, so a daemon that dropped root can still send),
and appends each message it receives to LOG as one line, the message's lines joined by '|'
(READY=1|STATUS=serving 2 exports on 2 interfaces). Exits after SECONDS, or on SIGTERM.
"""
import os
import socket
import sys
import time


def main() -> int:
    path, log_path, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    os.chmod(path, 0o666)
    deadline = time.monotonic() + seconds
    with open(log_path, "a", encoding="utf-8") as log:
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(min(left, 0.5))
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            log.write(data.decode("utf-8", "replace").strip("\n").replace("\n", "|") + "\n")
            log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
