#!/usr/bin/env bash
# Deploys a demo OpenStack cloud (keystone, glance, placement, neutron API,
# nova with real QEMU guests under libvirt, behind HAProxy, on MariaDB, Memcached, RabbitMQ) on
# this machine's Docker Engine, then uses it. Images are built the first time
# (about 15-25 minutes cold on 2 cores), then reused.
#   CLOUD=name scripts/demo.sh       choose the cloud's name (default: demo)
#   ankyra destroy demo --purge     removes it again
# The cloud's record is written beside the store ($ANKYRA_STORE's folder, under
# records/NAME.yaml; the path is printed), so the checkout stays clean.
set -euo pipefail
cd "$(dirname "$0")/.."
cloud="${CLOUD:-demo}"
export ANKYRA_STORE="${ANKYRA_STORE:-$HOME/.local/share/ankyra/store.db}"

scripts/ensure-host-deps.sh
osc="$(scripts/ensure-openstackclient.sh)"
cargo build --release -p ankyra
ankyra=target/release/ankyra

# The record lives beside the store (not in this checkout); a second run keeps the
# record as edited.
records="$(dirname "$ANKYRA_STORE")/records"
record="$records/$cloud.yaml"
mkdir -p "$records"
if [ -f "$record" ]; then
  echo "== using the record already written: $record"
else
  "$ankyra" init --name "$cloud" > "$record"
  echo "== the record: $record"
fi
"$ankyra" validate -f "$record"
"$ankyra" apply -f "$record" -m "demo deploy"
"$ankyra" status "$cloud"

clouds_yaml="$("$ankyra" status "$cloud" -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clouds_yaml"])')"
echo
echo "== the cloud answers:"
OS_CLIENT_CONFIG_FILE="$clouds_yaml" "$osc" --os-cloud "$cloud" token issue -f value -c expires
OS_CLIENT_CONFIG_FILE="$clouds_yaml" "$osc" --os-cloud "$cloud" catalog list -f value -c Name -c Type

# A real guest (QEMU under nova-libvirt) from the image and flavor every libvirt
# cloud offers; kept across runs.
os() { OS_CLIENT_CONFIG_FILE="$clouds_yaml" "$osc" --os-cloud "$cloud" "$@"; }
if os image show ankyra-guest -f value -c id >/dev/null 2>&1; then
  echo
  echo "== a server of the test guest (ankyra-guest, ankyra.tiny):"
  if ! os server show demo-guest -f value -c id >/dev/null 2>&1; then
    os --os-compute-api-version 2.37 server create --image ankyra-guest --flavor ankyra.tiny \
      --nic none --wait demo-guest -f value -c id
  fi
  os server show demo-guest -f value -c status
  for _ in $(seq 1 60); do
    os console log show demo-guest | grep -q 'ANKYRA-GUEST heartbeat' && break
    sleep 2
  done
  echo "== its console:"
  os console log show demo-guest | grep 'ANKYRA-GUEST' | head -n 4
  "$ankyra" status "$cloud" | grep -E 'nova-libvirt|nova-compute'
fi
echo
echo "Use it:  OS_CLIENT_CONFIG_FILE=$clouds_yaml $osc --os-cloud $cloud server list"
echo "Change it: edit $record (a version, a replica count, a config override), then"
echo "           ANKYRA_STORE=$ANKYRA_STORE $ankyra plan -f $record && ANKYRA_STORE=$ANKYRA_STORE $ankyra apply -f $record"
