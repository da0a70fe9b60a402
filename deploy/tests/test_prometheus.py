"""A real Prometheus scraping a real ferryd, as deploy/prometheus/ configures it.

ferryd (the session's, conftest.py) runs on ephemeral loopback ports; the Python client
(clients/python) leaves a backlog in the durable group `email` (subscribe, leave without acking,
publish LAG_EVENTS events); Debian's `prometheus` scrapes ferryd every second with the rules of
ferry-alerts.yml loaded, and the blackbox exporter probes /readyz when it is installed. The tests
read everything back through Prometheus' HTTP API. Skipped when the prometheus binary is missing
(deploy/check.sh installs it).
"""
from __future__ import annotations

import json
import math
import shutil
import sys
import urllib.parse
from pathlib import Path
from typing import Iterator, Optional

import pytest
import yaml

from deploy_checks import METRIC_NAME, alert_expressions, dashboard_panels, pending_metric_names
from support import answers_200, equal_to, free_port, http_get, start, stop, wait_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "clients" / "python"))

from ferry_client import FerryClient, make_event  # noqa: E402

PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS_DIR / "ferry-alerts.yml"
BLACKBOX_CONFIG = PROMETHEUS_DIR / "blackbox.yml"
SCALED_OBJECT = ROOT / "deploy" / "kubernetes" / "email-worker-scaledobject.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "ferry-dashboard.json"

# The group KEDA scales email-worker on, and one of its topics.
GROUP, TOPIC = "email", "OrderConfirmed"
LAG_EVENTS = 25
# Series ferryd creates with their first event: a refusal, an error, a reload of the credentials
# (CURVE only). A plain ferryd with a backlog serves every other metric the kit uses.
APPEAR_WITH_AN_EVENT = {"ferry_events_rejected_total", "ferry_protocol_errors_total", "ferry_auth_refusals_total",
                        "ferry_credentials_reloads_total"}


class Prometheus:
    """Prometheus' HTTP API at ``base`` (http://127.0.0.1:PORT)."""

    def __init__(self, base: str):
        self.base = base

    def api(self, path: str, **parameters: str) -> dict:
        """GET /api/v1/PATH; the answer's data; fails on an error answer."""
        query = urllib.parse.urlencode(parameters)
        status, body = http_get(f"{self.base}/api/v1/{path}?{query}")
        assert status == 200, f"{path} {parameters}: HTTP {status} {body[:500]}"
        answer = json.loads(body)
        assert answer["status"] == "success", answer
        return answer["data"]

    def scalar(self, query: str) -> Optional[float]:
        """The value of an instant query that answers one sample, else None."""
        result = self.api("query", query=query)["result"]
        return float(result[0]["value"][1]) if len(result) == 1 else None


# Fixtures

@pytest.fixture(scope="module")
def prometheus_binary() -> str:
    """Debian's prometheus, or a skip saying how to get it."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("no prometheus binary: `apt-get install prometheus` (deploy/check.sh installs it)")
    return binary


@pytest.fixture(scope="module")
def blackbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Optional[str]]:
    """The blackbox exporter with deploy/prometheus/blackbox.yml (HOST:PORT), or None without it."""
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if binary is None:
        yield None
        return
    address = f"127.0.0.1:{free_port()}"
    log = tmp_path_factory.mktemp("blackbox") / "blackbox.log"
    process = start([binary, f"--config.file={BLACKBOX_CONFIG}", f"--web.listen-address={address}"], log)
    try:
        wait_for("the blackbox exporter", answers_200(f"http://{address}/-/healthy"), alive=process)
        yield address
    finally:
        stop(process, log)


def prometheus_config(ferryd_http: str, blackbox_address: Optional[str]) -> dict:
    """prometheus.yml's jobs, pointed at this ferryd (and blackbox exporter), every second."""
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(RULES)]
    config.pop("alerting", None)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    jobs["ferryd"]["static_configs"] = [{"targets": [ferryd_http]}]
    if blackbox_address is None:
        del jobs["ferryd-readyz"]
    else:
        readyz = jobs["ferryd-readyz"]
        readyz["static_configs"] = [{"targets": [f"http://{ferryd_http}/readyz"]}]
        readyz["relabel_configs"][-1]["replacement"] = blackbox_address
    config["scrape_configs"] = list(jobs.values())
    return config


