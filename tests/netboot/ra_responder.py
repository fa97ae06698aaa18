#!/usr/bin/env python3
"""ra_responder.py IFACE SECONDS: answers IPv6 router solicitations on IFACE.

iPXE configures IPv6 beside DHCP when it boots, and waits for both. On a segment without an
IPv6 router its router solicitations go unanswered and time out after about 16 s, which every
QEMU boot of the tests would wait out (docs/netboot.md, troubleshooting). This answers each
solicitation with a router advertisement that offers nothing (no flags, no prefix, router
lifetime 0: "not a default router"), which ends iPXE's IPv6 set-up at once without configuring
anything. Tests only: it runs in a test's own network namespace, for at most SECONDS.
"""
import select
import socket
import struct
import sys
import time

ETH_P_IPV6 = 0x86DD
ICMPV6 = 58
ROUTER_SOLICITATION = 133
ROUTER_ADVERTISEMENT = 134
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def link_local(mac: bytes) -> bytes:
    """fe80::/64 with the modified EUI-64 interface identifier of MAC."""
    eui = bytes([mac[0] ^ 0x02]) + mac[1:3] + b"\xff\xfe" + mac[3:6]
    return bytes.fromhex("fe80000000000000") + eui


def advertisement(our_mac: bytes, to_mac: bytes, to_ip: bytes) -> bytes:
    source = link_local(our_mac)
    # Current hop limit 64, no flags, router lifetime 0, reachable time and retransmission timer
    # unspecified; one option: our link-layer address.
    body = struct.pack("!BBHI", 64, 0, 0, 0) + struct.pack("!I", 0) + b"\x01\x01" + our_mac
    icmp = struct.pack("!BBH", ROUTER_ADVERTISEMENT, 0, 0) + body
    pseudo = source + to_ip + struct.pack("!I", len(icmp)) + b"\0\0\0" + bytes([ICMPV6])
    icmp = icmp[:2] + struct.pack("!H", checksum(pseudo + icmp)) + icmp[4:]
    ipv6 = struct.pack("!IHBB", 6 << 28, len(icmp), ICMPV6, 255) + source + to_ip
    return to_mac + our_mac + struct.pack("!H", ETH_P_IPV6) + ipv6 + icmp


def main() -> int:
    if len(sys.argv) != 3:
        print("usage: ra_responder.py IFACE SECONDS", file=sys.stderr)
        return 2
    iface, seconds = sys.argv[1], float(sys.argv[2])
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_IPV6))
    sock.bind((iface, 0))
    our_mac = sock.getsockname()[4]
    end = time.monotonic() + seconds
    answered = 0
    while (left := end - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            continue
        frame, address = sock.recvfrom(2048)
        if address[2] == socket.PACKET_OUTGOING or len(frame) < 14 + 40 + 4:
            continue
        ip = frame[14:54]
        if ip[6] != ICMPV6 or frame[54] != ROUTER_SOLICITATION:
            continue
        source_ip = ip[8:24]
        to_ip = ALL_NODES if source_ip == bytes(16) else source_ip
        sock.send(advertisement(our_mac, frame[6:12], to_ip))
        answered += 1
        print(f"ra_responder: answered a router solicitation from {frame[6:12].hex(':')}",
              flush=True)
    print(f"ra_responder: {answered} solicitations answered", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
