#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Sets up and runs the main job: builds safe-mmap, starts safe-mmapd on a
# private socket, and has the unprivileged user nobody snapshot files through
# it, showing what was verified. Run as root on Debian 12; installs missing
# packages. Leaves nothing running.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
. tools/lib.sh
tools/install-deps.sh build || { echo "FAILED: installing the build dependencies" >&2; exit 1; }

# The demo needs no test dependencies: its build has no tests.
build=${SAFE_MMAP_DEMO_BUILD:-$src/build-demo}
log=$build.log
: >"$log"
if [ -e "$build/build.ninja" ]; then
        step "meson setup (reconfigure)" "$log" meson setup --reconfigure "$build" "$src" -Dtests=disabled
else
        step "meson setup" "$log" meson setup "$build" "$src" -Dtests=disabled
fi
step "build (ninja)" "$log" ninja -C "$build"

# A private, world-traversable place for the socket, the payload and the
# demo files, so that nobody can reach them wherever this clone lives.
tmp=$(mktemp -d /tmp/safe-mmap-demo.XXXXXX)
daemon_pid=
cleanup() {
        [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
        rm -rf "$tmp"
}
trap cleanup EXIT
chmod 0755 "$tmp"
step "meson install" "$log" meson install -C "$build" --destdir "$tmp/root"
libdir=$(dirname "$(find "$tmp/root" -name 'libsafe-mmap.so.1' | head -1)")
tool=$(find "$tmp/root" -type f -name safe-mmap -perm -u+x | head -1)
daemon=$(find "$tmp/root" -type f -name safe-mmapd -perm -u+x | head -1)
export LD_LIBRARY_PATH=$libdir
export SAFE_MMAP_SOCKET=$tmp/socket

as_nobody() {
        echo "\$ $*" | sed "s|$tool|safe-mmap|g; s|$tmp|\$DEMO|g"
        runuser -u nobody -- env LD_LIBRARY_PATH="$libdir" SAFE_MMAP_SOCKET="$SAFE_MMAP_SOCKET" "$@" 2>&1 |
                sed "s|$tmp|\$DEMO|g"
}

# Demo files: one anybody may read, one only root may read, granted to nobody.
mkdir -p "$tmp/data" "$tmp/granted" "$tmp/policy.d"
printf 'greeting = "hello from a sealed snapshot"\n' >"$tmp/data/app.conf"
chmod 0644 "$tmp/data/app.conf"
head -c 100000 /dev/urandom >"$tmp/granted/secret.bin"
chmod 0700 "$tmp/granted"; chmod 0600 "$tmp/granted/secret.bin"
cat >"$tmp/policy.d/demo.conf" <<CONF
[Grant]
Path=$tmp/granted
Users=nobody
MaxSize=1M
CONF

if [ -z "$daemon" ]; then
        echo "safe-mmapd was not built (missing dependencies?): showing a local snapshot only"
        as_nobody "$tool" snapshot --local "$tmp/data/app.conf"
        exit 0
fi

echo "== starting safe-mmapd on a private socket"
"$daemon" --listen "$tmp/socket" --policy-dir "$tmp/policy.d" 2>"$tmp/daemon.log" &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$tmp/socket" ] && break; sleep 0.05; done
[ -S "$tmp/socket" ] || { cat "$tmp/daemon.log"; exit 1; }

echo
echo "== nobody snapshots a file it can read, through the daemon (no local fallback)"
as_nobody "$tool" snapshot --no-fallback "$tmp/data/app.conf"
as_nobody "$tool" cat --no-fallback "$tmp/data/app.conf"

echo
echo "== nobody cannot open a root-only file, but a policy grant lets the daemon serve it"
as_nobody cat "$tmp/granted/secret.bin" || true
as_nobody "$tool" snapshot --no-fallback "$tmp/granted/secret.bin"

echo
echo "== the same file without a grant is refused"
rm "$tmp/policy.d/demo.conf"; kill -HUP "$daemon_pid"; sleep 0.3
as_nobody "$tool" snapshot --no-fallback "$tmp/granted/secret.bin" || true

echo
echo "== and an ordinary file is not proven immutable"
as_nobody "$tool" check "$tmp/data/app.conf" || true

echo
as_nobody "$tool" status
echo
echo "== daemon log"
sed "s|$tmp|\$DEMO|g" "$tmp/daemon.log"
