#!/usr/bin/env python3
"""Turns the raw records of one bench/run into the result JSON, the printed tables and the
chart's data files. Every number in the tables is derived here from the raw records, which the
JSON keeps too, so a reader can recompute any of them.

    report.py --records R.jsonl --meta M.json --json OUT.json --chart-data PREFIX
              [--baseline vblade] [--primary aoe]
    report.py --from-json OLD.json [--json NEW.json] [--chart-data PREFIX] [--markdown]
                                                            (re-render a run, e.g. for docs)

Records (one JSON object per line, written by bench/run):
    {"kind": "load",  "round", "mtu", "cell", "target", "target_cpu_s", "client_cpu_s",
                      "cpu_busy_s": {...}, "exit", "client": <aoe_load's JSON>}
    {"kind": "blast", "round", "mtu", "frame_bytes", "send": <aoe_blast send>, "count": <... count>}
    {"kind": "cp",    "round", "mtu", "target", "initiator" (aoe, or a --cp-initiator label), "direction",
                      "exit", "target_cpu_s", "client_cpu_s", "cp": <aoe cp --json>}
    {"kind": "rss",   "exports", "vm_rss_kib", "vm_hwm_kib", "target"}
"""

import argparse
import json
import statistics
from collections import defaultdict

HEADLINE = ["seqread-w64", "randread-w64", "seqwrite-w16"]
# download-null: a download into /dev/null, what the initiator costs without a destination
# (shown, not judged: the goal is about copies users make).
CP_VERSUS = {"download": "seqread-w64", "download-null": "seqread-w64", "upload": "seqwrite-w16"}
CP_JUDGED = ("download", "upload")


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(x, digits=1):
    return "-" if x is None else f"{x:.{digits}f}"


