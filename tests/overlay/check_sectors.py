#!/usr/bin/env python3
"""check_sectors.py GOT CANDIDATE... : every 512-byte sector of GOT must equal the sector at the
same offset of one of the CANDIDATE files (what the client may legitimately read there: an older
or newer round of its own writes, or the base). Prints how many sectors matched each candidate
and, for sectors that match none, the first few offsets. Exit 0 when every sector matched."""
import sys

SECTOR = 512


def main():
    got_path, candidates = sys.argv[1], sys.argv[2:]
    got = open(got_path, "rb").read()
    data = [open(c, "rb").read() for c in candidates]
    counts = [0] * len(candidates)
    bad = []
    for off in range(0, len(got), SECTOR):
        sector = got[off:off + SECTOR]
        for i, d in enumerate(data):
            if d[off:off + SECTOR] == sector:
                counts[i] += 1
                break
        else:
            bad.append(off // SECTOR)
    summary = ", ".join(f"{c.rsplit('/', 1)[-1]}: {n}" for c, n in zip(candidates, counts))
    if bad:
        print(f"{len(bad)} sector(s) match no candidate (first: {bad[:5]}); {summary}")
        return 1
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
