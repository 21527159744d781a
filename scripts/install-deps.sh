#!/usr/bin/env bash
# Installs the Debian 12 packages IrisML builds and runs with (as root, or via sudo).
# Skips apt entirely when everything is already installed.
set -euo pipefail
packages=(build-essential cmake ninja-build pkg-config
          libtorch-dev libopenblas0-pthread
          libopenmpi-dev openmpi-bin libhdf5-openmpi-dev
          libboost-program-options-dev libfmt-dev libgtest-dev libcfitsio-dev zlib1g-dev
          python3-astropy    # reads the exported summary tables in their test (Table.read)
          slurm-wlm munge)   # a live one-node SLURM cluster for the job-script tests
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -q
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
