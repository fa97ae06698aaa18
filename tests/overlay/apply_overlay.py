#!/usr/bin/env python3
"""apply_overlay.py BASE MAP DATA OUT : writes OUT = BASE with every block the overlay's map
marks (docs/overlays.md, "Format": bit B%8 of byte 4096 + B/8; 4 KiB blocks) replaced by the
data file's bytes at the same offset: the disk as that client sees it, rebuilt from the files
alone, so a test can check it with e2fsck and debugfs."""
import shutil
import sys

HEADER = 4096
BLOCK = 4096


def main():
    base, map_path, data_path, out = sys.argv[1:5]
    shutil.copyfile(base, out)
    bitmap = open(map_path, "rb").read()[HEADER:]
    applied = 0
    with open(data_path, "rb") as data, open(out, "r+b") as dst:
        size = dst.seek(0, 2)
        for byte_index, byte in enumerate(bitmap):
            if not byte:
                continue
            for bit in range(8):
                if byte >> bit & 1:
                    offset = (byte_index * 8 + bit) * BLOCK
                    length = min(BLOCK, size - offset)
                    data.seek(offset)
                    dst.seek(offset)
                    dst.write(data.read(length))
                    applied += 1
    print(f"{applied} block(s) applied")


if __name__ == "__main__":
    main()
