#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# test-messages.sh TOOL DAEMON
#
# The errors a user meets through the daemon each read as what they are, not
# as the errno's generic text: a used-up budget is not "Disk quota
# exceeded", a path leaving its grant is not "Invalid cross-device link", a
# socket of an untrusted user is not "no daemon answers".

set -u

if [ $# -ne 2 ]; then
        echo "usage: $0 TOOL DAEMON" >&2
        exit 1
fi
tool=$(readlink -f "$1")
daemon=$(readlink -f "$2")
. "$(dirname "$0")/tap.sh" || exit 1

[ -x "$daemon" ] || skip_all "safe-mmapd was not built"
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
        skip_all "needs root and setpriv (a client and a daemon run as nobody)"
fi

tmp=$(mktemp -d) || exit 1
chmod 0755 "$tmp"
pids=()
cleanup() {
        for p in "${pids[@]}"; do
                kill "$p" 2>/dev/null
                wait "$p" 2>/dev/null
        done
        rm -rf "$tmp"
}
trap cleanup EXIT
stage_as_nobody || bail_out "cannot stage the tool and the daemon for nobody in $tmp"

# start_daemon DIR [ARGS...]: a daemon listening on DIR/socket, logging to DIR/log.
start_daemon() {
        local dir=$1
        shift
        "$@" --listen "$dir/socket" --policy-dir "$tmp/policy.d" 2>"$dir/log" &
        pids+=($!)
        for _ in $(seq 100); do
                [ -S "$dir/socket" ] && return 0
                sleep 0.1
        done
        sed 's/^/# /' "$dir/log"
        bail_out "no daemon listening at $dir/socket"
}

# expect NAME PATTERN COMMAND...: fails with status 1 and PATTERN on stderr.
expect() {
        local name=$1 pattern=$2
        shift 2
        "$@" >/dev/null 2>"$tmp/err"
        local status=$?
        if [ "$status" -eq 1 ] && grep -q -e "$pattern" "$tmp/err"; then
                pass "$name"
        else
                fail "$name: status $status"
                sed 's/^/#   stderr: /' "$tmp/err"
        fi
}

mkdir "$tmp/policy.d" "$tmp/granted" "$tmp/quota" "$tmp/nobody"
head -c 65536 /dev/zero >"$tmp/big"
chmod 0644 "$tmp/big"
printf 'root only' >"$tmp/secret"
chmod 0600 "$tmp/secret"
ln -s ../secret "$tmp/granted/escape"
printf '[Grant]\nPath=%s/granted\nUsers=65534\n' "$tmp" >"$tmp/policy.d/granted.conf"

start_daemon "$tmp/quota" "$daemon" --max-bytes-per-uid 4K
expect "over budget" "your snapshot memory at the daemon is used up" \
        env SAFE_MMAP_SOCKET="$tmp/quota/socket" "$tool" cat --no-fallback "$tmp/big"
expect "grant escape" "leaves the policy grant" \
        env SAFE_MMAP_SOCKET="$tmp/quota/socket" "${as_nobody[@]}" "$staged_tool" cat --no-fallback "$tmp/granted/escape"

# A daemon of nobody's: it answers, but root's client must not trust it.
chown 65534:65534 "$tmp/nobody"
start_daemon "$tmp/nobody" "${as_nobody[@]}" "$staged_daemon"
expect "untrusted socket" "belongs to a user other than root or you: not trusted" \
        env SAFE_MMAP_SOCKET="$tmp/nobody/socket" "$tool" cat --no-fallback "$tmp/big"
expect "status: untrusted socket" "^safe-mmap: the daemon socket $tmp/nobody/socket belongs to a user other than root or you: not trusted\$" \
        env SAFE_MMAP_SOCKET="$tmp/nobody/socket" "$tool" status

expect "bad SAFE_MMAP_SIZE_MAX" "SAFE_MMAP_SIZE_MAX=bogus is not a size" \
        env SAFE_MMAP_SIZE_MAX=bogus "$tool" cat "$tmp/big"

tap_finish
