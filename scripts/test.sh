#!/usr/bin/env bash
# Ankyra's whole test suite: what CI runs (via .ci/run) and what a developer runs.
#   unit, property and snapshot tests of every crate; the record fuzzer for a
#   fixed number of cases; image builds checked on the real Docker Engine; and
#   the end-to-end deploy of a real OpenStack control plane.
# Needs: the Docker Engine (started), root or sudo for apt (mmdebstrap), PyPI
# and Debian mirrors reachable from the host. Cold image builds take a while;
# they are cached (images in the engine, wheels under ~/.cache/ankyra).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { echo "== [$(date -u +%H:%M:%S)] $*" >&2; }

step "host tools (mmdebstrap, python-openstackclient, PostgreSQL)"
scripts/ensure-host-deps.sh
scripts/ensure-openstackclient.sh >/dev/null
# The shared-store backend's suite runs against a real PostgreSQL server (a
# private cluster on 127.0.0.1). Its password stays in its owner-only file:
# the tests get the URL without it and the file's path.
pg=$(scripts/ensure-postgres.sh --plain)
export ANKYRA_TEST_POSTGRES_URL=$(sed -n 1p <<<"$pg") ANKYRA_STORE_PASSWORD_FILE=$(sed -n 2p <<<"$pg")
export ANKYRA_REQUIRE_POSTGRES=1

step "build"
cargo build --workspace --all-targets --features ankyra-e2e/docker

step "unit, property and snapshot tests (the store suite on SQLite and PostgreSQL)"
cargo test --workspace --exclude ankyra-images --exclude ankyra-e2e --features ankyra-store/test-suite

step "record fuzzer: ${ANKYRA_FUZZ_CASES:=20000} cases per strategy"
ANKYRA_FUZZ_CASES=$ANKYRA_FUZZ_CASES cargo test -p ankyra-model --test fuzz_record

step "images: build what the tests need and check each runs (real Docker)"
cargo test -p ankyra-images -- --test-threads=1

e2e() { cargo test -p ankyra-e2e --features docker --test "$1" -- --test-threads=1 --nocapture; }
step "end to end: deploy a cloud and use it with python-openstackclient (real Docker)"
e2e openstack
step "end to end: keystone and placement upgrades and rollbacks under load, failed gates"
e2e upgrade
step "end to end: Grenade-style whole-cloud upgrade, rollback and finalize under load on every API"
e2e grenade
step "end to end: SIGKILL at every step of a keystone upgrade, then recover"
e2e crash
step "end to end: a second Docker Engine over TLS (image copy, files copied in, routing)"
e2e multihost
step "end to end: a fleet of four clouds on two engines: waves, halt, resume, rollback"
e2e fleet
step "end to end: e2e crate's own unit tests"
cargo test -p ankyra-e2e --features docker --lib

step "all tests passed"
