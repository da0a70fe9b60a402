#!/usr/bin/env python3
"""Summarizes Benchmarks/trace/run.sh's lines: medians per variant, and each variant's ratio to
`off` per round (median and range) for saturation throughput and the fixed-rate p50 and p99.

Lines: `roundN saturation SYSTEM MODE publish_eps e2e_eps p50 p99 p999` and
`roundN rate SYSTEM MODE RATE p50 p90 p99 p999 max achieved`.
"""
import statistics
import sys
from collections import defaultdict

values = defaultdict(dict)  # (workload, system, mode) -> {round: (metrics...)}
for line in open(sys.argv[1]):
    fields = line.split()
    if len(fields) < 5 or "NA" in fields:
        continue
    round_, workload, system, mode = fields[0], fields[1], fields[2], fields[3]
    numbers = [float(x) for x in fields[4:]]
    if workload == "saturation":
        values[(workload, system, mode)][round_] = {"e2e": numbers[1], "p99": numbers[3]}
    else:
        values[(workload, system, mode)][round_] = {"p50": numbers[1], "p99": numbers[3]}

def median(xs):
    return statistics.median(xs) if xs else float("nan")

print("\n# medians over the rounds")
print("workload   mode    variant               e2e_eps    p50_us    p99_us")
for (workload, system, mode), rounds in sorted(values.items()):
    e2e = median([r.get("e2e") for r in rounds.values() if "e2e" in r])
    p50 = median([r.get("p50") for r in rounds.values() if "p50" in r])
    p99 = median([r["p99"] for r in rounds.values()])
    print(f"{workload:10} {mode:7} {system:20} {e2e:10.0f} {p50:9.1f} {p99:9.1f}")

print("\n# each variant / off, per round: median (min-max)")
for (workload, system, mode), rounds in sorted(values.items()):
    if system == "ferry-trace-off":
        continue
    base = values.get((workload, "ferry-trace-off", mode), {})
    metrics = ["e2e"] if workload == "saturation" else ["p50", "p99"]
    parts = []
    for metric in metrics:
        ratios = [r[metric] / base[k][metric] for k, r in rounds.items() if k in base and base[k].get(metric)]
        if ratios:
            parts.append(f"{metric} {median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
    print(f"{workload:10} {mode:7} {system:20} " + "  ".join(parts))