def load_records(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def summarize_load(records, baseline):
    """One row per (mtu, cell, target): medians over rounds, sums of retransmits and errors,
    and the median over rounds of the per-round ratio against the baseline target."""
    by_key = defaultdict(list)
    for r in records:
        if r["kind"] == "load":
            by_key[(r["mtu"], r["cell"], r["target"])].append(r)
    base_by_round = {}
    for (mtu, cell, target), runs in by_key.items():
        if target == baseline:
            for r in runs:
                base_by_round[(mtu, cell, r["round"])] = r
    rows = []
    for (mtu, cell, target), runs in sorted(by_key.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        ok = [r for r in runs if r.get("client")]
        c = [r["client"] for r in ok]

        def per_gb(r, seconds):
            gb = r["client"].get("bytes_total", 0) / 1e9
            return seconds / gb if gb > 0 and seconds is not None else None

        ratios, cpu_ratios, p50_ratios = [], [], []
        for r in ok:
            b = base_by_round.get((mtu, cell, r["round"]))
            if b and b.get("client"):
                ratios.append(ratio(r["client"]["mb_per_s"], b["client"]["mb_per_s"]))
                cpu_ratios.append(ratio(per_gb(r, r["target_cpu_s"]), per_gb(b, b["target_cpu_s"])))
                p50_ratios.append(ratio(r["client"]["latency_us"]["p50"], b["client"]["latency_us"]["p50"]))
        rows.append({
            "mtu": mtu, "cell": cell, "target": target, "runs": len(runs), "failed_runs": len(runs) - len(ok),
            "rw": c[0]["rw"] if c else None, "window": c[0]["window"] if c else None,
            "sectors_per_command": c[0]["sectors_per_command"] if c else None,
            "mb_per_s": median([x["mb_per_s"] for x in c]),
            "iops": median([x["iops"] for x in c]),
            "p50_us": median([x["latency_us"]["p50"] for x in c]),
            "p99_us": median([x["latency_us"]["p99"] for x in c]),
            "retransmits": sum(x["retransmits"] for x in c),
            "errors": sum(x["errors"] for x in c),
            "target_cpu_s_per_gb": median([per_gb(r, r["target_cpu_s"]) for r in ok]),
            # The load client's own CPU (user + system) per GB (runs older than the field: none).
            "client_cpu_s_per_gb": median([per_gb(r, r.get("client_cpu_s")) for r in ok]),
            # CPU microseconds of the target process per ATA command (one request frame in,
            # one reply frame out): the per-frame cost the data path pays.
            "target_cpu_us_per_command": median([1e6 * r["target_cpu_s"] / r["client"]["commands_total"]
                                                 for r in ok if r["client"].get("commands_total")]),
            # Share of the run's wall time each pinned CPU was busy (anything on it, softirq
            # included): near 1.0 on the client's CPU means the client may be the limit.
            "target_cpu_busy_share": median([r["cpu_busy_s"]["target"] / r["wall_s"] for r in ok if r.get("wall_s")]),
            "client_cpu_busy_share": median([r["cpu_busy_s"]["client"] / r["wall_s"] for r in ok if r.get("wall_s")]),
            "ratio_mb_per_s": median(ratios),
            "ratio_cpu_s_per_gb": median(cpu_ratios),
            "ratio_p50": median(p50_ratios),
            "mb_per_s_runs": [x["mb_per_s"] for x in c],
        })
    return rows


def summarize_blast(records):
    by_key = defaultdict(list)
    for r in records:
        if r["kind"] == "blast":
            by_key[(r["mtu"], r["frame_bytes"])].append(r)
    return [{
        "mtu": mtu, "frame_bytes": size, "runs": len(runs),
        "sent_frames_per_s": median([r["send"]["frames_per_s"] for r in runs if r.get("send")]),
        "counted_frames_per_s": median([r["count"]["frames_per_s"] for r in runs if r.get("count")]),
        "counter_drops": sum(r["count"].get("socket_drops", 0) for r in runs if r.get("count")),
    } for (mtu, size), runs in sorted(by_key.items())]


def frame_limit(blast_rows, mtu, frame_bytes):
    """The counted frames/s at the reply frame size, or at the largest measured size below it."""
    rows = [b for b in blast_rows if b["mtu"] == mtu and b["frame_bytes"] <= max(frame_bytes, 60)]
    exact = [b for b in rows if b["frame_bytes"] == frame_bytes]
    best = exact[0] if exact else (max(rows, key=lambda b: b["frame_bytes"]) if rows else None)
    return (best["counted_frames_per_s"], best["frame_bytes"]) if best else (None, None)


def summarize_cp(records, load_rows):
    by_key = defaultdict(list)
    for r in records:
        if r["kind"] == "cp":
            by_key[(r["mtu"], r["target"], r["direction"], r.get("initiator", "aoe"))].append(r)
    rows = []
    for (mtu, target, direction, initiator), runs in sorted(by_key.items()):
        ok = [r for r in runs if r.get("cp")]
        mb = median([r["cp"]["mb_per_s"] for r in ok])
        # aoe cp's own CPU (user + system) per GB copied.
        cpu = median([r["client_cpu_s"] / (r["cp"]["bytes"] / 1e9) for r in ok
                      if r.get("client_cpu_s") is not None and r["cp"].get("bytes")])
        versus = next((l for l in load_rows if l["mtu"] == mtu and l["target"] == target
                       and l["cell"] == CP_VERSUS[direction]), None)
        load_cpu = versus.get("client_cpu_s_per_gb") if versus else None
        rows.append({
            "mtu": mtu, "target": target, "direction": direction, "initiator": initiator,
            "label": direction if initiator == "aoe" else f"{direction}[{initiator}]", "runs": len(runs),
            "failed_runs": len(runs) - len(ok), "mb_per_s": mb,
            "load_cell": CP_VERSUS[direction], "load_mb_per_s": versus["mb_per_s"] if versus else None,
            "share_of_load_client": ratio(mb, versus["mb_per_s"] if versus else None),
            "cpu_s_per_gb": cpu, "load_cpu_s_per_gb": load_cpu,
            "cpu_versus_load_client": ratio(cpu, load_cpu),
        })
    return rows


def goals(load_rows, blast_rows, cp_rows, rss, primary, baseline):
    """The goal table of issue 9, filled from this run: the worst cell decides each goal."""
    out = []

    def rows(mtu=None, cells=HEADLINE):
        return [r for r in load_rows if r["target"] == primary and r["cell"] in cells
                and (mtu is None or r["mtu"] == mtu)]

    def goal(name, want, values, better):
        values = [v for v in values if v[1] is not None]
        if not values:
            out.append({"goal": name, "want": want, "worst": None, "where": None, "met": None})
            return
        where, worst = (min if better == "higher" else max)(values, key=lambda v: v[1])
        limit = float(want.split()[-1].rstrip("x%")) / (100 if want.endswith("%") else 1)
        if better == "higher":
            met = worst >= limit
        else:
            met = worst <= limit if want.startswith("<=") else worst < limit
        out.append({"goal": name, "want": want, "worst": worst, "where": where, "met": met})

    for mtu, want in ((9000, ">= 2.0x"), (1500, ">= 1.5x")):
        goal(f"MTU {mtu}, every pattern, MB/s vs {baseline}", want,
             [(r["cell"], r["ratio_mb_per_s"]) for r in rows(mtu)], "higher")
    goal(f"target CPU s/GB vs {baseline}", "<= 0.5x",
         [(f'{r["cell"]}@{r["mtu"]}', r["ratio_cpu_s_per_gb"]) for r in rows()], "lower")
    reads = []
    for r in rows(cells=[c for c in HEADLINE if c.startswith(("seqread", "randread"))]):
        reply_bytes = 36 + 512 * (r["sectors_per_command"] or 0)
        limit, size = frame_limit(blast_rows, r["mtu"], reply_bytes)
        reads.append((f'{r["cell"]}@{r["mtu"]} vs {size}-byte frames', ratio(r["iops"], limit)))
    goal("reads, share of the one-way frame limit", ">= 80%", reads, "higher")
    goal(f"qd1 p50 latency vs {baseline}", "<= 1.0x",
         [(f'qd1-lat@{r["mtu"]}', r["ratio_p50"]) for r in rows(cells=["qd1-lat"])], "lower")
    goal("aoe cp, share of the load client's rate", ">= 90%",
         [(f'{c["direction"]}@{c["mtu"]}', c["share_of_load_client"]) for c in cp_rows
          if c["target"] == primary and c["initiator"] == "aoe" and c["direction"] in CP_JUDGED],
         "higher")
    rss_values = [("64 exports", rss["vm_hwm_kib"] / 1024)] if rss else []
    goal("target RSS with 64 exports, MiB (peak)", "< 64", rss_values, "lower")
    return out


def print_tables(meta, load_rows, blast_rows, cp_rows, rss, goal_rows, baseline):
    print(f'\nbench/run {meta.get("mode")}: {meta.get("date")}, {meta.get("kernel")}, '
          f'{meta.get("cpu")}, {meta.get("cpus")} CPUs; {meta.get("rounds")} rounds of '
          f'{meta.get("seconds")} s (+{meta.get("warmup")} s warmup), medians; load before: '
          f'{meta.get("loadavg_before")}, after: {meta.get("loadavg_after")}')
    hdr = (f'{"MTU":>5} {"cell":<14} {"target":<14} {"MB/s":>8} {"IOPS":>8} {"p50 us":>8} '
           f'{"p99 us":>8} {"rexmit":>6} {"err":>4} {"CPU s/GB":>8} {"us/cmd":>7} {"busy T/C":>9} | '
           f'{"x " + baseline:>9} {"CPU x":>6} {"p50 x":>6}')
    print(hdr)
    print("-" * len(hdr))
    last = None
    for r in load_rows:
        if last and (r["mtu"], r["cell"]) != last:
            print()
        last = (r["mtu"], r["cell"])
        print(f'{r["mtu"]:>5} {r["cell"]:<14} {r["target"]:<14} {fmt(r["mb_per_s"]):>8} '
              f'{fmt(r["iops"], 0):>8} {fmt(r["p50_us"]):>8} {fmt(r["p99_us"]):>8} '
              f'{r["retransmits"]:>6} {r["errors"]:>4} {fmt(r["target_cpu_s_per_gb"], 2):>8} '
              f'{fmt(r["target_cpu_us_per_command"], 1):>7} '
              f'{fmt(r["target_cpu_busy_share"], 2):>4}/{fmt(r["client_cpu_busy_share"], 2):<4} | '
              f'{fmt(r["ratio_mb_per_s"], 2):>9} {fmt(r["ratio_cpu_s_per_gb"], 2):>6} '
              f'{fmt(r["ratio_p50"], 2):>6}')
    if blast_rows:
        print(f'\n{"MTU":>5} {"frame bytes":>11} {"sent frames/s":>14} {"counted frames/s":>17} {"counter drops":>13}')
        for b in blast_rows:
            print(f'{b["mtu"]:>5} {b["frame_bytes"]:>11} {fmt(b["sent_frames_per_s"], 0):>14} '
                  f'{fmt(b["counted_frames_per_s"], 0):>17} {b["counter_drops"]:>13}')
    if cp_rows:
        print(f'\n{"MTU":>5} {"target":<14} {"aoe cp":<16} {"MB/s":>8} {"load client":>14} {"MB/s":>8} {"share":>6}'
              f' {"CPU s/GB":>8} {"load CPU":>8} {"CPU x":>6}')
        for c in cp_rows:
            print(f'{c["mtu"]:>5} {c["target"]:<14} {c["label"]:<16} {fmt(c["mb_per_s"]):>8} '
                  f'{c["load_cell"]:>14} {fmt(c["load_mb_per_s"]):>8} {fmt(c["share_of_load_client"], 2):>6} '
                  f'{fmt(c.get("cpu_s_per_gb"), 2):>8} {fmt(c.get("load_cpu_s_per_gb"), 2):>8} '
                  f'{fmt(c.get("cpu_versus_load_client"), 2):>6}')
    if rss:
        print(f'\nRSS of {rss["target"]} with {rss["exports"]} exports: {rss["vm_rss_kib"] / 1024:.1f} MiB '
              f'now, {rss["vm_hwm_kib"] / 1024:.1f} MiB peak')
    print(f'\n{"goal (issue 9)":<50} {"want":>8} {"worst":>8}  where')
    for g in goal_rows:
        state = {True: "met", False: "NOT met", None: "not measured"}[g["met"]]
        print(f'{g["goal"]:<50} {g["want"]:>8} {fmt(g["worst"], 2):>8}  {g["where"] or "-"} ({state})')


def print_markdown(meta, load_rows, blast_rows, cp_rows, rss, goal_rows, baseline, primary):
    """The same numbers as Markdown tables, for docs/PERFORMANCE.md."""
    targets = meta.get("targets") or sorted({r["target"] for r in load_rows})
    others = [t for t in targets if t != baseline]
    row_of = {(r["mtu"], r["cell"], r["target"]): r for r in load_rows}
    cells = [c.split("|")[0] for c in meta.get("cells", [])] or sorted({r["cell"] for r in load_rows})
    print("| MTU | cell | " + " | ".join(f"{t} MB/s" for t in targets) + " | "
          + " | ".join(f"{t} / {baseline}" for t in others) + " |")
    print("|---" * (2 + len(targets) + len(others)) + "|")
    for mtu in sorted({r["mtu"] for r in load_rows}):
        for cell in cells:
            rs = [row_of.get((mtu, cell, t)) for t in targets]
            if not any(rs):
                continue
            mbs = " | ".join(fmt(r["mb_per_s"]) if r else "-" for r in rs)
            ratios = " | ".join(fmt(row_of[(mtu, cell, t)]["ratio_mb_per_s"], 2)
                                if (mtu, cell, t) in row_of else "-" for t in others)
            print(f"| {mtu} | {cell} | {mbs} | {ratios} |")
    print()
    print("| MTU | cell | target | MB/s | IOPS | p50 µs | p99 µs | retransmits | errors | "
          "CPU s/GB | CPU µs/cmd | busy T/C |")
    print("|---" * 12 + "|")
    for r in load_rows:
        print(f'| {r["mtu"]} | {r["cell"]} | {r["target"]} | {fmt(r["mb_per_s"])} | {fmt(r["iops"], 0)} | '
              f'{fmt(r["p50_us"])} | {fmt(r["p99_us"])} | {r["retransmits"]} | {r["errors"]} | '
              f'{fmt(r["target_cpu_s_per_gb"], 2)} | {fmt(r["target_cpu_us_per_command"], 1)} | '
              f'{fmt(r["target_cpu_busy_share"], 2)}/{fmt(r["client_cpu_busy_share"], 2)} |')
    if blast_rows:
        print("\n| MTU | frame bytes | sent frames/s | counted frames/s | counter drops |")
        print("|---|---|---|---|---|")
        for b in blast_rows:
            print(f'| {b["mtu"]} | {b["frame_bytes"]} | {fmt(b["sent_frames_per_s"], 0)} | '
                  f'{fmt(b["counted_frames_per_s"], 0)} | {b["counter_drops"]} |')
    if cp_rows:
        print("\n| MTU | target | aoe cp | MB/s | load client cell | MB/s | share | "
              "CPU s/GB | load client CPU s/GB | CPU x |")
        print("|---" * 10 + "|")
        for c in cp_rows:
            print(f'| {c["mtu"]} | {c["target"]} | {c["label"]} | {fmt(c["mb_per_s"])} | '
                  f'{c["load_cell"]} | {fmt(c["load_mb_per_s"])} | {fmt(c["share_of_load_client"], 2)} | '
                  f'{fmt(c.get("cpu_s_per_gb"), 2)} | {fmt(c.get("load_cpu_s_per_gb"), 2)} | '
                  f'{fmt(c.get("cpu_versus_load_client"), 2)} |')
    if rss:
        print(f'\nRSS of `{rss["target"]}` with {rss["exports"]} exports: '
              f'{rss["vm_rss_kib"] / 1024:.1f} MiB ({rss["vm_hwm_kib"] / 1024:.1f} MiB peak).')
    print(f"\n| Measure ({primary} against {baseline}) | Goal | This run (worst cell) | Met | After part 2 |")
    print("|---|---|---|---|---|")
    for g in goal_rows:
        state = {True: "yes", False: "no", None: "not measured"}[g["met"]]
        print(f'| {g["goal"]} | {g["want"]} | {fmt(g["worst"], 2)} ({g["where"] or "-"}) | {state} | _to measure_ |')


def write_chart_data(prefix, load_rows, targets):
    """Two tables for bench/chart.gp: MB/s and target CPU s/GB of the headline cells, one row
    per cell@MTU, one column per target."""
    for name, key in (("mbps", "mb_per_s"), ("cpu", "target_cpu_s_per_gb")):
        with open(f"{prefix}.{name}.dat", "w") as f:
            f.write("cell " + " ".join(f'"{t}"' for t in targets) + "\n")
            for mtu in sorted({r["mtu"] for r in load_rows}):
                for cell in HEADLINE:
                    vals = []
                    for t in targets:
                        row = next((r for r in load_rows if (r["mtu"], r["cell"], r["target"]) == (mtu, cell, t)), None)
                        vals.append(fmt(row[key], 3) if row and row[key] is not None else "NaN")
                    f.write(f'"{cell}\\n{mtu}" ' + " ".join(vals) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records")
    p.add_argument("--meta")
    p.add_argument("--from-json", help="a result JSON of an earlier run: its records and meta")
    p.add_argument("--json")
    p.add_argument("--chart-data")
    p.add_argument("--baseline", default="vblade")
    p.add_argument("--primary", default="aoe")
    p.add_argument("--markdown", action="store_true", help="print Markdown tables instead")
    a = p.parse_args()

    if a.from_json:
        with open(a.from_json) as f:
            old = json.load(f)
        records, meta = old["records"], old["meta"]
    elif a.records and a.meta:
        records = load_records(a.records)
        with open(a.meta) as f:
            meta = json.load(f)
    else:
        p.error("give --records and --meta, or --from-json")
    load_rows = summarize_load(records, a.baseline)
    blast_rows = summarize_blast(records)
    cp_rows = summarize_cp(records, load_rows)
    rss = next((r for r in records if r["kind"] == "rss"), None)
    goal_rows = goals(load_rows, blast_rows, cp_rows, rss, a.primary, a.baseline)
    result = {"meta": meta, "summary": {"load": load_rows, "blast": blast_rows, "cp": cp_rows,
                                        "rss": rss, "goals": goal_rows}, "records": records}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=1)
    if a.markdown:
        print_markdown(meta, load_rows, blast_rows, cp_rows, rss, goal_rows, a.baseline, a.primary)
    else:
        print_tables(meta, load_rows, blast_rows, cp_rows, rss, goal_rows, a.baseline)
    if a.chart_data:
        write_chart_data(a.chart_data, load_rows, meta.get("targets", []))


if __name__ == "__main__":
    main()
