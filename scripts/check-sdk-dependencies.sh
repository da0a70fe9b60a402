#!/usr/bin/env bash
# Checks that a package depending only on the `Ferry` SDK product (Tests/sdk-only) resolves none
# of the packages only the server side or the order system needs. SwiftPM resolves, for a
# dependency, the packages that any of its products needs (not only those of the products
# used), so this fails as soon as a product of the root package reaches one of them; see the
# comment at the top of Package.swift. Resolution only: nothing is built.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden=(hummingbird grdb.swift yams hdrhistogram-swift)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# FERRY_SERVER_LIBRARIES adds the broker's libraries for Benchmarks/; check the default.
if ! env -u FERRY_SERVER_LIBRARIES swift package --package-path Tests/sdk-only --scratch-path "$scratch" \
  show-dependencies --format json >"$scratch/dependencies.json" 2>"$scratch/stderr"; then
  cat "$scratch/stderr" >&2
  exit 1
fi
resolved=$(grep -o '"identity" *: *"[^"]*"' "$scratch/dependencies.json" | sed 's/.*: *"//; s/"$//' | sort -u)
echo "a package on the Ferry SDK resolves: $(echo $resolved)"
status=0
for package in "${forbidden[@]}"; do
  if grep -qx "$package" <<<"$resolved"; then
    echo "error: a package that depends only on the Ferry SDK resolves $package" >&2
    status=1
  fi
done
exit $status
