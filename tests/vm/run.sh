#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The vm suite: install safe-mmap into a Debian 12 guest and check it there
# with systemd as PID 1 (socket activation, idle exit, journald, policy
# grants) and a kernel with fs-verity, which the build host may lack.
#
#   1. build (or reuse) a cached minimal Debian rootfs (mkrootfs.sh);
#   2. build the project for prefix /usr and `meson install` it into a payload;
#   3. boot Debian's kernel under qemu with the rootfs shared read-only over
#      9p under a tmpfs overlay, the payload copied in, and an ext4 scratch
#      disk made with -O verity;
#   4. driver.sh runs the checks in the guest and prints
#      SAFE-MMAP-VM-RESULT=<rc> on the serial console, which becomes the exit
#      status here: 0 pass, 77 skip, anything else fail.
#
# Environment: SAFE_MMAP_BUILD_ROOT, SAFE_MMAP_SOURCE_ROOT (set by meson);
# SAFE_MMAP_VM_CACHE (default /var/cache/safe-mmap-vm); SAFE_MMAP_VM_TIMEOUT
# (seconds for the guest, default 300); SAFE_MMAP_VM_KERNEL (a version in
# /boot, default the newest with modules); SAFE_MMAP_VM_MIRROR (for
# debootstrap); SAFE_MMAP_VM_DROPIN (a drop-in for safe-mmapd.service in the
# guest); SAFE_MMAP_VM_KEEP=1 keeps the work directory;
# SAFE_MMAP_REQUIRE_VM=1 turns every would-be skip into a failure.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=${SAFE_MMAP_SOURCE_ROOT:-$(cd "$here/../.." && pwd)}
build=${SAFE_MMAP_BUILD_ROOT:-}
cache=${SAFE_MMAP_VM_CACHE:-/var/cache/safe-mmap-vm}
boot_timeout=${SAFE_MMAP_VM_TIMEOUT:-300}

start=$SECONDS
log() {
        printf 'vm [%3ds] %s\n' $((SECONDS - start)) "$*"
}

skip() {
        if [ "${SAFE_MMAP_REQUIRE_VM:-0}" = 1 ]; then
                log "FAIL: cannot run and SAFE_MMAP_REQUIRE_VM=1: $*"
                exit 1
        fi
        log "SKIP: $*"
        exit 77
}

die() {
        log "FAIL: $*"
        exit 1
}

# ---- can this machine run it at all?

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, 9p passthrough of a root-owned tree)"
[ -n "$build" ] || skip "SAFE_MMAP_BUILD_ROOT is not set: run through meson test"
hint="(tests/vm/deps.sh installs the host packages)"
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 cpio gzip modprobe flock cc; do
        command -v "$tool" > /dev/null || skip "$tool not found $hint"
done
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && ! ldd "$busybox" > /dev/null 2>&1 ||
        skip "no statically linked busybox for the initramfs $hint"

