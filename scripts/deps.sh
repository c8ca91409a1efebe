#!/usr/bin/env bash
# Installs the Debian packages Ringmaster needs, only those missing.
# Works as root without sudo, and through sudo otherwise. Never prompts.
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libopenmpi-dev openmpi-bin
      libhwloc-dev hwloc
      libhdf5-openmpi-dev hdf5-tools
      libcunit1-dev libxxhash-dev libzstd-dev
      procps python3
      slurmctld slurmd slurm-client munge)

missing=()
for p in "${pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "deps: missing packages (${missing[*]}) and no sudo; install them as root" >&2
    exit 1
fi

echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq </dev/null
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
