"""Fixtures shared by the deploy tests: one real ferryd for the whole session."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Iterator

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from support import answers_200, read_text, start, stop, wait_for  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FERRYD = Path(os.environ.get("FERRYD", ROOT / ".build" / "debug" / "ferryd"))


@pytest.fixture(scope="session")
def ferryd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A ferryd ($FERRYD) on ephemeral loopback ports with a temporary data directory:
    {"endpoint": "tcp://127.0.0.1:PORT", "http": "127.0.0.1:PORT"}; stopped at the end."""
    # The binary may be being rebuilt at this moment: give it a little while to reappear.
    wait_for(f"{FERRYD} to exist (build it: swift build --product ferryd)",
             lambda: True if FERRYD.exists() else None, deadline_s=60)
    directory = tmp_path_factory.mktemp("ferryd")
    endpoint_file, http_file, log = directory / "endpoint", directory / "http", directory / "ferryd.log"
    process = start([str(FERRYD), "--endpoint", "tcp://127.0.0.1:0", "--endpoint-file", str(endpoint_file),
                     "--http-endpoint", "127.0.0.1:0", "--http-endpoint-file", str(http_file),
                     "--data-dir", str(directory / "data"), "--log-level", "warning", "--exit-with-parent"], log)
    try:
        endpoint = wait_for("ferryd's endpoint file", lambda: read_text(endpoint_file), alive=process)
        http = wait_for("ferryd's HTTP endpoint file", lambda: read_text(http_file), alive=process)
        wait_for("ferryd's /readyz to answer 200", answers_200(f"http://{http}/readyz"), alive=process)
        yield {"endpoint": endpoint, "http": http}
    finally:
        stop(process, log)
