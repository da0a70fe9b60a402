#!/usr/bin/env python3
"""Draws latency against achieved rate, one chart per durability mode, from result lines.

Reads the peers' result lines (../shared/peers/README.md) of any number of files: fixed-rate lines
`system mode rate p50 p90 p99 p999 max achieved` and saturation lines
`system mode publish_eps e2e_eps p50 p99 p999` (told apart by their field count), as
`Benchmarks/latency-curve/run.sh` collects them from the peers' harness and `ferry bench sweep`.
Writes `latency-no-fsync.svg` and `latency-fsync.svg` into the output directory: p50, p99 and
p99.9 against the achieved rate (both axes logarithmic), one line per system and mode through
its fixed-rate points, and its saturation run as a hollow marker apart from the line (a closed
loop, whose latency is the backlog of the publisher's window). Rates a system could not sustain
(NA latencies) are left out.

Usage: plot.py OUTPUT_DIR RESULTS...
"""

import os
import sys

import matplotlib

matplotlib.use("Agg")
# Text stays text (smaller files, searchable), and the same results give the same file.
matplotlib.rcParams["svg.fonttype"] = "none"
matplotlib.rcParams["svg.hashsalt"] = "ferry"
import matplotlib.pyplot as plt  # noqa: E402

from results import chart_of, read  # noqa: E402

STYLE = {
    "ferry": ("#d62728", "o"),
    "redis": ("#1f77b4", "s"),
    "nats": ("#2ca02c", "^"),
    "nats-2.10": ("#17becf", "v"),
    "rabbitmq": ("#ff7f0e", "D"),
    "zmq-1hop": ("#999999", "."),
    "zmq-2hop": ("#666666", "."),
    "zmq-ack-floor": ("#444444", "x"),
}
FERRY_LINES = {"never": "-", "batch": "-", "always": "--", "memory": ":"}


def draw(points, fsync, title, path):
    chart = "fsync" if fsync else "no-fsync"
    series = {key: sorted(value) for key, value in points.items() if chart_of(key[1]) == chart}
    if not series:
        if os.path.exists(path):
            os.remove(path)  # no chart beats a chart of other results
        return False
    figure, axes = plt.subplots(1, 3, figsize=(16, 5.2), sharex=True, sharey=True)
    for axis, (column, name) in zip(axes, ((1, "p50"), (2, "p99"), (3, "p99.9"))):
        for (system, mode), values in sorted(series.items()):
            colour, marker = STYLE.get(system, ("#8c564b", "o"))
            line = FERRY_LINES.get(mode, "-") if system == "ferry" else "-"
            width = 2.2 if system == "ferry" else 1.2
            fixed = [v for v in values if not v[4]]
            saturated = [v for v in values if v[4]]
            label = f"{system} {mode}"
            if fixed:
                xs = [v[0] for v in fixed]
                ys = [v[column] / 1000 for v in fixed]
                axis.plot(xs, ys, line, color=colour, marker=marker, linewidth=width, markersize=4, label=label)
            # Saturation is a closed loop (at most W events unconfirmed): its latency is the
            # backlog of that window, not a point of the open-loop curve, so it stands apart.
            for v in saturated:
                axis.plot(
                    [v[0]], [v[column] / 1000], marker=marker, linestyle="none", markersize=9, markerfacecolor="none",
                    color=colour, label=None if fixed else label)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_title(name)
        axis.set_xlabel("achieved rate, events/s")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("publish-to-consumer latency, ms")
    axes[2].legend(fontsize=8, loc="upper left")
    figure.suptitle(title + ": open-loop fixed rates (lines) and saturation (hollow; latency there is the backlog of a 1000-event window)")
    figure.tight_layout()
    figure.savefig(path, metadata={"Date": None})
    plt.close(figure)
    return True


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    output, paths = sys.argv[1], sys.argv[2:]
    points = read(paths)
    wrote = [
        draw(points, False, "No fsync before the confirm", f"{output}/latency-no-fsync.svg"),
        draw(points, True, "fsync before the confirm", f"{output}/latency-fsync.svg"),
    ]
    if not any(wrote):
        sys.exit("no result lines with latencies in " + " ".join(paths))


if __name__ == "__main__":
    main()
