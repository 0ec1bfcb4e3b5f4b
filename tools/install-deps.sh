#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Installs the Debian packages safe-mmap needs to build and test, when one is
# missing. Needs root. Usage: tools/install-deps.sh [build|test]
set -euo pipefail

build_pkgs=(
        gcc libc6-dev pkg-config meson ninja-build  # gcc only recommends libc6-dev
        libsystemd-dev libseccomp-dev libinih-dev  # safe-mmapd
        systemd                                    # systemd-socket-activate, systemd-analyze
)
test_pkgs=(
        check                                      # unit test framework
        clang libclang-rt-14-dev g++ binutils      # sanitizer build, libFuzzer, C++ header test, nm
        groff-base man-db                          # man page checks
        util-linux                                 # runuser, setpriv
)

want=("${build_pkgs[@]}")
if [ "${1:-build}" = test ]; then
        want+=("${test_pkgs[@]}")
        vm_deps="$(dirname "$0")/../tests/vm/deps.sh"
        if [ -x "$vm_deps" ]; then
                mapfile -t vm_pkgs < <("$vm_deps" --list)
                want+=("${vm_pkgs[@]}")
        fi
fi

missing=()
for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
        exit 1
fi
. "$(dirname "$0")/lib.sh"
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp /tmp/safe-mmap-install-deps.XXXXXX.log)
step "apt-get update" "$log" apt-get update
step "apt-get install" "$log" apt-get install -y --no-install-recommends "${missing[@]}"
rm -f "$log"
