#!/usr/bin/env python3
"""The report of bench/overlay_cells.sh: the raw records (one JSON line per run) -> the table on
stdout and the result JSON ({"meta", "summary", "records"}).

Cost = plain rate / overlay rate (MB/s; above 1 the overlay is slower), per round from the two
runs of that round, and the median over the rounds. Metadata = allocated bytes of the map file /
the bytes the client wrote (the issue's measure), and / the data file's allocated bytes.
"""
import argparse
import json
import statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def cpu_s_per_gb(record):
    total = record["client"]["bytes_total"]
    return record["target_cpu_s"] / (total / 1e9) if total else None


def summarize(records, cells):
    summary = []
    for name in cells:
        runs = [r for r in records if r["cell"] == name and r["client"]]
        side = {s: [r for r in runs if r["side"] == s] for s in ("plain", "overlay")}
        if not side["plain"] or not side["overlay"]:
            continue
        row = {"cell": name, "prep": runs[0]["prep"], "goal": runs[0]["goal"]}
        for s, rs in side.items():
            row[s] = {
                "mb_per_s": median(r["client"]["mb_per_s"] for r in rs),
                "iops": median(r["client"]["iops"] for r in rs),
                "p50_us": median(r["client"]["latency_us"]["p50"] for r in rs),
                "target_cpu_s_per_gb": median(cpu_s_per_gb(r) for r in rs),
                "retransmits": sum(r["client"]["retransmits"] for r in rs),
                "errors": sum(r["client"]["errors"] for r in rs),
                "mb_per_s_runs": [r["client"]["mb_per_s"] for r in rs],
            }
        plain_by_round = {r["round"]: r for r in side["plain"]}
        costs = [plain_by_round[r["round"]]["client"]["mb_per_s"] / r["client"]["mb_per_s"]
                 for r in side["overlay"]
                 if r["round"] in plain_by_round and r["client"]["mb_per_s"] > 0]
        row["cost_runs"] = [round(c, 3) for c in costs]
        row["cost"] = median(costs)
        row["cpu_ratio"] = (row["overlay"]["target_cpu_s_per_gb"] / row["plain"]["target_cpu_s_per_gb"]
                            if row["plain"]["target_cpu_s_per_gb"] else None)
        row["goal_met"] = (None if row["goal"] == "-" or row["cost"] is None
                           else row["cost"] <= float(row["goal"]))
        meta = [r["metadata"] for r in side["overlay"] if r.get("metadata")]
        if meta:
            m = meta[-1]
            row["metadata"] = {
                "map_bytes": m["map_bytes"], "data_bytes": m["data_bytes"],
                "written_bytes": m["written_bytes"],
                "percent_of_written": max(100.0 * x["map_bytes"] / x["written_bytes"]
                                          for x in meta if x["written_bytes"]),
                "percent_of_data": max(100.0 * x["map_bytes"] / x["data_bytes"]
                                       for x in meta if x["data_bytes"]),
            }
        summary.append(row)
    return summary


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def print_table(summary, meta):
    print(f"\nOverlay cells, MTU {meta['mtu']}, {meta['rounds']} rounds of {meta['seconds']} s "
          f"(+{meta['warmup']} s warmup), region {meta['region_mib']} MiB, {meta['image']['fs']} "
          f"({meta['image']['dir']}); load {meta['loadavg_before']} -> {meta['loadavg_after']}")
    print(f"{'cell':24} {'plain MB/s':>10} {'overlay':>8} {'cost':>5} {'goal':>5} {'met':>4}  "
          f"{'p50 us plain/overlay':>20}  {'CPU s/GB plain/overlay':>22}  cost per round")
    for r in summary:
        p, o = r["plain"], r["overlay"]
        met = {None: "-", True: "yes", False: "NO"}[r["goal_met"]]
        print(f"{r['cell']:24} {fmt(p['mb_per_s'], '10.1f')} {fmt(o['mb_per_s'], '8.1f')} "
              f"{fmt(r['cost'], '5.2f')} {r['goal']:>5} {met:>4}  "
              f"{fmt(p['p50_us'], '9.1f')} / {fmt(o['p50_us'], '8.1f')}  "
              f"{fmt(p['target_cpu_s_per_gb'], '10.2f')} / {fmt(o['target_cpu_s_per_gb'], '9.2f')}  "
              f"{' '.join(f'{c:.2f}' for c in r['cost_runs'])}")
        if p["retransmits"] or o["retransmits"] or p["errors"] or o["errors"]:
            print(f"{'':24} retransmits {p['retransmits']}/{o['retransmits']}, "
                  f"errors {p['errors']}/{o['errors']} (plain/overlay)")
    print(f"\nMetadata (goal: at most {meta['metadata_goal_percent']} % of the written bytes); "
          "the worst overlay run of each cell:")
    for r in summary:
        m = r.get("metadata")
        if m:
            print(f"{r['cell']:24} map {m['map_bytes']:>7} B for {m['written_bytes']:>11} B written "
                  f"= {m['percent_of_written']:.4f} % ({m['percent_of_data']:.4f} % of the "
                  f"{m['data_bytes']} B the data file holds)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", required=True)
    parser.add_argument("--meta", required=True)
    parser.add_argument("--json", required=True)
    args = parser.parse_args()
    records = [json.loads(line) for line in open(args.records) if line.strip()]
    meta = json.load(open(args.meta))
    cells = [c.split("|")[0] for c in meta["cells"]]
    summary = summarize(records, cells)
    worst = [r["metadata"]["percent_of_written"] for r in summary if r.get("metadata")]
    result = {"meta": meta, "summary": {"cells": summary,
                                        "metadata_worst_percent_of_written": max(worst, default=None)},
              "records": records}
    with open(args.json, "w") as out:
        json.dump(result, out, indent=1)
    print_table(summary, meta)


if __name__ == "__main__":
    main()
