#!/usr/bin/env bash
# Guest benchmark: on a fresh libvirt cloud, boots N servers of the test guest one by one
# and times create → ACTIVE (nova) and ACTIVE → console marker (the guest booted), beside
# the same qcow2 booted by QEMU directly in the nova-libvirt container (no nova, no
# libvirt) in the same run; then reads each running guest's memory (QEMU's RSS and PSS,
# /proc/PID/smaps_rollup). Deploys its own cloud and removes it.
# Writes bench/results/<date>-<host>/guest.md.   N=3 bench/guest/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out="bench/results/$(date +%Y-%m-%d)-$(hostname -s)"
mkdir -p "$out"
scripts/ensure-host-deps.sh
osc="$(scripts/ensure-openstackclient.sh)"
cargo build -q -p ankyra
work="$(mktemp -d)"
cloud="bench-guest-$$"
export ANKYRA_STORE="$work/store.db"
trap 'target/debug/ankyra destroy "$cloud" --purge >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
target/debug/ankyra init --name "$cloud" > "$work/$cloud.yaml"
target/debug/ankyra apply -f "$work/$cloud.yaml" -m "guest bench" --no-progress >/dev/null
BENCH_OSC="$osc" BENCH_CLOUD="$cloud" BENCH_CLOUDS_YAML="$(dirname "$ANKYRA_STORE")/clouds/$cloud/clouds.yaml" \
  BENCH_OUT="$out/guest.md" BENCH_N="${N:-3}" python3 bench/guest/bench.py
echo "wrote $out/guest.md"
