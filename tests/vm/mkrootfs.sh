#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# mkrootfs.sh DIR: a minimal Debian 12 system with systemd as init, the
# runtime libraries safe-mmapd links against and the tools the guest checks
# call. run.sh caches the result keyed by a hash of this file, so a change
# here (the package list included) builds a new tree.
set -euo pipefail

dir=$1
# The mirror this host's apt already uses (its first non-security entry, in
# deb822 or one-line form), unless SAFE_MMAP_VM_MIRROR names another.
host_mirror() {
        {
                grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2> /dev/null | awk '{ print $2 }'
                cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2> /dev/null |
                        awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { print $i; break } }'
        } 2> /dev/null | grep -v security | head -n 1 || true
}
mirror=${SAFE_MMAP_VM_MIRROR:-$(host_mirror)}
if [ -z "$mirror" ]; then
        echo "mkrootfs.sh: no Debian mirror in this host's apt sources; set SAFE_MMAP_VM_MIRROR" >&2
        exit 1
fi

packages=(
        systemd systemd-sysv libsystemd0 libseccomp2 libinih1
        fsverity util-linux
)

include=$(IFS=,; echo "${packages[*]}")
debootstrap --variant=minbase --include="$include" bookworm "$dir" "$mirror"

# The unprivileged client of the checks.
chroot "$dir" useradd --create-home --uid 1000 --user-group --shell /bin/bash tester
echo safe-mmap-vm > "$dir/etc/hostname"

# A fixed machine id: without one, systemd treats every boot as the first
# and queues systemd-firstboot, which prompts on the console.
tr -d - < /proc/sys/kernel/random/uuid > "$dir/etc/machine-id"

# The tree is shared read-only into every guest: keep it small.
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
