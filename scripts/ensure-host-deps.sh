#!/usr/bin/env bash
# Installs the host tools Ankyra's image builds need (mmdebstrap) and the
# end-to-end tests' small disks need (mkfs.ext4, losetup), only when
# missing: quick and silent when everything is already there, so builds and CI
# can call it every time.
set -euo pipefail

missing=()
command -v mmdebstrap >/dev/null 2>&1 || missing+=(mmdebstrap)
# mmdebstrap --mode=root needs the Debian archive keyring to check the mirror.
[ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || missing+=(debian-archive-keyring)
# The crash test gives MariaDB a small disk of its own (ext4 on a loop device).
command -v mkfs.ext4 >/dev/null 2>&1 || missing+=(e2fsprogs)
command -v losetup >/dev/null 2>&1 || missing+=(mount)
command -v pip3 >/dev/null 2>&1 || command -v pip >/dev/null 2>&1 || missing+=(python3-pip)

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-host-deps: need root to install: ${missing[*]}" >&2
    exit 1
fi

echo "ensure-host-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