# Debian's kernel, not the host's: it has fs-verity and its modules are in /lib/modules.
kver=${SAFE_MMAP_VM_KERNEL:-}
if [ -z "$kver" ]; then
        kver=$(for k in /boot/vmlinuz-*; do
                k=${k#/boot/vmlinuz-}
                [ -e "/lib/modules/$k/modules.dep" ] && echo "$k"
        done | sort -V | tail -n 1)
fi
[ -n "$kver" ] && [ -r "/boot/vmlinuz-$kver" ] ||
        skip "no kernel ${kver:+$kver }in /boot with its modules in /lib/modules $hint"
if [ -r "/boot/config-$kver" ] && ! grep -q '^CONFIG_FS_VERITY=y' "/boot/config-$kver"; then
        skip "kernel $kver is built without CONFIG_FS_VERITY"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/safe-mmap-vm.XXXXXX") || die "mktemp"
cleanup() {
        if [ "${SAFE_MMAP_VM_KEEP:-0}" = 1 ]; then
                log "kept $work"
        else
                rm -rf "$work"
        fi
}
trap cleanup EXIT
# A test runner's timeout ends the guest's whole process group; leave no work directory behind.
qemu_pid=
lock_pid=
stop() {
        [ -z "$qemu_pid" ] || kill "$qemu_pid" 2> /dev/null
        [ -z "$lock_pid" ] || kill "$lock_pid" 2> /dev/null
        exit "$1"
}
trap 'stop 143' TERM
trap 'stop 130' INT
mkdir -p "$cache" || die "cannot create $cache"
# One lock for the cache, one for the machine: a guest gets one of two cores,
# so guests of several builds (whatever their cache) take turns.
exec 8> "$cache/lock"
vm_lock=/run/lock/safe-mmap-vm.lock
[ -d /run/lock ] || vm_lock=$cache/vm.lock
exec 9> "$vm_lock"

# ---- 1. the root file system, cached by the hash of the script that makes it

# wait_lock FD
wait_lock() {
        local t0=$SECONDS
        # flock(1) in the background, so that a signal meanwhile is handled
        # at once; the lock belongs to the open file, shared with this shell.
        flock -w 1200 "$1" &
        lock_pid=$!
        wait "$lock_pid" || die "cannot take the lock on descriptor $1"
        lock_pid=
        [ $((SECONDS - t0)) -lt 2 ] || log "waited $((SECONDS - t0))s for another vm run to finish"
        lock_wait=$((lock_wait + SECONDS - t0))
}
lock_wait=0
key=$(sha256sum < "$here/mkrootfs.sh" | cut -c1-16)
rootfs=$cache/rootfs-$key
wait_lock 8
t=$SECONDS
if [ ! -x "$rootfs/lib/systemd/systemd" ]; then
        log "building the Debian rootfs $rootfs (one time, about a minute)"
        rm -rf "$cache"/rootfs-*.tmp
        if ! "$here/mkrootfs.sh" "$rootfs.tmp" > "$work/rootfs.log" 2>&1; then
                tail -n 30 "$work/rootfs.log"
                rm -rf "$rootfs.tmp"
                die "mkrootfs.sh failed"
        fi
        mv -T "$rootfs.tmp" "$rootfs" || die "cannot rename $rootfs.tmp"
        # Older trees go, but not from under a guest that uses one.
        wait_lock 9
        for old in "$cache"/rootfs-*; do
                [ "$old" = "$rootfs" ] || rm -rf "$old"
        done
        flock -u 9
        log "rootfs built in $((SECONDS - t))s"
else
        log "rootfs cached: $rootfs"
fi
flock -u 8
rootfs_time=$((SECONDS - t))

# ---- 2. the payload: the project as a distribution would install it

t=$SECONDS
failed_steps=()
payload=$work/payload
mkdir -p "$payload"
# A build of its own: the one under test may have another prefix (units
# and the policy directory must land where systemd and the daemon look) or
# sanitizers whose runtime the guest does not have.
usr_build=$build/tests/vm/build-usr
# An explicit libdir: without dpkg-dev, meson cannot ask for Debian's
# multiarch triplet and picks lib64 for prefix /usr, which Debian's loader
# does not search. The compiler knows the triplet either way.
triplet=$(cc -print-multiarch 2> /dev/null)
[ -n "$triplet" ] || triplet=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2> /dev/null)
usr_setup=(--prefix=/usr --libdir="lib${triplet:+/$triplet}" --buildtype=debugoptimized
           -Dtests=disabled -Dwerror=false -Db_sanitize=none)
install_payload() {
        # A build directory set up with other options is made anew.
        if [ ! -e "$usr_build/build.ninja" ] ||
           [ "$(cat "$usr_build/.vm-setup" 2> /dev/null)" != "${usr_setup[*]}" ]; then
                rm -rf "$usr_build"
                meson setup "$usr_build" "$src" "${usr_setup[@]}" >> "$work/build.log" 2>&1 || return 1
                echo "${usr_setup[*]}" > "$usr_build/.vm-setup"
        fi
        meson install -C "$usr_build" --destdir "$payload" >> "$work/build.log" 2>&1
}
# A build directory that a newer meson or a changed tree cannot
# regenerate is made anew, once.
if ! install_payload && [ -e "$usr_build/build.ninja" ]; then
        rm -rf "$usr_build" "$payload"
        mkdir -p "$payload"
        install_payload || failed_steps+=("meson install")
elif [ ! -e "$usr_build/build.ninja" ]; then
        failed_steps+=("meson setup")
