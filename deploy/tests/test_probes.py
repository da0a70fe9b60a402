"""The probes of the deploy kit, run against a real ferryd (conftest.py): the Kubernetes probe
paths, compose's healthcheck command and the systemd unit's readiness wait (ExecStartPost)."""
from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support import free_port, http_get

DEPLOY = Path(__file__).resolve().parents[1]
COMPOSE = DEPLOY / "container" / "compose.yaml"
UNIT = DEPLOY / "systemd" / "ferryd.service"
STATEFULSET = DEPLOY / "kubernetes" / "ferryd-statefulset.yaml"


def needs_curl() -> None:
    """Skip unless curl, which the compose healthcheck and the systemd unit use, is here."""
    if shutil.which("curl") is None:
        pytest.skip("no curl on this machine")


def ferryd_container() -> dict:
    """The ferryd container of the StatefulSet."""
    return yaml.safe_load(STATEFULSET.read_text())["spec"]["template"]["spec"]["containers"][0]


def compose_healthcheck(address: str) -> list[str]:
    """compose.yaml's ferryd healthcheck command, aimed at ``address`` instead of 127.0.0.1:7480."""
    test = yaml.safe_load(COMPOSE.read_text())["services"]["ferryd"]["healthcheck"]["test"]
    assert test[0] == "CMD"
    return [part.replace("127.0.0.1:7480", address) for part in test[1:]]


def readiness_wait(address: str, seconds: int = 300) -> list[str]:
    """ferryd.service's ExecStartPost command line as systemd would run it, with
    FERRY_HTTP_ENDPOINT=``address`` (and ``seconds`` for its bound)."""
    line = next(line for line in UNIT.read_text().splitlines() if line.startswith("ExecStartPost="))
    command = line.removeprefix("ExecStartPost=").replace("${FERRY_HTTP_ENDPOINT}", address)
    assert command.startswith("/usr/bin/timeout 300 "), command
    return shlex.split(command.replace("timeout 300", f"timeout {seconds}", 1))


def test_kubernetes_probe_paths_answer(ferryd: dict) -> None:
    """The StatefulSet's liveness and readiness paths answer 200 on a ready ferryd, on the port it names."""
    container = ferryd_container()
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        http = container[probe]["httpGet"]
        assert ports[http["port"]] == 7480, probe
        status, body = http_get(f"http://{ferryd['http']}{http['path']}")
        assert status == 200, (probe, status, body)
    assert json.loads(http_get(f"http://{ferryd['http']}/readyz")[1])["ready"] is True


def test_compose_healthcheck_passes_on_a_ready_ferryd(ferryd: dict) -> None:
    """compose's healthcheck command exits 0 against the ready ferryd."""
    needs_curl()
    result = subprocess.run(compose_healthcheck(ferryd["http"]), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_compose_healthcheck_fails_without_ferryd() -> None:
    """The same command fails where nothing listens."""
    needs_curl()
    result = subprocess.run(compose_healthcheck(f"127.0.0.1:{free_port()}"), capture_output=True, timeout=30)
    assert result.returncode != 0


def test_systemd_readiness_wait_returns_once_ready(ferryd: dict) -> None:
    """ferryd.service's readiness wait returns 0 at once against the ready ferryd."""
    needs_curl()
    result = subprocess.run(readiness_wait(ferryd["http"]), capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr


def test_systemd_readiness_wait_gives_up() -> None:
    """The wait is bounded: with a 2 s bound where nothing listens, it fails with timeout's 124."""
    needs_curl()
    result = subprocess.run(readiness_wait(f"127.0.0.1:{free_port()}", seconds=2), capture_output=True, timeout=30)
    assert result.returncode == 124
