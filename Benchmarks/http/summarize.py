"""Summarizes Benchmarks/http/run.sh's lines: per mode and variant (quiet: HTTP listening, nobody
calling; watched: Prometheus scraping every second and the console polling every 2 s) the medians
over the rounds, the watched÷quiet ratios (median of each round's ratio), what the watched runs'
checks counted, the HTTP publish results, and a markdown summary to paste into docs."""
import statistics
import sys
from collections import defaultdict

VARIANTS = ("quiet", "watched")


def number(text):
    try:
        return float(text)
    except ValueError:
        return None


def grouped(value, digits=0):
    if value is None or value != value:
        return "NA"
    return f"{value:,.{digits}f}".replace(",", " ")


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio_text(ratios):
    ratios = [r for r in ratios if r is not None]
    if not ratios:
        return "NA"
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    return f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})"


def key_values(parts):
    return dict(part.split("=", 1) for part in parts if "=" in part)


def main(path):
    meta = {}
    saturation = defaultdict(dict)  # (mode, variant) -> {round: e2e}
    rate_p50 = defaultdict(dict)
    rate_p99 = defaultdict(dict)
    checks = []
    publishes = []
    for line in open(path):
        parts = line.split()
        if not parts:
            continue
        if parts[:2] == ["#", "meta"]:
            name, _, value = line.split(None, 2)[2].strip().partition("=")
            meta[name] = value
        elif parts[0] == "check":
            checks.append({"round": parts[1], "workload": parts[2], "mode": parts[4], **key_values(parts[5:])})
        elif parts[0] == "http-publish":
            publishes.append(key_values(parts[1:]))
        elif parts[0].startswith("round") and len(parts) >= 5 and parts[2] in VARIANTS:
            round_, workload, variant, mode = parts[:4]
            values = [number(v) for v in parts[4:]]
            if workload == "saturation" and len(values) >= 2:
                saturation[(mode, variant)][round_] = values[1]
            elif workload == "rate" and len(values) >= 4:
                rate_p50[(mode, variant)][round_] = values[1]
                rate_p99[(mode, variant)][round_] = values[3]

    modes = sorted({mode for (mode, _) in list(saturation) + list(rate_p99)}, key=lambda m: ("never", "batch", "always").index(m) if m in ("never", "batch", "always") else 9)

    def per_round_ratios(table, mode):
        watched, quiet = table.get((mode, "watched"), {}), table.get((mode, "quiet"), {})
        return [watched[r] / quiet[r] for r in watched if r in quiet and watched[r] and quiet[r]]

    rows = []
    if modes:
        print("mode    variant   saturation e2e/s (median)   rate p50 µs   rate p99 µs (median)   rounds")
        for mode in modes:
            for variant in VARIANTS:
                key = (mode, variant)
                e2e, p50, p99 = (median(saturation[key].values()), median(rate_p50[key].values()),
                                 median(rate_p99[key].values()))
                rounds = max(len(saturation[key]), len(rate_p99[key]))
                print(f"{mode:<7} {variant:<9} {grouped(e2e):>14}              {grouped(p50):>8}      {grouped(p99):>10}        {rounds}")
                rows.append((mode, variant, grouped(e2e), grouped(p50), grouped(p99)))
            e2e_ratio = ratio_text(per_round_ratios(saturation, mode))
            p50_ratio = ratio_text(per_round_ratios(rate_p50, mode))
            p99_ratio = ratio_text(per_round_ratios(rate_p99, mode))
            print(f"{mode:<7} watched÷quiet (median of the rounds' ratios, range): saturation e2e {e2e_ratio}, "
                  f"p50 at the rate {p50_ratio}, p99 at the rate {p99_ratio}")
            rows.append((mode, "watched ÷ quiet", e2e_ratio, p50_ratio, p99_ratio))

    def total(field, workload=None):
        values = [number(c.get(field, "nan")) for c in checks if workload in (None, c["workload"])]
        values = [v for v in values if v is not None and v == v]
        return sum(values) if values else 0

    def positive(check, field):
        value = number(check.get(field, "0"))
        return value is not None and value == value and value > 0

    check_text = ""
    if checks:
        bench_s = total("bench_s")
        def slowest(field):
            values = [number(c.get(field, "nan")) for c in checks]
            values = [v for v in values if v is not None and v == v]
            return max(values) if values else float("nan")

        slowest_scrape, slowest_console = slowest("scrape_max_ms"), slowest("console_max_ms")
        samples = [number(c["samples"]) / number(c["scrapes"]) for c in checks
                   if positive(c, "scrapes") and positive(c, "samples")]
        idle = [f"{c['round']} {c['workload']} {c['mode']}" for c in checks
                if not positive(c, "scrapes_ok") or not positive(c, "console_ok")]
        check_text = (f"While the watched benches ran ({bench_s:.0f} s in {len(checks)} runs), Prometheus scraped "
                      f"/metrics {total('scrapes_ok'):.0f} times successfully of {total('scrapes'):.0f} "
                      f"({grouped(median(samples))} samples a scrape, slowest {grouped(slowest_scrape, 1)} ms), and the console "
                      f"loop got {total('console_ok'):.0f} answers 200 of {total('console'):.0f} requests "
                      f"(slowest {grouped(slowest_console, 1)} ms).")
        print()
        print(check_text)
        if idle:
            print(f"WARNING: watched runs with no successful scrape or console request: {', '.join(idle)}")

    if publishes:
        print()
        print("mode    publish                               events/s     p50 µs     p99 µs  failures  stored=confirmed  client CPU  ferryd CPU")
    publish_rows = []
    for p in publishes:
        if "kind" not in p or "eps" not in p:
            print(f"{p.get('mode', '?'):<7} {p.get('kind', '?')}: failed")
            continue
        connections, batch = int(p["connections"]), int(p["batch"])
        what = (f"{connections} connection{'s' if connections > 1 else ''}, "
                + ("1 event per POST" if batch == 1 else f"NDJSON, {batch} events per POST"))
        verified = "yes" if p["verified"] == "yes" else f"NO ({p['stored']} stored, {p['confirmed']} confirmed)"
        cells = (p["mode"], what, grouped(number(p["eps"])), grouped(number(p["p50_us"])),
                 grouped(number(p["p99_us"])), p["failures"], verified,
                 f"{p['client_cpu_pct']}%", f"{p['ferryd_cpu_pct']}%")
        publish_rows.append(cells)
        print(f"{cells[0]:<7} {cells[1]:<36} {cells[2]:>9} {cells[3]:>10} {cells[4]:>10}  {cells[5]:>8}  {cells[6]:>16}  {cells[7]:>10}  {cells[8]:>10}")

    # Markdown
    print("\n---- markdown ----\n")
    info = (f"{meta.get('bin', '?')} build of commit {meta.get('commit', '?')} on {meta.get('date', '?')}; "
            f"{meta.get('nproc', '?')} CPUs ({meta.get('cpu', '?').replace('_', ' ')}), kernel {meta.get('kernel', '?')}; "
            f"Prometheus {meta.get('prometheus', '?')}.")
    print(info)
    print(f"Command: `{meta.get('command', 'Benchmarks/http/run.sh')}`")
    if rows:
        print()
        rate = grouped(number(meta.get("rate", "nan")))
        sat_n = grouped(number(meta.get("sat_n", "nan")))
        print(f"| mode | variant | saturation e2e events/s (N = {sat_n}) | p50 µs at {rate} ev/s | p99 µs at {rate} ev/s |")
        print("|---|---|---|---|---|")
        for mode, variant, e2e, p50, p99 in rows:
            print(f"| `{mode}` | {variant} | {e2e} | {p50} | {p99} |")
        print()
        print("quiet: HTTP listening, nobody calling; watched: Prometheus scraping /metrics every second and "
              "the console's page and its two API calls every 2 s. Medians over the rounds; the ratios are the "
              "median (and range) of each round's watched÷quiet.")
        if check_text:
            print()
            print(check_text)
    if publish_rows:
        print()
        print("| mode | HTTP publish (keep-alive, 100-byte JSON) | events/s | p50 µs per POST | p99 µs per POST | failures | stored = confirmed | client CPU | ferryd CPU |")
        print("|---|---|---|---|---|---|---|---|---|")
        for cells in publish_rows:
            print(f"| `{cells[0]}` | " + " | ".join(cells[1:]) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