fi
if [ ${#failed_steps[@]} -gt 0 ]; then
        tail -n 30 "$work/build.log"
        log "the build for the guest failed (${failed_steps[*]}); booting anyway to show what runs"
fi

# Debian merged /usr: /lib is a symlink in the guest, which copying a
# directory over it would break.
for d in bin sbin lib lib64; do
        if [ -d "$payload/$d" ] && [ ! -L "$payload/$d" ]; then
                mkdir -p "$payload/usr/$d"
                cp -a "$payload/$d/." "$payload/usr/$d/" && rm -rf "${payload:?}/$d"
        fi
done

guestlib=$payload/usr/local/lib/safe-mmap-vm
mkdir -p "$guestlib" "$payload/etc/systemd/system/multi-user.target.wants"
install -m 0755 "$here/driver.sh" "$guestlib/driver.sh"
install -m 0644 "$here/safe-mmap-vm-test.service" "$payload/etc/systemd/system/"
ln -s ../safe-mmap-vm-test.service "$payload/etc/systemd/system/multi-user.target.wants/"

# What `systemctl enable safe-mmapd.socket` does with the unit's [Install].
socket_unit=$(cd "$payload" && find . -name safe-mmapd.socket -path '*/systemd/system/*' | head -n 1)
if [ -n "$socket_unit" ]; then
        wanted_by=$(sed -n 's/^WantedBy=//p' "$payload/$socket_unit" | head -n 1)
        mkdir -p "$payload/etc/systemd/system/${wanted_by:-sockets.target}.wants"
        ln -s "${socket_unit#.}" "$payload/etc/systemd/system/${wanted_by:-sockets.target}.wants/"
else
        log "no safe-mmapd.socket was installed"
fi

# The unit waits a minute before it exits when idle; the guest checks that
# it exits and comes back, so it gets a drop-in with a short --exit-idle
# (the rest of the command stays as installed).
service_unit=$(cd "$payload" && find . -name safe-mmapd.service -path '*/systemd/system/*' | head -n 1)
if [ -n "$service_unit" ]; then
        exec_start=$(sed -n 's/^ExecStart=//p' "$payload/$service_unit" | tail -n 1 |
                sed -E 's/ --exit-idle(=| )[0-9]+//')
        mkdir -p "$payload/etc/systemd/system/safe-mmapd.service.d"
        printf '[Service]\nExecStart=\nExecStart=%s --exit-idle=2\n' "$exec_start" \
                > "$payload/etc/systemd/system/safe-mmapd.service.d/50-vm-exit-idle.conf"
fi
# For trying a change to the unit without rebuilding anything.
if [ -n "${SAFE_MMAP_VM_DROPIN:-}" ]; then
        install -D -m 0644 "$SAFE_MMAP_VM_DROPIN" \
                "$payload/etc/systemd/system/safe-mmapd.service.d/60-vm-extra.conf"
fi

# A program outside the tree, built against the installed header and library.
lib=$(find "$payload" -name 'libsafe-mmap.so' | head -n 1)
if [ -n "$lib" ] && [ -e "$payload/usr/include/safe-mmap.h" ]; then
        cc -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE \
                -I"$payload/usr/include" -I"$src/common" \
                -o "$guestlib/vm-client" "$here/vm-client.c" \
                -L"$(dirname "$lib")" -lsafe-mmap > "$work/vm-client.log" 2>&1 || {
                cat "$work/vm-client.log"
                failed_steps+=("vm-client")
        }
else
        log "libsafe-mmap or its header was not installed: no vm-client"
fi
log "payload: $(du -sh "$payload" | cut -f1) in $((SECONDS - t))s"
build_time=$((SECONDS - t))

# ---- 3. the scratch disk, formatted here (no fs-verity needed on the host)

disk=$work/disk
mkdir -p "$disk"
head -c $((6 * 1024 * 1024 + 4321)) /dev/urandom > "$disk/large.bin"
: > "$disk/empty.bin"
echo "a small file with fs-verity" > "$disk/small.bin"
cp "$disk/large.bin" "$disk/plain.bin"
chmod 0644 "$disk"/*.bin
truncate -s 64M "$work/disk.img"
# 4096-byte blocks: before Linux 6.3 the verity block size must equal the page size.
mkfs.ext4 -q -F -b 4096 -O verity -L safe-mmap-vm -d "$disk" "$work/disk.img" ||
        skip "mkfs.ext4 cannot make a pre-populated ext4 with the verity feature"

# ---- the initramfs: busybox, the kernel's modules, the payload

t=$SECONDS
initrd=$work/initrd
mkdir -p "$initrd"/{bin,dev,proc,sys,payload}
cp "$busybox" "$initrd/bin/busybox"
install -m 0755 "$here/init.sh" "$initrd/init"
cp -a "$payload/." "$initrd/payload/"
: > "$initrd/modules.list"
for m in virtio_pci virtio_blk crc32c_generic ext4 9pnet_virtio 9p overlay; do
        deps=$(modprobe -S "$kver" --show-depends "$m") || skip "kernel $kver has no module $m"
        for ko in $(awk '$1 == "insmod" { print $2 }' <<< "$deps"); do
                grep -qxF "${ko%.[gx]z}" "$initrd/modules.list" && continue
                mkdir -p "$initrd$(dirname "$ko")"
                case $ko in
                *.xz) xz -dc "$ko" > "$initrd${ko%.xz}"; ko=${ko%.xz} ;;
                *.zst) zstd -qdc "$ko" > "$initrd${ko%.zst}"; ko=${ko%.zst} ;;
                *.gz) gzip -dc "$ko" > "$initrd${ko%.gz}"; ko=${ko%.gz} ;;
                *) cp "$ko" "$initrd$ko" ;;
                esac
                echo "$ko" >> "$initrd/modules.list"
        done
done
(cd "$initrd" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz" ||
        die "cannot pack the initramfs"
log "initramfs $(du -h "$work/initrd.gz" | cut -f1) in $((SECONDS - t))s"

# ---- 4. boot, one VM at a time on this machine

t=$SECONDS
wait_lock 9
t=$SECONDS
log "booting $kver (timeout ${boot_timeout}s)"
# TCG, one vCPU: KVM is often unavailable or nested, and a second vCPU
# made boots slower on a busy two-core host.
# In the background, so that a signal to this script (a test runner's
# timeout) is handled at once and stops the guest too: timeout(1) puts
# qemu in a process group of its own, out of reach of the runner.
timeout -k 10 "$boot_timeout" qemu-system-x86_64 \
        -accel tcg -cpu max -smp 1 -m 1024 \
        -nodefaults -no-user-config -display none -no-reboot \
        -serial stdio \
        -kernel "/boot/vmlinuz-$kver" -initrd "$work/initrd.gz" \
        -append "console=ttyS0 panic=-1 quiet loglevel=3 systemd.unit=multi-user.target systemd.show_status=0 systemd.getty_auto=0" \
        -virtfs "local,path=$rootfs,mount_tag=rootfs,security_model=passthrough,readonly=on" \
        -drive "file=$work/disk.img,format=raw,if=virtio,cache=unsafe" \
        < /dev/null > "$work/console.log" 2>&1 &
qemu_pid=$!
tail -n +1 -f --pid="$qemu_pid" "$work/console.log" | tr -d '\r' &
tail_pid=$!
wait "$qemu_pid"
qemu_rc=$?
qemu_pid=
wait "$tail_pid"
flock -u 9
boot_time=$((SECONDS - t))

log "times: rootfs ${rootfs_time}s, payload ${build_time}s, boot and checks ${boot_time}s, waiting ${lock_wait}s, total $((SECONDS - start))s"

# ---- 5. the verdict

[ "$qemu_rc" = 124 ] && die "the guest did not finish within ${boot_timeout}s"
rc=$(tr -d '\r' < "$work/console.log" | sed -n 's/^SAFE-MMAP-VM-RESULT=\([0-9]*\)$/\1/p' | tail -n 1)
[ -n "$rc" ] || die "no result line from the guest (qemu exited with $qemu_rc)"
[ ${#failed_steps[@]} -eq 0 ] || die "the payload build failed: ${failed_steps[*]}"
case $rc in
0) log "PASS"; exit 0 ;;
77) skip "the guest skipped the checks" ;;
*) die "the guest checks failed (result $rc)" ;;
esac
