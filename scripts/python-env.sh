#!/usr/bin/env bash
# Sourced by the Python test runners: sets PYTHON to an interpreter with pyzmq, protobuf 4.x,
# pytest, setuptools and wheel (the packaging test) and the OpenTelemetry API and SDK (the tests
# of ferry_client.tracing need them): the
# system's if it has them all, else clients/python/.venv (git-ignored), made and filled from
# clients/python/requirements.txt when needed. Installs nothing globally.
PYTHON=python3
check='import zmq, pytest, wheel, setuptools, opentelemetry.trace, opentelemetry.sdk.trace, google.protobuf as p; v = tuple(int(x) for x in p.__version__.split(".")[:2]); assert (4, 21) <= v < (5, 0), p.__version__'
if ! "$PYTHON" -c "$check" 2>/dev/null; then
  VENV=clients/python/.venv
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || exit 1
  fi
  PYTHON="$VENV/bin/python"
  if ! "$PYTHON" -c "$check" 2>/dev/null; then
    "$PYTHON" -m pip install -q -r clients/python/requirements.txt || exit 1
  fi
fi
