#!/usr/bin/env bash
# Deploy benchmark: the wall time of a cold `ankyra apply` (a new cloud from
# `ankyra init`, images already built) beside its critical path: the sum of the
# start-to-healthy times along the longest dependency chain, measured in the
# same run. Writes bench/results/<date>-<host>/deploy.md and deploy.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
out="bench/results/$(date +%Y-%m-%d)-$(hostname -s)"
mkdir -p "$out"
cargo build -q --release -p ankyra
ankyra="$PWD/target/release/ankyra"
work="$(mktemp -d)"
export ANKYRA_STORE="$work/store.db"
cloud="bench-$$"
trap '"$ankyra" destroy "$cloud" --purge >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

"$ankyra" init --name "$cloud" > "$work/$cloud.yaml"
"$ankyra" images build -f "$work/$cloud.yaml" >&2          # not part of the deploy time
"$ankyra" catalog -o json > "$work/catalog.json"
start=$(date +%s.%N)
"$ankyra" apply -f "$work/$cloud.yaml" 2> "$work/progress.log" >&2
end=$(date +%s.%N)

python3 - "$work/progress.log" "$work/catalog.json" "$start" "$end" "$out" <<'PY'
import json, re, sys
log, catalog, start, end, out = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
after = {c["name"]: c["after"] for s in json.load(open(catalog)) for c in s["components"]}
began, took = {}, {}
for line in open(log):
    m = re.match(r"\[\s*([\d.]+)s\] ([\w-]+): (.*)", line)
    if not m:
        continue
    t, who, what = float(m[1]), m[2], m[3]
    if what.endswith("started") and who in after:
        began[who] = t
    d = re.match(r"done in ([\d.]+)s", what)
    if d and who in after:
        took[who] = float(d[1])
# Longest chain: each component's finish = its own time + the latest finish among what it comes after.
finish = {}
def f(c):
    if c not in finish:
        finish[c] = took[c] + max((f(d) for d in after[c] if d in took), default=0.0)
    return finish[c]
critical = max(f(c) for c in took)
chain, c = [], max(took, key=f)
while c:
    chain.append(c)
    deps = [d for d in after[c] if d in took]
    c = max(deps, key=f) if deps else None
wall = end - start
rows = "\n".join(f"| {c} | {began.get(c, 0):.1f} | {took[c]:.1f} |" for c in sorted(took, key=lambda c: began.get(c, 0)))
md = f"""# Cold deploy beside its critical path

Command: `bench/deploy/run.sh`: a new cloud from `ankyra init` (12 components, release 2026.2),
images already built; wall time of `ankyra apply` against the sum of start-to-healthy times
(jobs, start, readiness gate) along the longest dependency chain, both from the same run.

| measure | seconds |
|---|---|
| deploy wall time (`ankyra apply`) | {wall:.1f} |
| critical path ({' → '.join(reversed(chain))}) | {critical:.1f} |
| ratio (goal ≤ 1.3) | {wall / critical:.2f} |

| component | started at (s) | start to healthy (s) |
|---|---|---|
{rows}
"""
open(f"{out}/deploy.md", "w").write(md)
with open(f"{out}/deploy.csv", "w") as fh:
    fh.write("component,started_s,took_s\n" + "".join(f"{c},{began.get(c,0)},{took[c]}\n" for c in took))
print(md)
PY
