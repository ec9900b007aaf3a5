#!/usr/bin/env bash
# Upgrade benchmark: keystone 27.1.0 → 29.1.0 and back under a steady token load,
# recreate-style (kolla-ansible, docker compose) beside Ankyra's start-first
# replacement and bake-window switch, in one run. Deploys its own small cloud and
# removes it. Writes bench/results/<date>-<host>/upgrade.md.
#   bench/upgrade/run.sh release   instead: a whole cloud 2026.1 → 2026.2
#     (`ankyra upgrade --release --apply`, wall time beside the critical path of its
#     steps) and `ankyra rollback --to 1`, under a load on every API; writes
#     upgrade-release.md (~40 minutes with images built).
set -euo pipefail
cd "$(dirname "$0")/../.."
out="bench/results/$(date +%Y-%m-%d)-$(hostname -s)"
mkdir -p "$out"
cargo build -q -p ankyra
ANKYRA_BENCH_OUT="$out" cargo run -q -p ankyra-e2e --features docker --example upgrade_bench -- "$@"
