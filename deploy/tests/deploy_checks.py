#!/usr/bin/env python3
"""Offline checks of the deploy kit (run by deploy/check.sh, tested by test_offline.py).

    deploy_checks.py manifests [--kubernetes-version 1.32.0] [FILE ...]
    deploy_checks.py kustomization
    deploy_checks.py metric-names

``manifests`` validates every document of the given files (default: deploy/kubernetes/*.yaml but
kustomization.yaml): built-in kinds with kubernetes-validate's bundled schemas of one Kubernetes
version, strictly (unknown fields are errors); KEDA ScaledObjects with the JSON schema in
deploy/kubernetes/schemas/. A kind with neither is an error, not a warning.
``kustomization`` checks that kustomization.yaml lists every manifest but secrets.yaml, and only
files that exist. ``metric-names`` checks that the Grafana dashboard parses and that every
ferry_* metric its queries, and the alert rules, use is one ferryd serves: a name in Sources/
(a swift-metrics label, "ferry_...") or in deploy/prometheus/pending-metrics.txt.
Exit status 1 when anything fails.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Iterable, Iterator

import jsonschema
import yaml

DEPLOY = Path(__file__).resolve().parent.parent
ROOT = DEPLOY.parent
KUBERNETES = DEPLOY / "kubernetes"
KEDA_SCHEMA = KUBERNETES / "schemas" / "keda-scaledobject-v1alpha1.json"
DASHBOARD = DEPLOY / "grafana" / "ferry-dashboard.json"
ALERTS = DEPLOY / "prometheus" / "ferry-alerts.yml"
PENDING_METRICS = DEPLOY / "prometheus" / "pending-metrics.txt"
# The Kubernetes version the manifests are validated against (kubernetes-validate's bundled schemas).
KUBERNETES_VERSION = "1.32.0"
# Files of deploy/kubernetes/ that `kubectl apply -k` must not apply.
NOT_IN_KUSTOMIZATION = {"kustomization.yaml", "secrets.yaml"}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
METRIC_NAME = re.compile(r"\bferry_[a-z0-9_]*[a-z0-9]")


# Kubernetes manifests

def documents(path: Path) -> Iterator[tuple[int, dict]]:
    """Yield (index, document) for each non-empty YAML document of ``path``."""
    with path.open() as stream:
        for index, document in enumerate(yaml.safe_load_all(stream)):
            if document:
                yield index, document


def describe(path: Path, index: int, document: dict) -> str:
    """A short name of one document, for messages: file#index kind/name."""
    name = (document.get("metadata") or {}).get("name", "?")
    return f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}#{index} {document.get('kind', '?')}/{name}"


def kubernetes_errors(document: dict, version: str) -> list[str]:
    """Errors of a built-in kind against kubernetes-validate's strict schemas of ``version``."""
    import kubernetes_validate.utils as kv

    try:
        kv.validate(document, version, strict=True)
    except kv.ValidationError as error:
        location = ".".join(str(part) for part in error.path) or "(document)"
        return [f"{location}: {error.message}"]
    except kv.SchemaNotFoundError as error:
        return [f"no schema: {error.message}"]
    return []


def scaledobject_errors(document: dict) -> list[str]:
    """Errors of a KEDA ScaledObject against the vendored schema, plus the CRD's CEL rule."""
    schema = json.loads(KEDA_SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{'.'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message}"
              for e in sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))]
    spec = document.get("spec") or {}
    minimum, maximum = spec.get("minReplicaCount"), spec.get("maxReplicaCount", 100)
    if isinstance(minimum, int) and isinstance(maximum, int) and minimum > maximum:
        errors.append("spec: minReplicaCount must be less than or equal to maxReplicaCount")
    return errors


def manifest_errors(document: dict, version: str) -> list[str]:
    """Errors of one manifest, by the validator its kind has."""
    if str(document.get("apiVersion", "")).startswith("keda.sh/"):
        if document.get("kind") != "ScaledObject":
            return [f"no schema for KEDA kind {document.get('kind')!r}: only ScaledObject is vendored"]
        return scaledobject_errors(document)
    return kubernetes_errors(document, version)


def check_manifests(paths: Iterable[Path], version: str) -> int:
    """Validate every document of ``paths``, print one line each; return the number that failed."""
    failures = 0
    for path in paths:
        for index, document in documents(path):
            errors = manifest_errors(document, version)
            label = describe(path, index, document)
            if errors:
                failures += 1
                for error in errors:
                    print(f"FAIL {label}: {error}")
            else:
                print(f"ok   {label}")
    return failures


