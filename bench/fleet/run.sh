#!/usr/bin/env bash
# Fleet benchmark (issue 10): 10,000 recorded clouds (records only) in a SQLite
# store and in a PostgreSQL store; `fleet ls --where` and the planning of
# `fleet set` timed on each (best of 5, in-process), with the peak memory of
# the measuring process, plus the wall time of the same two commands through
# the `ankyra` binary. Writes bench/results/<date>-<host>/fleet.md.
#   N=10000 by default; PostgreSQL from scripts/ensure-postgres.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${N:-10000}
out="bench/results/$(date +%Y-%m-%d)-$(hostname -s)"
mkdir -p "$out"
cargo build -q --release -p ankyra
cargo build -q --release -p ankyra-ops --example fleet_bench
bench=target/release/examples/fleet_bench
ankyra=target/release/ankyra
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pg=$(scripts/ensure-postgres.sh --plain)
pg_plain=$(sed -n 1p <<<"$pg")
# No password on any command line or in the environment: psql reads it from a
# pgpass file, Ankyra from ANKYRA_STORE_PASSWORD_FILE (both owner-only).
( umask 077; printf '*:*:*:*:%s\n' "$(cat "$(sed -n 2p <<<"$pg")")" > "$tmp/pgpass" )
export PGPASSFILE="$tmp/pgpass" ANKYRA_STORE_PASSWORD_FILE=$(sed -n 2p <<<"$pg")
# A database of its own, so reruns start empty.
pg_db="ankyra_fleet_bench"
psql "$pg_plain" -qc "DROP DATABASE IF EXISTS $pg_db" >/dev/null
psql "$pg_plain" -qc "CREATE DATABASE $pg_db" >/dev/null
pg_bench_url="${pg_plain%/*}/$pg_db"

wall() { # best of 5 wall-clock milliseconds of a command
    local best=999999
    for _ in 1 2 3 4 5; do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null || { echo "fleet bench: failed: $*" >&2; exit 1; }
        t1=$(date +%s%N)
        local ms=$(( (t1 - t0) / 1000000 ))
        (( ms < best )) && best=$ms
    done
    echo "$best"
}

rows=()
for backend in sqlite postgres; do
    if [ $backend = sqlite ]; then loc="$tmp/store.db"; else loc="$pg_bench_url"; fi
    echo "== $backend: filling $n clouds" >&2
    t0=$(date +%s)
    "$bench" fill "$loc" "$n"
    fill_s=$(( $(date +%s) - t0 ))
    row=$("$bench" measure "$loc")
    ls_cli=$(ANKYRA_STORE="$loc" wall "$ankyra" fleet ls --where 'keystone<29.1.0,region=eu-west' -o json)
    plan_cli=$(ANKYRA_STORE="$loc" wall "$ankyra" fleet set keystone=29.1.0 --where 'keystone<29.1.0,region=eu-west' --waves 1,10%,50%,100% --dry-run -o json)
    rows+=("| $backend $row $ls_cli | $plan_cli | $fill_s |")
done
psql "$pg_plain" -qc "DROP DATABASE IF EXISTS $pg_db" >/dev/null

{
    echo "# Fleet queries on $n recorded clouds ($(date -u +%Y-%m-%d), $(hostname -s), $(nproc) cores)"
    echo
    echo "Each cloud has 3 revisions (labels region, tier; keystone 27.0.2 / 27.1.0 / 29.1.0)."
    echo "In-process times are the best of 5 runs of the ops functions the CLI calls;"
    echo "CLI times are the best of 5 runs of the \`ankyra\` binary (process start,"
    echo "store open and JSON output included). Peak RSS is the measuring process's."
    echo "Goal: under 1 s for 10,000 clouds on both backends."
    echo
    echo "| backend | clouds | selector | selected | fleet ls (ms) | planned | fleet set plan (ms) | peak RSS (MiB) | CLI fleet ls (ms) | CLI fleet set --dry-run (ms) | fill (s) |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
} > "$out/fleet.md"
cat "$out/fleet.md"
