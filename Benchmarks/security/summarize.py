"""Summarizes Benchmarks/security/run.sh's lines: medians per system, mode and workload, and
CURVE's figures against its targets (saturation e2e >= 2x Redis in the same mode; p99 at the
rate < 1.2x plain Ferry's, as the median of each round's ratio)."""
import statistics
import sys
from collections import defaultdict

# Ferry `never` is compared with Redis default, `batch` and `always` with Redis strict.
REDIS_MODE = {"never": "default", "batch": "strict", "always": "strict"}


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def main(path):
    saturation = defaultdict(list)  # (system, mode) -> [e2e]
    rate_p99 = defaultdict(list)  # (system, mode) -> [p99]
    rate_p50 = defaultdict(list)
    by_round = defaultdict(dict)  # (round, mode) -> {system: p99}
    for line in open(path):
        parts = line.split()
        if len(parts) < 5:
            continue
        tag, workload, system, mode = parts[0], parts[1], parts[2], parts[3]
        values = [number(v) for v in parts[4:]]
        if workload == "saturation" and len(values) >= 2 and values[1] is not None:
            saturation[(system, mode)].append(values[1])
        elif workload == "rate" and len(values) >= 4 and values[3] is not None:
            rate_p50[(system, mode)].append(values[1])
            rate_p99[(system, mode)].append(values[3])
            by_round[(tag, mode)][system] = values[3]
    print("\nsystem        mode      saturation e2e/s (median)   rate p50 µs   rate p99 µs (median)")
    for key in sorted(set(saturation) | set(rate_p99)):
        e2e = statistics.median(saturation[key]) if saturation[key] else float("nan")
        p50 = statistics.median(rate_p50[key]) if rate_p50[key] else float("nan")
        p99 = statistics.median(rate_p99[key]) if rate_p99[key] else float("nan")
        print(f"{key[0]:<13} {key[1]:<9} {e2e:>14,.0f}              {p50:>8,.0f}      {p99:>10,.0f}")
    print()
    for mode in sorted({m for (_, m) in saturation if _ == "ferry-curve"}):
        curve = saturation.get(("ferry-curve", mode))
        redis = saturation.get(("redis", REDIS_MODE.get(mode, "")))
        if curve and redis:
            ratio = statistics.median(curve) / statistics.median(redis)
            print(f"CURVE {mode}: saturation e2e {ratio:.2f}x Redis {REDIS_MODE[mode]} (target >= 2x)")
        ratios = [r["ferry-curve"] / r["ferry"] for (tag, m), r in by_round.items() if m == mode and "ferry" in r and "ferry-curve" in r]
        if ratios:
            print(f"CURVE {mode}: p99 at the rate {statistics.median(ratios):.2f}x plain Ferry's "
                  f"(median of {len(ratios)} rounds' ratios; target < 1.20x)")


if __name__ == "__main__":
    main(sys.argv[1])
