#!/usr/bin/env python3
"""bench/durability_report.py: the tables and the JSON of bench/durability.

Reads what bench/durability collected: the guest's serial log of the QEMU part (lines
"DURBENCH KIND round=R dev=eS.L ... t0=NS t1=NS"), the labels of the guest's disks, and the
JSON that bench/run wrote for the load part. Prints one table per part (medians over the
rounds, MB/s or IOPS, with the ratios auto/cache and sync/cache per medium) and writes
everything, raw records included, to one JSON file.

    durability_report.py --json OUT [--serial LOG --devices e0.0=tmpfs-cache,...]
                         [--syncs PERF_SCRIPT.txt --inodes INO=eS.L,...]
                         [--load RUN.json] [--meta META.json]

After each sequential dd the guest also prints aoe.ko's debugfs state of that disk ("DURBENCH-AOE
eS.L ..."): the report keeps, per disk, the largest window aoe.ko reached (maxout), the frames
the target allows (nframes: the advertised buffer count, capped by aoe.ko's aoe_maxout) and the
frames aoe.ko ever allocated (falloc), i.e. whether its window limited the writes.

--syncs is `perf script -F tid,time,event,trace` of ext4:ext4_sync_file_enter/exit recorded on
the target during the QEMU part: per export, how many fdatasyncs ran, how long they took, and
how many guest write frames each one covered on average (the group size).
"""
import argparse
import json
import re
import statistics
import sys

LINE = re.compile(r"^DURBENCH (SEQ|SMALL|RAND) (.*)$")
# What each guest test measures, and its unit.
GUEST_TESTS = {
    "SEQ": ("seq-1M", "MB/s"),      # dd bs=1M oflag=direct conv=fsync
    "SMALL": ("seq-4k-qd1", "IOPS"),  # dd bs=4k oflag=direct conv=fsync: one write at a time
    "RAND": ("rand-4k-qd1", "IOPS"),  # one dd per random 4 KiB write (process start included)
}
MODES = ("cache", "auto", "sync")
# aoe.ko debugfs (drivers/block/aoe/aoeblk.c): "falloc: N", and per target "MAC:nout:maxout:nframes".
AOE_FALLOC = re.compile(r"^DURBENCH-AOE (\S+) falloc: (\d+)")
AOE_TARGET = re.compile(r"^DURBENCH-AOE (\S+) [0-9a-f]{12}:(\d+):(\d+):(\d+)")
SYNC_EVENT = re.compile(r"^\s*(\d+)\s+([\d.]+):\s+ext4:ext4_sync_file_(enter|exit):.*\bino (\d+)")


def parse_serial(path, devices):
    """The guest's result lines as records; FAIL lines are returned separately."""
    records, failures = [], []
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace").replace("\r", "")
    for line in text.splitlines():
        if line.startswith("DURBENCH FAIL"):
            failures.append(line[len("DURBENCH FAIL "):])
            continue
        m = LINE.match(line)
        if not m:
            continue
        fields = dict(kv.split("=", 1) for kv in m.group(2).split())
        label = devices.get(fields["dev"], fields["dev"])
        medium, _, mode = label.partition("-")
        seconds = (int(fields["t1"]) - int(fields["t0"])) / 1e9
        test, unit = GUEST_TESTS[m.group(1)]
        bs = int(fields.get("bs", 1048576))
        if m.group(1) == "SEQ" and bs != 1048576:
            test = f"seq-{bs // 1048576}M"
        amount = int(fields["bytes"]) / 1e6 if unit == "MB/s" else int(fields["ops"])
        records.append({
            "part": "qemu", "test": test, "unit": unit, "round": int(fields["round"]),
            "dev": fields["dev"], "target": label, "medium": medium, "mode": mode,
            "bytes": int(fields.get("bytes", 0)), "bs": bs, "ops": int(fields.get("ops", 0)),
            "seconds": round(seconds, 6), "value": round(amount / seconds, 3) if seconds > 0 else None,
        })
    return records, failures


