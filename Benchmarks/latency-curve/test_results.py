"""Tests of results.py: how result lines become the charts' points."""

import os

from results import chart_of, read

HERE = os.path.dirname(os.path.abspath(__file__))
COMMITTED = os.path.join(HERE, "..", "..", "docs", "performance", "curve", "results.txt")


def write(tmp_path, text):
    path = tmp_path / "results.txt"
    path.write_text(text)
    return str(path)


def test_fixed_rate_and_saturation_lines_become_points(tmp_path):
    path = write(
        tmp_path,
        "# system mode rate p50_us p90_us p99_us p999_us max_us achieved_eps\n"
        "ferry never 10000 198.6 280.4 493.8 2439.2 5028.9 9999\n"
        "ferry never 599824 597783 2096.7 5087.8 9807.9\n",
    )
    points = read([path])
    assert points[("ferry", "never")] == [
        (9999.0, 198.6, 493.8, 2439.2, False),
        (597783.0, 2096.7, 5087.8, 9807.9, True),
    ]


def test_lines_without_a_measurement_give_no_point(tmp_path):
    path = write(
        tmp_path,
        "nats-2.10 strict 10000 NA NA NA NA NA 6665\n"  # gave up at that rate
        "nats strict NA NA NA NA NA\n"  # could not run
        "redis default 1000 nan 1 2 3 4 1000\n"  # not a finite number
        "rabbitmq strict 1000 1 2 3 4 5 0\n"  # nothing achieved
        "ferry batch 1000 1 2 3\n"  # neither layout
        "\n",
    )
    assert read([path]) == {}


def test_each_mode_has_its_chart():
    assert [chart_of(mode) for mode in ("never", "default", "none", "memory")] == ["no-fsync"] * 4
    assert [chart_of(mode) for mode in ("batch", "always", "strict")] == ["fsync"] * 3
    assert chart_of("external") is None


def test_the_committed_curve_has_every_ferry_policy_at_every_rate_and_saturation():
    points = read([COMMITTED])
    for policy in ("never", "batch", "always"):
        runs = points[("ferry", policy)]
        assert sorted(round(rate, -3) for rate, *_, saturated in runs if not saturated) == [
            1000, 5000, 10000, 25000, 50000, 100000, 200000,
        ]
        assert sum(1 for *_, saturated in runs if saturated) == 1
