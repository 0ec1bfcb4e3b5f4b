#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# /init of the guest's initramfs: load the modules the Debian kernel keeps
# outside its image, mount the cached root file system (shared read-only
# over 9p) under a tmpfs overlay, copy the payload in and hand over to
# systemd. Everything the guest may change lives in RAM, so the cached tree
# is reused unchanged by every boot.

/bin/busybox --install -s /bin
export PATH=/bin

die() {
        echo "safe-mmap-vm init: $*"
        poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

while read -r ko; do
        insmod "$ko" || die "cannot load $ko"
done < /modules.list

mkdir -p /lower /rw /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose rootfs /lower ||
        die "cannot mount the root file system over 9p"
mount -t tmpfs -o mode=0755 rw /rw && mkdir /rw/upper /rw/work || die "cannot mount tmpfs"
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot ||
        die "cannot mount the overlay"
cp -a /payload/. /newroot/ || die "cannot copy the payload"

echo "safe-mmap-vm init: starting systemd after $(cut -d' ' -f1 /proc/uptime)s"
for m in dev proc sys; do
        mount --move /$m /newroot/$m
done
exec switch_root /newroot /lib/systemd/systemd
