#!/usr/bin/env bash
# A/B of two ferryd builds in interleaved rounds of `ferry bench peers`: saturation and
# `--rate 10000`, fsync never, batch and always; the order of B and A alternates per round.
#   BEFORE=<tree>/.build/release/ferryd AFTER=<tree>/.build/release/ferryd [FERRY=...] ab.sh [ROUNDS]
# Prints one line per run: kind round build (B/A) and the peers' result line.
set -u
ROUNDS=${1:-5}
FERRY=${FERRY:-$(dirname "$0")/../../.build/release/ferry}
: "${BEFORE:?set BEFORE to the ferryd built before the change}" "${AFTER:?set AFTER to the ferryd built after it}"
run() { # kind round build extra-arguments...
  local kind=$1 round=$2 which=$3; shift 3
  local binary=$BEFORE; [ "$which" = A ] && binary=$AFTER
  echo "$kind $round $which $("$FERRY" bench peers --ferryd "$binary" --quiet "$@" 2>/dev/null | grep -v '^#' | tail -1)"
}
for round in $(seq 1 "$ROUNDS"); do
  order="B A"; (( round % 2 )) || order="A B"
  for mode in batch never always; do for which in $order; do run sat "$round" "$which" --fsync "$mode"; done; done
  for mode in batch never always; do for which in $order; do run rate "$round" "$which" --fsync "$mode" --rate 10000; done; done
done