def parse_windows(path, devices):
    """Per disk, aoe.ko's largest window, its frame limit and the frames it allocated."""
    windows = {}
    with open(path, "rb") as f:
        text = f.read().decode("utf-8", "replace").replace("\r", "")
    for line in text.splitlines():
        m = AOE_TARGET.match(line)
        if m:
            w = windows.setdefault(m.group(1), {"dev": m.group(1), "target": devices.get(m.group(1), m.group(1)),
                                                "maxout": 0, "nframes": 0, "falloc": 0})
            w["maxout"] = max(w["maxout"], int(m.group(3)))
            w["nframes"] = max(w["nframes"], int(m.group(4)))
            continue
        m = AOE_FALLOC.match(line)
        if m:
            w = windows.setdefault(m.group(1), {"dev": m.group(1), "target": devices.get(m.group(1), m.group(1)),
                                                "maxout": 0, "nframes": 0, "falloc": 0})
            w["falloc"] = max(w["falloc"], int(m.group(2)))
    return sorted(windows.values(), key=lambda w: w["dev"])


def parse_payload(path):
    """The payload aoe.ko negotiated (bytes per frame), from the guest's READY line."""
    with open(path, "rb") as f:
        m = re.search(rb"DURBENCH READY payload=(\d+)", f.read())
    return int(m.group(1)) if m else None


