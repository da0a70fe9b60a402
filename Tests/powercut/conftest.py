"""Fixtures of the power-cut tests: the shim, built once per session into a temporary directory,
and ferryds under it (every one killed at the end)."""
import subprocess

import pytest

from harness import HERE, PowercutBroker
from support import require_ferryd

import powercut


@pytest.fixture(scope="session")
def shim(tmp_path_factory):
    return powercut.build_shim(str(tmp_path_factory.mktemp("powercut-shim")))


@pytest.fixture(scope="session")
def selftest_program(tmp_path_factory):
    target = tmp_path_factory.mktemp("powercut-selftest") / "selftest"
    subprocess.run([powercut.compiler(), "-O2", "-pthread", "-o", str(target), str(HERE / "selftest.c")], check=True)
    return str(target)


@pytest.fixture
def broker_factory(shim, tmp_path):
    """Makes PowercutBrokers (not started) with extra ferryd arguments; all are killed at the end
    (their directories are left in pytest's temporary directory, for a look after a failure)."""
    require_ferryd()
    brokers = []

    def make(*args: str) -> PowercutBroker:
        brokers.append(PowercutBroker(tmp_path / f"ferryd-{len(brokers)}", shim, "--heartbeat-ms", "200", *args))
        return brokers[-1]

    try:
        yield make
    finally:
        for broker in brokers:
            broker.stop()
