#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# deps.sh [--list]: the Debian packages the host needs for the vm suite.
# With --list, prints them one per line; without, installs the missing ones
# (as root). The guest's own packages come from mkrootfs.sh.
set -euo pipefail

packages=(
        qemu-system-x86   # the machine, TCG is enough
        linux-image-amd64 # the guest kernel: Debian builds it with CONFIG_FS_VERITY=y
        busybox-static    # the initramfs
        cpio
        kmod              # modprobe --show-depends for the initramfs
        debootstrap       # the guest's root file system
        debian-archive-keyring
        e2fsprogs         # mkfs.ext4 -O verity -d for the scratch disk
)

if [ "${1:-}" = --list ]; then
        printf '%s\n' "${packages[@]}"
        exit 0
fi

missing=()
for p in "${packages[@]}"; do
        status=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
        [ "$status" = installed ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
        echo "deps.sh: missing ${missing[*]}; run as root to install them" >&2
        exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
