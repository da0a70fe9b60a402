"""Reads the peers' result lines into latency-versus-rate points, for plot.py and its test.

Fixed-rate lines are `system mode rate p50 p90 p99 p999 max achieved` and saturation lines
`system mode publish_eps e2e_eps p50 p99 p999` (../shared/peers/README.md), told apart by their
field count; `#` lines are comments. A line with NA (the system gave up at that rate), a number
that is not finite, or an achieved rate of zero gives no point.
"""

import collections
import math

# Which chart each system's mode belongs to: whether the confirm waits for an fsync. RabbitMQ's
# "default" (a durable classic queue with confirms) also syncs before confirming (peers README §2),
# but the peers put it under "default", and so does this chart.
NO_FSYNC = {"default", "never", "none", "memory"}
FSYNC = {"strict", "batch", "always"}


def chart_of(mode):
    """`fsync`, `no-fsync`, or None for a mode on neither chart (`external`, say)."""
    if mode in FSYNC:
        return "fsync"
    if mode in NO_FSYNC:
        return "no-fsync"
    return None


def number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def read(paths):
    """Points per (system, mode): a list of (achieved rate, p50, p99, p99.9, saturation)."""
    points = collections.defaultdict(list)
    for path in paths:
        with open(path) as lines:
            for line in lines:
                fields = line.split()
                if not fields or fields[0].startswith("#"):
                    continue
                if len(fields) == 9:  # fixed rate
                    system, mode = fields[0], fields[1]
                    p50, p99, p999, achieved = (number(fields[i]) for i in (3, 5, 6, 8))
                    saturation = False
                elif len(fields) == 7:  # saturation
                    system, mode = fields[0], fields[1]
                    achieved, p50, p99, p999 = (number(fields[i]) for i in (3, 4, 5, 6))
                    saturation = True
                else:
                    continue
                if None in (p50, p99, p999, achieved) or achieved <= 0:
                    continue  # NA: not run, or the rate was not sustained
                points[(system, mode)].append((achieved, p50, p99, p999, saturation))
    return points
