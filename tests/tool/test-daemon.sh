#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# test-daemon.sh TOOL DAEMON
#
# Runs the safe-mmap tool against a real safe-mmapd listening on a socket of
# its own: status, and snapshots that must come from the daemon and not from
# the local fallback.

set -u

if [ $# -ne 2 ]; then
        echo "usage: $0 TOOL DAEMON" >&2
        exit 1
fi
tool=$(readlink -f "$1")
daemon=$(readlink -f "$2")

# The checks and TAP reporting shared with the other tool tests.
. "$(dirname "$0")/tap.sh" || exit 1

[ -x "$daemon" ] || skip_all "safe-mmapd was not built"

tmp=$(mktemp -d) || exit 1
daemon_pid=
cleanup() {
        if [ -n "$daemon_pid" ]; then
                kill "$daemon_pid" 2>/dev/null
                wait "$daemon_pid" 2>/dev/null
        fi
        rm -rf "$tmp"
}
trap cleanup EXIT

export SAFE_MMAP_SOCKET="$tmp/socket"
mkdir "$tmp/policy.d" "$tmp/granted"
# Files only root may read; user nobody is granted one directory of them.
printf 'granted' >"$tmp/granted/secret"
printf 'denied' >"$tmp/secret"
chmod 0600 "$tmp/granted/secret" "$tmp/secret"
cat >"$tmp/policy.d/test.conf" <<EOF
[Grant]
Path=$tmp/granted
Users=65534
EOF
"$daemon" --listen "$SAFE_MMAP_SOCKET" --policy-dir "$tmp/policy.d" 2>"$tmp/daemon.log" &
daemon_pid=$!

# The socket appears once the daemon listens.
for _ in $(seq 100); do
        [ -S "$SAFE_MMAP_SOCKET" ] && break
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
done
if [ ! -S "$SAFE_MMAP_SOCKET" ]; then
        sed 's/^/# /' "$tmp/daemon.log"
        bail_out "safe-mmapd did not start listening"
fi

head -c 200000 /dev/urandom >"$tmp/random"
printf 'foobar' >"$tmp/foobar"
mkfifo "$tmp/fifo"

run "status" 0 "$tool" status &&
        expect_grep "status" "$tmp/out" "^socket: +$tmp/socket\$" &&
        expect_grep "status" "$tmp/out" '^connections: +[0-9]+$' &&
        expect_grep "status" "$tmp/out" '^served: +[0-9]+$' &&
        expect_grep "status" "$tmp/out" '^bytes held: +[0-9]+ bytes' &&
        expect_grep "status" "$tmp/out" '^cache entries: +[0-9]+$' &&
        expect_grep "status" "$tmp/out" '^uptime: +([0-9]+(d|h|min) )*[0-9]+s$' &&
        pass "status of a running daemon"

run "cat --no-fallback" 0 "$tool" cat --no-fallback "$tmp/random" &&
        if cmp -s "$tmp/out" "$tmp/random"; then
                pass "cat --no-fallback writes the daemon's snapshot of the file"
        else
                fail "cat --no-fallback: output differs from the file"
        fi

run "snapshot --no-fallback" 0 "$tool" snapshot --no-fallback "$tmp/foobar" &&
        expect_grep "snapshot --no-fallback" "$tmp/out" '^  kind: +sealed-memfd$' &&
        expect_grep "snapshot --no-fallback" "$tmp/out" '^  seals: +.*shrink' &&
        expect_grep "snapshot --no-fallback" "$tmp/out" '^  seals: +.*grow' &&
        expect_grep "snapshot --no-fallback" "$tmp/out" '^  seals: +.*[^-]write' &&
        expect_grep "snapshot --no-fallback" "$tmp/out" '^  access: +read-only$' &&
        expect_grep "snapshot --no-fallback" "$tmp/out" '^  file: +/memfd:' &&
        expect_no_grep "snapshot --no-fallback" "$tmp/out" '^  file: +/memfd:safe-mmap-local ' &&
        expect_grep "snapshot --no-fallback" "$tmp/out" '^  fnv1a-64: +85944171f73967e8$' &&
        pass "snapshot --no-fallback shows a sealed, read-only memfd made by the daemon"

# What the daemon says about its snapshot: made by it, under a lease; the
# second time from its cache (it keeps only proven snapshots).
run "snapshot made by the daemon" 0 "$tool" snapshot --no-fallback --require-consistent "$tmp/random" &&
        expect_grep "snapshot made by the daemon" "$tmp/out" '^  made: +by the daemon' &&
        expect_grep "snapshot made by the daemon" "$tmp/out" '^  consistent: +yes, proven one whole version' &&
        pass "snapshot says the daemon made it and proved it consistent"
run "snapshot from the cache" 0 "$tool" snapshot --no-fallback "$tmp/random" &&
        expect_grep "snapshot from the cache" "$tmp/out" '^  made: +by the daemon \(from its cache\)$' &&
        expect_grep "snapshot from the cache" "$tmp/out" '^  consistent: +yes, ' &&
        pass "snapshot says when the daemon served it from its cache"
run "cat --require-consistent" 0 "$tool" cat --no-fallback --require-consistent "$tmp/random" &&
        if cmp -s "$tmp/out" "$tmp/random"; then
                pass "cat --require-consistent through the daemon"
        else
                fail "cat --require-consistent: output differs from the file"
        fi

run "cat directory" 1 "$tool" cat --no-fallback "$tmp" &&
        expect_grep "cat directory" "$tmp/err" "^safe-mmap: $tmp: Is a directory\$" &&
        pass "cat --no-fallback of a directory"

run "cat fifo" 1 timeout 20 "$tool" cat --no-fallback "$tmp/fifo" &&
        expect_grep "cat fifo" "$tmp/err" "^safe-mmap: $tmp/fifo: not a regular file\$" &&
        pass "cat --no-fallback of a FIFO fails without blocking"

# The tool reaches files through the daemon's grants when its own open is denied.
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
        skip "cat through a policy grant" "needs root and setpriv to drop to nobody"
elif ! chmod 0755 "$tmp" || ! stage_as_nobody || ! "${as_nobody[@]}" "$staged_tool" --version >/dev/null 2>&1; then
        skip "cat through a policy grant" "user nobody cannot run the built tool here"
else
        run "cat granted" 0 "${as_nobody[@]}" "$staged_tool" cat --no-fallback "$tmp/granted/secret" &&
                if [ "$(cat "$tmp/out")" = "granted" ]; then
                        pass "cat of a file the caller may not open, through a grant for its uid"
                else
                        fail "cat granted: got '$(cat "$tmp/out")'"
                fi
        run "cat not granted" 1 "${as_nobody[@]}" "$staged_tool" cat "$tmp/secret" &&
                expect_grep "cat not granted" "$tmp/err" "^safe-mmap: $tmp/secret: Permission denied\$" &&
                pass "cat of a file neither the caller nor a grant allows"
        chmod 0700 "$tmp"
fi

run "status served" 0 "$tool" status &&
        expect_grep "status served" "$tmp/out" '^served: +[1-9][0-9]*$' &&
        pass "status counts the snapshots served"

# Once the daemon is gone, status says so. A daemon that does not exit
# within 10 s is a failure of its own, not a reason to hang the suite.
kill "$daemon_pid"
for _ in $(seq 100); do
        kill -0 "$daemon_pid" 2>/dev/null || break
        sleep 0.1
done
if kill -0 "$daemon_pid" 2>/dev/null; then
        kill -KILL "$daemon_pid"
        wait "$daemon_pid"
        fail "safe-mmapd still runs 10 s after SIGTERM (killed)"
else
        wait "$daemon_pid"
        status=$?
        if [ "$status" -eq 0 ]; then
                pass "safe-mmapd exits 0 on SIGTERM"
        else
                fail "safe-mmapd exited with $status on SIGTERM"
                sed 's/^/#   /' "$tmp/daemon.log"
        fi
fi
daemon_pid=

run "status without daemon" 1 "$tool" status &&
        expect_grep "status without daemon" "$tmp/err" "^safe-mmap: no daemon answers at $tmp/socket" &&
        pass "status after the daemon stopped"

run "cat --no-fallback without daemon" 1 "$tool" cat --no-fallback "$tmp/foobar" &&
        expect_grep "cat --no-fallback without daemon" "$tmp/err" "^safe-mmap: $tmp/foobar: no daemon answers at $tmp/socket" &&
        pass "cat --no-fallback after the daemon stopped"

# A failure is logged once, by the function that decides it is fatal: main() does not say it again.
run "start-up failure" 1 "$daemon" --listen "$tmp/missing/socket" --policy-dir "$tmp/policy.d" &&
        grep '^<[0-3]>' "$tmp/err" >"$tmp/errors" &&
        expect_lines "start-up failure" "$tmp/errors" 1 &&
        expect_grep "start-up failure" "$tmp/errors" "^<3>Cannot listen on $tmp/missing/socket: No such file or directory\$" &&
        pass "a daemon that cannot start says why in one line"

tap_finish
