#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets: small hand-made frames as real peers send them.

    fuzz/make_corpus.py [FUZZ_DIR]   (default: the directory of this script)

fuzz_decode/<name>: one Ethernet frame per file.
fuzz_target/<name>: a sequence of frames, each as a record (see fuzz_target.cc):
    control byte (bit 0: port 0 "mem0" MTU 1500, port 1 "jumbo" MTU 9000),
    2-byte big-endian length, the frame.
The target under fuzz_target serves e1.1 (rw, 32 sectors), e1.2 (ro, 16 sectors) and e1.3
(window of 24 sectors, mem0 only). Output is deterministic; re-running rewrites the same bytes.
"""
import os
import struct
import sys

TARGET = bytes.fromhex("020000000001")
HOST_A = bytes.fromhex("00 1b 21 aa bb cc")
HOST_B = bytes.fromhex("52 54 00 01 02 03")
BCAST = b"\xff" * 6


def header(cmd, shelf=1, slot=1, tag=0x12345678, src=HOST_A, dst=TARGET, ver_flags=0x10):
    return dst + src + b"\x88\xa2" + bytes([ver_flags, 0]) + struct.pack(">HBBI", shelf, slot, cmd, tag)


def ata(opcode, lba=0, count=1, aflags=0, data=b"", feature=0, **kw):
    lba_bytes = lba.to_bytes(8, "little")[:6]
    return header(0, **kw) + bytes([aflags, feature, count, opcode]) + lba_bytes + b"\0\0" + data


def config(ccmd, string=b"", declared=None, **kw):
    n = len(string) if declared is None else declared
    return header(1, **kw) + struct.pack(">HHBBH", 0, 0, 0, 0x10 | ccmd, n) + string


def mask(mcmd, directives=(), declared=None, **kw):
    n = len(directives) if declared is None else declared
    body = b"".join(bytes([0, d]) + mac for d, mac in directives)
    return header(2, **kw) + bytes([0, mcmd, 0, n]) + body


def reserve(rcmd, macs=(), declared=None, **kw):
    n = len(macs) if declared is None else declared
    return header(3, **kw) + bytes([rcmd, n]) + b"".join(macs)


def pad(frame, size=60):
    return frame + b"\0" * max(0, size - len(frame))


def sector(seed, count=1):
    return bytes((i * 13 + seed) & 0xFF for i in range(512 * count))


# Frames real peers send (aoe-protocol.md §7), and hostile variants of them.
FRAMES = {
    "linux_config_query_bcast": pad(config(0, shelf=0xFFFF, slot=0xFF, dst=BCAST)),
    "linux_identify_a0": pad(ata(0xEC, lba=0xA0000000)),
    "linux_read28_e0": pad(ata(0x20, lba=0xE0000004, count=2)),
    "linux_write28_e0": ata(0x30, lba=0xE0000003, count=1, aflags=0x01, data=sector(1)),
    "linux_flush": pad(ata(0xE7)),
    "ipxe_read_ext": pad(ata(0x24, lba=8, count=2, aflags=0x40, slot=1)),
    "ipxe_config_unicast": pad(config(0, slot=3)),
    "winaoe_identify_bcast": pad(ata(0xEC, shelf=0xFFFF, slot=0xFF, dst=BCAST, tag=1)),
    "winaoe_read_ext_high_lba": pad(ata(0x24, lba=0x123456789ABC, count=1, aflags=0x40)),
    "aoeping_config_1024_filler": config(0, b"\xaa" * 1024),
    "aoeping_smart": pad(ata(0xB0, feature=0xD0)),
    "check_power_mode": pad(ata(0xE5)),
    "flush_ext": pad(ata(0xEA, aflags=0x40)),
    "write_ext_two": ata(0x34, lba=30, count=2, aflags=0x41, data=sector(2, 2)),
    "write_ro": ata(0x34, lba=0, count=1, aflags=0x41, data=sector(3), slot=2),
    "write_window_last": ata(0x34, lba=23, count=1, aflags=0x41, data=sector(4), slot=3),
    "write_window_past_end": ata(0x34, lba=23, count=2, aflags=0x41, data=sector(5, 2), slot=3),
    "read_past_end_48": pad(ata(0x24, lba=0xFFFFFFFFFFFF, count=255, aflags=0x40)),
    "read_count_too_big": pad(ata(0x24, lba=0, count=3, aflags=0x40)),
    "write_short_payload": ata(0x34, lba=0, count=2, aflags=0x41, data=sector(6)),
    "identify_count_2": pad(ata(0xEC, count=2)),
    "config_set_if_empty": pad(config(3, b"host=alpha")),
    "config_force_set": pad(config(4, b"host=beta")),
    "config_test_exact": pad(config(1, b"host=beta")),
    "config_test_prefix": pad(config(2, b"host")),
    "config_declared_2000": pad(config(4, b"x" * 8, declared=2000)),
    "config_declared_past_frame": pad(config(4, b"abc", declared=300)),
    "config_ccmd_9": pad(config(9)),
    "mask_read": pad(mask(0)),
    "mask_edit_add_delete": pad(mask(1, [(1, HOST_A), (2, HOST_B)])),
    "mask_edit_bad_directive": pad(mask(1, [(7, HOST_B)])),
    "mask_count_past_frame": pad(mask(1, [(1, HOST_B)], declared=200)),
    "reserve_read": pad(reserve(0)),
    "reserve_set_two": pad(reserve(1, [HOST_A, HOST_B])),
    "reserve_force_release": pad(reserve(2)),
    "reserve_count_past_frame": pad(reserve(1, [HOST_A], declared=255)),
    "version_2": pad(header(0, ver_flags=0x20) + bytes(12)),
    "response_flag": pad(ata(0xEC, ver_flags=0x18)),
    "unknown_command_9": pad(header(9)),
    "runt_30": ata(0xEC)[:30],
    "not_aoe_ethertype": pad(TARGET + HOST_A + b"\x08\x00" + bytes(30)),
}


def record(frame, port=0):
    return bytes([port]) + struct.pack(">H", len(frame)) + frame


# Command sequences for fuzz_target: state set by one frame changes the answer to the next.
SEQUENCES = {
    "seq_mask_then_write": [mask(1, [(1, HOST_B)]), FRAMES["linux_write28_e0"],
                            ata(0x34, lba=1, count=1, aflags=0x41, data=sector(7), src=HOST_B)],
    "seq_reserve_then_write": [reserve(1, [HOST_B]), FRAMES["write_ext_two"],
                               reserve(2, [], src=HOST_A), FRAMES["write_ext_two"]],
    "seq_config_set_then_test": [config(3, b"abc"), config(3, b"abd"), config(1, b"abc"),
                                 config(2, b"ab"), config(4, b"")],
    "seq_write_then_read": [ata(0x34, lba=5, count=1, aflags=0x41, data=sector(8), slot=3),
                            pad(ata(0x24, lba=5, count=1, aflags=0x40, slot=3))],
    "seq_jumbo_read": [(1, pad(ata(0x24, lba=0, count=16, aflags=0x40)))],
    "seq_jumbo_write": [(1, ata(0x34, lba=8, count=17, aflags=0x41, data=sector(9, 17)))],
    "seq_wildcard_on_jumbo": [(1, pad(config(0, shelf=0xFFFF, slot=0xFF, dst=BCAST)))],
    "seq_mbr_write_then_identify": [
        ata(0x34, lba=0, count=1, aflags=0x41,
            data=bytes(446) + bytes([0x80, 1, 1, 0, 0x83, 15, 0xFF, 0xFF]) +
            struct.pack("<II", 63, 1000) + bytes(48) + b"\x55\xaa"),
        pad(ata(0xEC))],
}


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    decode_dir = os.path.join(root, "corpus", "fuzz_decode")
    target_dir = os.path.join(root, "corpus", "fuzz_target")
    os.makedirs(decode_dir, exist_ok=True)
    os.makedirs(target_dir, exist_ok=True)
    for name, frame in FRAMES.items():
        with open(os.path.join(decode_dir, name), "wb") as f:
            f.write(frame)
        with open(os.path.join(target_dir, name), "wb") as f:
            f.write(record(frame))
    for name, frames in SEQUENCES.items():
        data = b"".join(record(*f[::-1]) if isinstance(f, tuple) else record(f) for f in frames)
        with open(os.path.join(target_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
