"""The offline checks of deploy_checks.py pass on the kit and catch what they are for.

Each check is run on the real files, then on a broken copy in memory, which it must reject: a
validator that accepts everything would otherwise pass unnoticed.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))

import deploy_checks as checks  # noqa: E402


def manifest(name: str, kind: str) -> dict:
    """The first document of deploy/kubernetes/NAME whose kind is ``kind``."""
    return next(doc for _, doc in checks.documents(checks.KUBERNETES / name) if doc["kind"] == kind)


@pytest.mark.parametrize("path", checks.default_manifests(), ids=lambda p: p.name)
def test_every_manifest_is_valid(path: Path) -> None:
    """Every document of deploy/kubernetes/ validates (built-in kinds strictly, KEDA by its schema)."""
    for index, document in checks.documents(path):
        assert checks.manifest_errors(document, checks.KUBERNETES_VERSION) == [], checks.describe(path, index, document)


def test_a_string_replica_count_is_rejected() -> None:
    """replicas: "two" in the StatefulSet fails kubernetes-validate."""
    statefulset = copy.deepcopy(manifest("ferryd-statefulset.yaml", "StatefulSet"))
    statefulset["spec"]["replicas"] = "two"
    errors = checks.manifest_errors(statefulset, checks.KUBERNETES_VERSION)
    assert any("spec.replicas" in error for error in errors), errors


def test_an_unknown_field_is_rejected() -> None:
    """A misspelt field (livenesProbe) fails: validation is strict."""
    statefulset = copy.deepcopy(manifest("ferryd-statefulset.yaml", "StatefulSet"))
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    container["livenesProbe"] = container.pop("livenessProbe")
    assert checks.manifest_errors(statefulset, checks.KUBERNETES_VERSION)


def test_a_kind_without_schema_is_an_error() -> None:
    """A kind neither kubernetes-validate nor the vendored schemas know is a failure, not a warning."""
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert checks.manifest_errors(unknown, checks.KUBERNETES_VERSION)
    trigger_auth = {"apiVersion": "keda.sh/v1alpha1", "kind": "TriggerAuthentication", "metadata": {"name": "t"}}
    assert checks.manifest_errors(trigger_auth, checks.KUBERNETES_VERSION)


@pytest.mark.parametrize("breakage, message", [
    (lambda spec: spec.update(maxReplicaCount=0), "maxReplicaCount"),
    (lambda spec: spec.update(minReplicaCount=9), "minReplicaCount must be less than or equal"),
    (lambda spec: spec["triggers"][0]["metadata"].pop("threshold"), "'threshold' is a required property"),
    (lambda spec: spec["triggers"][0]["metadata"].update(threshold=200), "is not of type 'string'"),
    (lambda spec: spec.pop("scaleTargetRef"), "'scaleTargetRef' is a required property"),
    (lambda spec: spec.update(maxReplicas=3), "Additional properties"),
], ids=["max-0", "min-over-max", "no-threshold", "numeric-threshold", "no-target", "unknown-field"])
def test_a_broken_scaledobject_is_rejected(breakage, message: str) -> None:
    """The KEDA schema (and the CRD's min <= max rule) catch mistakes in the ScaledObject."""
    scaled_object = copy.deepcopy(manifest("email-worker-scaledobject.yaml", "ScaledObject"))
    breakage(scaled_object["spec"])
    errors = checks.manifest_errors(scaled_object, checks.KUBERNETES_VERSION)
    assert any(message in error for error in errors), errors


def test_the_scaledobject_targets_the_email_deployment() -> None:
    """The ScaledObject scales a Deployment that exists, on its worker's real group, and that
    Deployment leaves its replica count to KEDA."""
    scaled_object = manifest("email-worker-scaledobject.yaml", "ScaledObject")
    target = scaled_object["spec"]["scaleTargetRef"]
    deployment = manifest("email-worker.yaml", "Deployment")
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
    assert "replicas" not in deployment["spec"]
    assert 'group="email"' in scaled_object["spec"]["triggers"][0]["metadata"]["query"]
    worker = (checks.ROOT / "Examples/OrderSystem/Sources/email-worker/EmailWorker.swift").read_text()
    assert 'worker.group("email"' in worker


def test_kustomization_lists_every_manifest() -> None:
    """kustomization.yaml lists every manifest but secrets.yaml, and nothing that is missing."""
    assert checks.kustomization_errors() == []


def test_the_dashboard_uses_served_metrics_only() -> None:
    """The dashboard parses, each panel queries through ${DS_PROMETHEUS}, every metric is served."""
    dashboard = json.loads(checks.DASHBOARD.read_text())
    assert dashboard["schemaVersion"] >= 39
    assert checks.dashboard_errors(dashboard) == []
    assert checks.unknown_metrics(checks.dashboard_expressions(dashboard), checks.served_metric_names()) == set()
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["group"]["query"]["query"] == "label_values(ferry_consumer_group_lag_messages, group)"


def test_an_unknown_dashboard_metric_is_reported() -> None:
    """A misspelt metric in a panel is found; histogram suffixes of served histograms are not."""
    served = checks.served_metric_names()
    expressions = ["sum(rate(ferry_event_published_total[5m]))",
                   "histogram_quantile(0.99, rate(ferry_publish_to_confirm_seconds_bucket[5m]))"]
    assert checks.unknown_metrics(expressions, served) == {"ferry_event_published_total"}


def test_a_panel_with_another_datasource_is_reported() -> None:
    """A panel bound to a fixed datasource uid is reported."""
    dashboard = json.loads(checks.DASHBOARD.read_text())
    panel = next(p for p in checks.dashboard_panels(dashboard["panels"]) if p.get("type") == "timeseries")
    panel["datasource"] = {"type": "prometheus", "uid": "abc123"}
    assert any("is not ${DS_PROMETHEUS}" in error for error in checks.dashboard_errors(dashboard))


def test_the_alert_rules_use_served_metrics_only() -> None:
    """Every ferry_* metric of ferry-alerts.yml is served, and every alert has a severity and texts."""
    assert checks.unknown_metrics(checks.alert_expressions(), checks.served_metric_names()) == set()
    for group in yaml.safe_load(checks.ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
            assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


def test_every_alert_has_a_firing_and_a_quiet_promtool_case() -> None:
    """ferry-alerts.test.yml makes each alert fire at least once and stay quiet at least once."""
    tests = yaml.safe_load((checks.ALERTS.parent / "ferry-alerts.test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test["alert_rule_test"]]
    for group in yaml.safe_load(checks.ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            outcomes = {bool(case["exp_alerts"]) for case in cases if case["alertname"] == rule["alert"]}
            assert outcomes == {True, False}, f"{rule['alert']}: fires {True in outcomes}, quiet {False in outcomes}"


# Consistency between the files: names that must agree for the kit to work once applied.

PROCESSES = ["orders-api", "inventory-worker", "payment-worker", "fulfillment-worker", "email-worker",
             "notification-worker", "audit-worker", "analytics-worker"]


def all_documents() -> list[dict]:
    """Every document of deploy/kubernetes/ (secrets.yaml included)."""
    return [doc for path in checks.default_manifests() for _, doc in checks.documents(path)]


def test_ferryd_ports_probes_and_scrape_annotations_agree() -> None:
    """The scrape annotations, the probes, both Services and the in-cluster Prometheus name one HTTP port."""
    statefulset = manifest("ferryd-statefulset.yaml", "StatefulSet")
    pod = statefulset["spec"]["template"]
    container = pod["spec"]["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"zmq": 7400, "http": 7480}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(ports["http"])
    assert "0.0.0.0:7480" in container["command"]
    services = {doc["metadata"]["name"]: doc for _, doc in checks.documents(checks.KUBERNETES / "ferryd-service.yaml")}
    assert statefulset["spec"]["serviceName"] in services
    for service in services.values():
        assert {port["targetPort"] for port in service["spec"]["ports"]} == set(ports)
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    headless = services[statefulset["spec"]["serviceName"]]
    config = yaml.safe_load((checks.ALERTS.parent / "prometheus-kubernetes.yml").read_text())
    srv = f"_http._tcp.{headless['metadata']['name']}.{headless['metadata']['namespace']}.svc.cluster.local"
    for job in config["scrape_configs"]:
        assert job["dns_sd_configs"][0]["names"] == [srv], job["job_name"]


def test_every_process_has_a_deployment_with_its_own_key() -> None:
    """Each process of deploy/README.md's table is a Deployment that connects as itself."""
    deployments = {doc["metadata"]["name"]: doc for doc in all_documents() if doc["kind"] == "Deployment"}
    secrets = {doc["metadata"]["name"] for doc in all_documents() if doc["kind"] == "Secret"}
    assert sorted(deployments) == sorted(PROCESSES)
    for name, deployment in deployments.items():
        pod = deployment["spec"]["template"]["spec"]
        environment = {item["name"]: item["value"] for item in pod["containers"][0]["env"]}
        assert environment == {"FERRY_BROKER": "tcp://ferryd:7400", "FERRY_SERVER_KEY": "/run/secrets/ferry/ferryd.key",
                               "FERRY_CLIENT_KEY_FILE": "/run/secrets/ferry/client.key_secret"}, name
        assert pod["containers"][0]["image"] == "ferry/order-system:latest"
        assert pod["containers"][0]["command"][:2] == [name, "run"]
        keys = next(volume for volume in pod["volumes"] if volume["name"] == "keys")["projected"]["sources"]
        assert {"name": f"ferry-client-{name}", "items": [{"key": "client.key_secret", "path": "client.key_secret"}]} \
            in [source.get("secret") for source in keys], name
        assert f"ferry-client-{name}" in secrets


def test_every_principal_of_the_credentials_has_a_client_secret() -> None:
    """deploy/credentials.yaml's principals (but the operator, a person) are the client Secrets."""
    principals = {p["name"] for p in yaml.safe_load((checks.DEPLOY / "credentials.yaml").read_text())["principals"]}
    secrets = {doc["metadata"]["name"].removeprefix("ferry-client-") for doc in all_documents()
               if doc["kind"] == "Secret" and doc["metadata"]["name"].startswith("ferry-client-")}
    assert principals - {"operator"} == secrets


def test_compose_waits_for_a_ready_ferryd() -> None:
    """compose.yaml: ferryd serves HTTP and has a /readyz healthcheck; every other service waits for it."""
    services = yaml.safe_load((checks.DEPLOY / "container" / "compose.yaml").read_text())["services"]
    ferryd = services.pop("ferryd")
    assert "--http-endpoint" in ferryd["command"]
    assert any("/readyz" in part for part in ferryd["healthcheck"]["test"])
    assert "127.0.0.1:7480:7480" in ferryd["ports"]
    for name, service in services.items():
        assert service["depends_on"] == {"ferryd": {"condition": "service_healthy"}}, name