def sync_stats(path, inodes, devices, guest, payload):
    """Per traced export: fdatasync count, median and mean duration, write frames per fdatasync."""
    started, durations, counts = {}, {}, {}
    for line in open(path):
        m = SYNC_EVENT.match(line)
        if not m:
            continue
        tid, t, kind, ino = m.group(1), float(m.group(2)), m.group(3), m.group(4)
        if kind == "enter":
            started[tid] = (ino, t)
            counts[ino] = counts.get(ino, 0) + 1
        elif tid in started:
            ino0, t0 = started.pop(tid)
            durations.setdefault(ino0, []).append((t - t0) * 1e3)
    out = []
    for ino, dev in inodes.items():
        frames = 0
        for r in guest:
            if r["dev"] != dev or not payload:
                continue
            if r["test"].startswith("seq-") and r["test"].endswith("M"):
                frames += r["bytes"] // r["bs"] * -(-r["bs"] // payload)
            else:
                frames += r["ops"] * -(-4096 // payload)
        n, d = counts.get(ino, 0), durations.get(ino, [])
        out.append({"dev": dev, "target": devices.get(dev, dev), "fdatasyncs": n,
                    "median_ms": round(statistics.median(d), 3) if d else None,
                    "mean_ms": round(statistics.mean(d), 3) if d else None,
                    "write_frames": frames,
                    "frames_per_fdatasync": round(frames / n, 2) if n else None})
    return out


def load_records(path):
    """bench/run's load records as records of this report (target labels MEDIUM-MODE)."""
    run = json.load(open(path))
    out = []
    for r in run.get("records", []):
        if r.get("kind") != "load":
            continue
        client = r.get("client") or {}
        medium, _, mode = r["target"].partition("-")
        unit = "IOPS" if "rand" in r["cell"] else "MB/s"
        value = client.get("iops") if unit == "IOPS" else client.get("mb_per_s")
        out.append({
            "part": "load", "test": r["cell"], "unit": unit, "round": r["round"], "mtu": r["mtu"],
            "target": r["target"], "medium": medium, "mode": mode,
            "value": value if r["exit"] == 0 and client.get("errors", 1) == 0 else None,
            "p50_us": (client.get("latency_us") or {}).get("p50"),
            "retransmits": client.get("retransmits"), "target_cpu_s": r.get("target_cpu_s"),
        })
    return out, run.get("meta", {})


def summarize(records):
    """Medians per (part, test, medium, mode) and the ratios against cache on the same medium."""
    groups = {}
    for r in records:
        groups.setdefault((r["part"], r["test"], r["medium"], r["mode"]), []).append(r)
    rows = []
    for (part, test, medium, mode), rs in sorted(groups.items()):
        values = [r["value"] for r in rs if r["value"] is not None]
        rows.append({
            "part": part, "test": test, "medium": medium, "mode": mode, "unit": rs[0]["unit"],
            "runs": values, "failed_runs": len(rs) - len(values),
            "median": round(statistics.median(values), 3) if values else None,
        })
    by_key = {(r["part"], r["test"], r["medium"], r["mode"]): r for r in rows}
    for r in rows:
        base = by_key.get((r["part"], r["test"], r["medium"], "cache"))
        if base and base["median"] and r["median"] is not None:
            r["ratio_vs_cache"] = round(r["median"] / base["median"], 3)
    return rows


def print_tables(rows):
    for part in ("qemu", "load"):
        mine = [r for r in rows if r["part"] == part]
        if not mine:
            continue
        modes = [m for m in MODES if any(r["mode"] == m for r in mine)]
        others = sorted({r["mode"] for r in mine} - set(MODES))
        cols = modes + others
        print()
        print("aoe.ko in QEMU (guest dd)" if part == "qemu" else "load client (bench/run)")
        head = "| test | medium | unit | " + " | ".join(cols) + " | auto/cache | sync/cache |" + \
            "".join(f" {o}/cache |" for o in others)
        print(head)
        print("|" + "---|" * (head.count("|") - 1))
        tests = []
        for r in mine:
            if (r["test"], r["medium"]) not in tests:
                tests.append((r["test"], r["medium"]))
        for test, medium in tests:
            cell = {r["mode"]: r for r in mine if r["test"] == test and r["medium"] == medium}
            unit = next(iter(cell.values()))["unit"]

            def val(m):
                r = cell.get(m)
                if not r or r["median"] is None:
                    return "-"
                spread = f" ({min(r['runs']):.0f}-{max(r['runs']):.0f})" if len(r["runs"]) > 1 else ""
                return f"{r['median']:.1f}{spread}"

            def ratio(m):
                r = cell.get(m)
                return f"{r['ratio_vs_cache']:.2f}" if r and "ratio_vs_cache" in r else "-"
            print(f"| {test} | {medium} | {unit} | " + " | ".join(val(m) for m in cols) +
                  f" | {ratio('auto')} | {ratio('sync')} |" + "".join(f" {ratio(o)} |" for o in others))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", required=True, help="where to write the result JSON")
    ap.add_argument("--serial", help="the guest's serial log (QEMU part)")
    ap.add_argument("--devices", default="", help="eS.L=MEDIUM-MODE,... (QEMU part)")
    ap.add_argument("--syncs", help="perf script output of the target's fdatasyncs (QEMU part)")
    ap.add_argument("--inodes", default="", help="INODE=eS.L,... of the traced images")
    ap.add_argument("--load", help="bench/run's result JSON (load part)")
    ap.add_argument("--meta", help="bench/durability's meta JSON")
    a = ap.parse_args()

    records, failures, load_meta, syncs, windows = [], [], {}, [], []
    if a.serial:
        devices = dict(d.split("=", 1) for d in a.devices.split(",") if d)
        guest, failures = parse_serial(a.serial, devices)
        if not guest:
            print(f"no DURBENCH result lines in {a.serial}", file=sys.stderr)
        records += guest
        windows = parse_windows(a.serial, devices)
        if a.syncs:
            inodes = dict(i.split("=", 1) for i in a.inodes.split(",") if i)
            syncs = sync_stats(a.syncs, inodes, devices, guest, parse_payload(a.serial))
    if a.load:
        load, load_meta = load_records(a.load)
        records += load
    rows = summarize(records)
    print_tables(rows)
    if syncs:
        print("\nfdatasyncs of the disk-backed exports (perf, ext4:ext4_sync_file_enter/exit)")
        print("| export | fdatasyncs | median ms | mean ms | write frames | frames per fdatasync |")
        print("|---|---|---|---|---|---|")
        for s in syncs:
            print(f"| {s['target']} | {s['fdatasyncs']} | {s['median_ms']} | {s['mean_ms']} | "
                  f"{s['write_frames']} | {s['frames_per_fdatasync']} |")
    if windows:
        print("\naoe.ko's window as it stood after each sequential dd (debugfs; largest over the rounds)")
        print("| disk | maxout | nframes | frames allocated |")
        print("|---|---|---|---|")
        for w in windows:
            print(f"| {w['target']} | {w['maxout']} | {w['nframes']} | {w['falloc']} |")
    for f in failures:
        print(f"guest reported a failure: {f}", file=sys.stderr)
    meta = json.load(open(a.meta)) if a.meta else {}
    json.dump({"meta": meta, "load_run_meta": load_meta, "guest_failures": failures, "fdatasyncs": syncs,
               "aoe_windows": windows, "summary": rows, "records": records}, open(a.json, "w"), indent=1)
    return 1 if failures or (a.serial and not any(r["part"] == "qemu" for r in records)) else 0


if __name__ == "__main__":
    sys.exit(main())
