#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# safe-mmapd --check-policy DIR: the grants as understood on stdout, status 0
# only when every file and grant was taken; a doubled key, an empty value or
# Path=/ makes it fail and names file:line.
set -u
daemon=${SAFE_MMAPD:-$SAFE_MMAP_BUILD_ROOT/daemon/safe-mmapd}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
mkdir "$tmp/ok" "$tmp/bad" "$tmp/tree"
n=0 failures=0

check() {
        local name=$1 expected=$2 pattern=$3 status
        shift 3
        n=$((n + 1))
        "$daemon" --check-policy "$@" > "$tmp/out" 2>&1
        status=$?
        if [ "$status" = "$expected" ] && grep -q -e "$pattern" "$tmp/out"; then
                echo "ok $n - $name"
        else
                echo "not ok $n - $name (status $status, expected $expected)"
                sed 's/^/# /' "$tmp/out"
                failures=$((failures + 1))
        fi
}

printf '[Grant]\nPath=%s/tree\nUsers=0\nMaxSize=1M\n' "$tmp" > "$tmp/ok/a.conf"
check "a good policy prints its grants" 0 "^a.conf:1: tree $tmp/tree uids=0 max-size=1048576\$" "$tmp/ok"
check "--check-policy=DIR works too" 0 "^1 grant(s), 0 error(s)" "--check-policy=$tmp/ok"

cp "$tmp/ok/a.conf" "$tmp/bad/a.conf"
printf '[Grant]\nPath=%s/tree\nPath=/etc\nUsers=0\n' "$tmp" > "$tmp/bad/b.conf"
check "a doubled key fails with file:line" 1 "b.conf:3: Path= given twice" "$tmp/bad"
printf '[Grant]\nPath=/\nUsers=0\n' > "$tmp/bad/b.conf"
check "Path=/ fails" 1 "b.conf:2: Path=/ would grant" "$tmp/bad"
printf '[Grant]\nPath=%s/tree\nUsers=\n' "$tmp" > "$tmp/bad/b.conf"
check "an empty value fails" 1 "b.conf:3: empty value for Users=" "$tmp/bad"
check "the good file of a bad directory is still printed" 1 "^a.conf:1: tree " "$tmp/bad"

echo "1..$n"
[ "$failures" = 0 ]