def default_manifests() -> list[Path]:
    """deploy/kubernetes/*.yaml but kustomization.yaml (which is kustomize's, not an object)."""
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def kustomization_errors(directory: Path = KUBERNETES) -> list[str]:
    """What is wrong with the kustomization's resource list: missing or unlisted files."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    listed = set(kustomization.get("resources") or [])
    present = {p.name for p in directory.glob("*.yaml")}
    errors = [f"kustomization.yaml lists {name}, which does not exist" for name in sorted(listed - present)]
    errors += [f"kustomization.yaml does not list {name}"
               for name in sorted(present - listed - NOT_IN_KUSTOMIZATION)]
    errors += [f"kustomization.yaml lists {name}, which must not be applied"
               for name in sorted(listed & NOT_IN_KUSTOMIZATION)]
    return errors


# Metric names

def source_metric_names(root: Path = ROOT) -> set[str]:
    """The ferry_* metric labels written in Sources/ (swift-metrics labels are string literals)."""
    names = set()
    for path in (root / "Sources").rglob("*.swift"):
        names.update(re.findall(r'"(ferry_[a-z0-9_]+)"', path.read_text(errors="replace")))
    return names


def pending_metric_names(path: Path = PENDING_METRICS) -> set[str]:
    """Names from pending-metrics.txt (one per line, # starts a comment); none without the file."""
    if not path.exists():
        return set()
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {line for line in lines if line}


def served_metric_names() -> set[str]:
    """Every metric name ferryd serves or is about to: Sources/ and the pending list."""
    return source_metric_names() | pending_metric_names()


def base_name(name: str, served: set[str]) -> str:
    """A histogram series' metric name: ferry_x_seconds_bucket -> ferry_x_seconds (when served)."""
    for suffix in HISTOGRAM_SUFFIXES:
        if name.endswith(suffix) and name[: -len(suffix)] in served:
            return name[: -len(suffix)]
    return name


def unknown_metrics(expressions: Iterable[str], served: set[str]) -> set[str]:
    """The ferry_* names of ``expressions`` that ferryd does not serve."""
    used = {match for expression in expressions for match in METRIC_NAME.findall(expression)}
    return {name for name in used if base_name(name, served) not in served}


def dashboard_panels(panels: list[dict]) -> Iterator[dict]:
    """Every panel of a dashboard, those inside collapsed rows included."""
    for panel in panels:
        yield panel
        yield from dashboard_panels(panel.get("panels") or [])


def dashboard_expressions(dashboard: dict) -> list[str]:
    """The PromQL of every panel target and every query variable of a dashboard."""
    expressions = [target["expr"] for panel in dashboard_panels(dashboard.get("panels") or [])
                   for target in panel.get("targets") or [] if "expr" in target]
    for variable in (dashboard.get("templating") or {}).get("list") or []:
        query = variable.get("query")
        if variable.get("type") == "query":
            expressions.append(query["query"] if isinstance(query, dict) else str(query))
    return expressions


def dashboard_errors(dashboard: dict) -> list[str]:
    """Structural problems: panels without a query, a datasource other than ${DS_PROMETHEUS}, ids twice."""
    errors, ids = [], set()
    for panel in dashboard_panels(dashboard.get("panels") or []):
        if panel.get("type") == "row":
            continue
        title = panel.get("title", "?")
        if panel.get("id") in ids:
            errors.append(f"panel {title!r}: id {panel.get('id')} used twice")
        ids.add(panel.get("id"))
        if not any(target.get("expr") for target in panel.get("targets") or []):
            errors.append(f"panel {title!r} has no query")
        for source in [panel.get("datasource")] + [t.get("datasource") for t in panel.get("targets") or []]:
            if source and source.get("uid") != "${DS_PROMETHEUS}":
                errors.append(f"panel {title!r}: datasource {source} is not ${{DS_PROMETHEUS}}")
    return errors


def alert_expressions(path: Path = ALERTS) -> list[str]:
    """The expr of every rule of a Prometheus rule file."""
    rules = yaml.safe_load(path.read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def check_metric_names() -> int:
    """Dashboard and alert rules against the served names; print the outcome; return failures."""
    served, failures = served_metric_names(), 0
    dashboard = json.loads(DASHBOARD.read_text())
    for error in dashboard_errors(dashboard):
        print(f"FAIL {DASHBOARD.name}: {error}")
        failures += 1
    for label, expressions in ((DASHBOARD.name, dashboard_expressions(dashboard)),
                               (ALERTS.name, alert_expressions())):
        unknown = unknown_metrics(expressions, served)
        for name in sorted(unknown):
            print(f"FAIL {label}: {name} is not a metric ferryd serves (Sources/ or pending-metrics.txt)")
        failures += len(unknown)
        if not unknown:
            print(f"ok   {label}: {len(expressions)} queries, every ferry_* metric is served")
    for name in sorted(pending_metric_names() & source_metric_names()):
        print(f"note {PENDING_METRICS.name}: {name} is in Sources/ now; the line can go")
    for name in sorted(pending_metric_names() - source_metric_names()):
        print(f"note {name}: not in Sources/ yet (pending-metrics.txt)")
    return failures


def main(argv: list[str]) -> int:
    """Run one check; exit status 1 when it found a problem."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    manifests = commands.add_parser("manifests", help="validate Kubernetes manifests")
    manifests.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    manifests.add_argument("files", nargs="*", type=Path)
    commands.add_parser("kustomization", help="kustomization.yaml lists every manifest")
    commands.add_parser("metric-names", help="dashboard and alerts use served metrics only")
    arguments = parser.parse_args(argv)
    if arguments.command == "manifests":
        failures = check_manifests(arguments.files or default_manifests(), arguments.kubernetes_version)
    elif arguments.command == "kustomization":
        errors = kustomization_errors()
        for error in errors:
            print(f"FAIL {error}")
        if not errors:
            print("ok   kustomization.yaml lists every manifest but secrets.yaml")
        failures = len(errors)
    else:
        failures = check_metric_names()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
