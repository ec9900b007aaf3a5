#!/usr/bin/env bash
# Image build benchmark: cold and warm build times, image vs venv sizes, and
# the bytes a keystone point release adds. Writes
# bench/results/<date>-<machine>/{images.md,raw.csv,README.md}.
# WARNING: removes every image labelled io.ankyra.role on this engine first
# (other people's too): it refuses unless ANKYRA_BENCH_DESTRUCTIVE=1.
set -euo pipefail
[ "${ANKYRA_BENCH_DESTRUCTIVE:-}" = 1 ] || { echo "run.sh removes all Ankyra images; set ANKYRA_BENCH_DESTRUCTIVE=1" >&2; exit 2; }
cd "$(dirname "$0")/../.."
out="bench/results/$(date +%Y-%m-%d)-$(hostname -s)"
mkdir -p "$out"
scripts/ensure-host-deps.sh
cargo build -q --release -p ankyra-images --example images_bench
start=$(date +%s)
target/release/examples/images_bench "$out"
end=$(date +%s)
{
  echo "# Image build benchmark"
  echo
  echo "Command: \`bench/images/run.sh\` ($((end - start)) s in all). Results: images.md, raw.csv."
  echo
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "- Docker Engine: $(curl -s --unix-socket /var/run/docker.sock http://x/version | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["Version"], "API", v["ApiVersion"])' 2>/dev/null || echo unknown), storage: $(curl -s --unix-socket /var/run/docker.sock http://x/info | python3 -c 'import json,sys; print(json.load(sys.stdin)["Driver"])' 2>/dev/null || echo unknown)"
  echo "- host: $(python3 --version), $(mmdebstrap --version 2>/dev/null | head -1), $(rustc --version)"
  echo "- commit: $(git rev-parse --short HEAD)"
} > "$out/README.md"
echo "wrote $out"