@pytest.fixture(scope="module")
def prometheus(prometheus_binary: str, ferryd: dict, blackbox: Optional[str],
               tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Prometheus on a free loopback port, scraping ``ferryd`` every second; its API."""
    directory = tmp_path_factory.mktemp("prometheus")
    config_file, log = directory / "prometheus.yml", directory / "prometheus.log"
    config_file.write_text(yaml.safe_dump(prometheus_config(ferryd["http"], blackbox)))
    address = f"127.0.0.1:{free_port()}"
    process = start([prometheus_binary, f"--config.file={config_file}", f"--storage.tsdb.path={directory / 'data'}",
                     f"--web.listen-address={address}", "--log.level=warn"], log)
    try:
        wait_for("Prometheus to be ready", answers_200(f"http://{address}/-/ready"), alive=process)
        yield Prometheus(f"http://{address}")
    finally:
        stop(process, log)


@pytest.fixture(scope="module")
def backlog(ferryd: dict) -> int:
    """Leave LAG_EVENTS events waiting for the durable group GROUP; return how many."""
    with FerryClient(ferryd["endpoint"], "deploy-test-member") as member:
        member.subscribe(GROUP, [TOPIC])       # creates the durable group; leaving it keeps it
    with FerryClient(ferryd["endpoint"], "deploy-test-publisher") as publisher:
        publisher.publish([make_event(TOPIC, f"lag-{n}", b"{}", key=f"order-{n}") for n in range(LAG_EVENTS)])
    return LAG_EVENTS


# Tests

def test_lag_reaches_prometheus(prometheus: Prometheus, backlog: int) -> None:
    """The group's lag, as ferryd serves it, is in Prometheus within the deadline."""
    query = f'ferry_consumer_group_lag_messages{{group="{GROUP}"}}'
    wait_for(f"{query} == {backlog} in Prometheus", equal_to(backlog, lambda: prometheus.scalar(query)))
    labels = prometheus.api("query", query=query)["result"][0]["metric"]
    assert (labels["topic"], labels["job"]) == (TOPIC, "ferryd")


def test_keda_query_sees_the_lag(prometheus: Prometheus, backlog: int) -> None:
    """The ScaledObject's own query answers the backlog: what KEDA would scale email-worker on."""
    spec = yaml.safe_load(SCALED_OBJECT.read_text())["spec"]
    trigger = spec["triggers"][0]["metadata"]
    value = wait_for(f"the ScaledObject's query {trigger['query']} == {backlog}",
                     equal_to(backlog, lambda: prometheus.scalar(trigger["query"])))
    desired = math.ceil(value / float(trigger["threshold"]))
    replicas = max(spec["minReplicaCount"], min(spec["maxReplicaCount"], desired))
    assert replicas == 1, f"a backlog of {backlog} is one replica's share; KEDA would ask for {replicas}"


def test_alert_rules_load_and_evaluate(prometheus: Prometheus) -> None:
    """Prometheus lists every rule group of ferry-alerts.yml, and each rule evaluates without error."""
    expected = {group["name"]: len(group["rules"]) for group in yaml.safe_load(RULES.read_text())["groups"]}

    def evaluated_groups() -> Optional[list]:
        groups = prometheus.api("rules")["groups"]
        evaluated = all(rule.get("health") in ("ok", "err") for group in groups for rule in group["rules"])
        return groups if groups and evaluated else None

    groups = wait_for("every alert rule to be evaluated", evaluated_groups)
    assert {group["name"]: len(group["rules"]) for group in groups} == expected
    broken = {rule["name"]: rule.get("lastError") for group in groups for rule in group["rules"]
              if rule.get("health") != "ok"}
    assert not broken, f"rules that failed to evaluate: {broken}"


def dashboard_queries() -> list[str]:
    """The dashboard's panel queries, with its template variables filled in."""
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [target["expr"] for panel in dashboard_panels(dashboard["panels"]) for target in panel.get("targets", [])]
    return [q.replace("$__rate_interval", "4s").replace("$instance", ".*").replace("$group", ".*") for q in queries]


def test_dashboard_queries_run(prometheus: Prometheus, backlog: int) -> None:
    """Every query of the Grafana dashboard is valid PromQL here; the lag panel shows the backlog."""
    for query in dashboard_queries():
        prometheus.api("query", query=query)        # fails on a parse or evaluation error
    lag = next(q for q in dashboard_queries() if "ferry_consumer_group_lag_messages" in q)
    wait_for(f"the lag panel's query to show {backlog}", equal_to(backlog, lambda: prometheus.scalar(lag)))


def test_readiness_probe(prometheus: Prometheus, blackbox: Optional[str]) -> None:
    """The blackbox exporter's ferry_readyz module finds the ready ferryd ready (FerrydNotReady's input)."""
    if blackbox is None:
        pytest.skip("no prometheus-blackbox-exporter: `apt-get install prometheus-blackbox-exporter`")
    query = 'probe_success{job="ferryd-readyz"}'
    wait_for(f"{query} == 1", equal_to(1.0, lambda: prometheus.scalar(query)))


def used_metric_names() -> set[str]:
    """The ferry_* series names the dashboard and the alert rules query (suffixes included)."""
    expressions = dashboard_queries() + alert_expressions()
    return {name for expression in expressions for name in METRIC_NAME.findall(expression)}


def test_the_real_ferryd_serves_what_the_kit_queries(prometheus: Prometheus, backlog: int) -> None:
    """Every ferry_* series the dashboard and alerts use is in Prometheus, scraped from the real
    ferryd: the check of Sources/ names, made against the exposition itself. Exempt: the series
    that appear with an event, and pending-metrics.txt names this build does not serve yet."""
    needed = used_metric_names() - APPEAR_WITH_AN_EVENT
    pending = {name for name in needed for base in pending_metric_names() if name.startswith(base)}

    absent: set = set()

    def missing() -> Optional[set]:
        result = prometheus.api("query", query='{__name__=~"ferry_.+"}')["result"]
        absent.clear()
        absent.update(needed - {series["metric"]["__name__"] for series in result})
        return None if absent - pending else set(absent)

    try:
        not_yet = wait_for("every series the kit queries in Prometheus", missing)
    except pytest.fail.Exception:
        pytest.fail(f"ferryd serves no {sorted(absent - pending)}, which the dashboard or the alerts query")
    if not_yet:
        print(f"pending metrics this ferryd does not serve yet: {sorted(not_yet)}")
