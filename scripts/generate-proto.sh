#!/usr/bin/env bash
# Regenerates the protobuf code committed under Sources/FerryProtocol/Generated (Swift) and
# clients/python/ferry_client/proto (Python) from proto/ferry/v1/*.proto, and the order system's
# events (proto/orders/v1/events.proto) under Examples/OrderSystem/Sources/OrderEvents/Generated
# and Examples/OrderSystem/python.
# Needs protoc (Debian: protobuf-compiler). Builds protoc-gen-swift from the swift-protobuf
# version Package.swift uses, once, into .build-protoc/ (about 2-10 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v protoc >/dev/null || { apt-get update -qq && apt-get install -y -qq protobuf-compiler; }

SWIFT_PROTOBUF_VERSION=1.39.0
PLUGIN_DIR=.build-protoc
PLUGIN="$PLUGIN_DIR/swift-protobuf/.build/release/protoc-gen-swift"
# `swift build --build-tests` builds the package's own protoc-gen-swift (the resolved
# swift-protobuf): use it when it is there.
if [ ! -x "$PLUGIN" ] && [ -x .build/debug/protoc-gen-swift ]; then PLUGIN=.build/debug/protoc-gen-swift; fi
if [ ! -x "$PLUGIN" ]; then
  rm -rf "$PLUGIN_DIR/swift-protobuf"
  mkdir -p "$PLUGIN_DIR"
  # The package's own checkout when it has been resolved (offline machines), else GitHub.
  if [ -d .build/checkouts/swift-protobuf/.git ] || [ -f .build/checkouts/swift-protobuf/Package.swift ]; then
    cp -R .build/checkouts/swift-protobuf "$PLUGIN_DIR/swift-protobuf"
    rm -rf "$PLUGIN_DIR/swift-protobuf/.build"
  else
    git clone -q --branch "$SWIFT_PROTOBUF_VERSION" https://github.com/apple/swift-protobuf.git "$PLUGIN_DIR/swift-protobuf"
  fi
  (cd "$PLUGIN_DIR/swift-protobuf" && swift build -c release --product protoc-gen-swift)
fi

rm -f Sources/FerryProtocol/Generated/*.pb.swift
protoc --plugin=protoc-gen-swift="$PLUGIN" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_opt=UseAccessLevelOnImports=true \
  --swift_out=Sources/FerryProtocol/Generated \
  -I proto proto/ferry/v1/*.proto

PY_OUT=clients/python/ferry_client/proto
mkdir -p "$PY_OUT"
protoc --python_out="$PY_OUT" -I proto proto/ferry/v1/*.proto
ORDERS_OUT=Examples/OrderSystem/Sources/OrderEvents/Generated
mkdir -p "$ORDERS_OUT"
rm -f "$ORDERS_OUT"/*.pb.swift
protoc --plugin=protoc-gen-swift="$PLUGIN" \
  --swift_opt=Visibility=Public --swift_opt=FileNaming=PathToUnderscores --swift_opt=UseAccessLevelOnImports=true \
  --swift_out="$ORDERS_OUT" \
  -I proto proto/orders/v1/*.proto
mkdir -p Examples/OrderSystem/python
protoc --python_out=Examples/OrderSystem/python -I proto proto/orders/v1/*.proto

echo "generated: $(ls Sources/FerryProtocol/Generated) and $(cd "$PY_OUT" && find . -name '*_pb2.py' | tr '\n' ' ')"
