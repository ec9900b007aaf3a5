#!/usr/bin/env bash
# Installs python-openstackclient (with the osc-placement plugin) into a venv under
# ${ANKYRA_CACHE:-$HOME/.cache/ankyra}/osc, only when missing, and prints the path of
# its `openstack` binary on stdout. Quick and quiet when already installed, so the
# end-to-end tests and CI can call it every time. Progress goes to stderr.
#
# Pins: OSC_VERSION / OSC_PLACEMENT_VERSION override the versions below.
set -euo pipefail

cache="${ANKYRA_CACHE:-$HOME/.cache/ankyra}"
venv="$cache/osc"
osc_version="${OSC_VERSION:-10.5.0}"
placement_version="${OSC_PLACEMENT_VERSION:-}"
bin="$venv/bin/openstack"
stamp="$venv/.ankyra-osc-$osc_version-${placement_version:-latest}"

# Fast path: installed by this script with these versions and it still runs.
if [ -x "$bin" ] && [ -e "$stamp" ]; then
    echo "$bin"
    exit 0
fi

python="${PYTHON:-}"
if [ -z "$python" ]; then
    for p in python3 python; do
        if command -v "$p" >/dev/null 2>&1; then python="$p"; break; fi
    done
fi
if [ -z "$python" ]; then
    echo "ensure-openstackclient: no python3 found on PATH" >&2
    exit 1
fi

echo "ensure-openstackclient: installing python-openstackclient $osc_version and osc-placement into $venv" >&2
mkdir -p "$cache"
# A half-made venv from an interrupted run is rebuilt from scratch.
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
placement_spec="osc-placement"
[ -n "$placement_version" ] && placement_spec="osc-placement==$placement_version"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "python-openstackclient==$osc_version" "$placement_spec" >&2

# Prove it runs and that the placement plugin is loaded before declaring success.
"$bin" --version >&2
"$bin" help resource provider list >/dev/null 2>&1 || {
    echo "ensure-openstackclient: osc-placement plugin not loaded (no 'resource provider list')" >&2
    exit 1
}
touch "$stamp"
echo "$bin"
