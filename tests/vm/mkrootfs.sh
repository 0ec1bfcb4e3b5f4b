#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# mkrootfs.sh DIR: a minimal Debian 12 system with systemd as init, the
# runtime libraries safe-mmapd links against and the tools the guest checks
# call. run.sh caches the result keyed by a hash of this file, so a change
# here (the package list included) builds a new tree.
set -euo pipefail

dir=$1
mirror=${SAFE_MMAP_VM_MIRROR:-http://deb.debian.org/debian}

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
