#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The shared library exports exactly the functions listed below, each at the
# version node it was released in, and its version script says the same: a
# symbol leaking out, a listed one missing, or one moving to another node
# changes the ABI without anybody meaning to (a binary linked against 1.0
# looks its functions up as NAME@SAFE_MMAP_1).
#
# Usage: test-symbols.sh LIBRARY.so VERSION-SCRIPT.sym (speaks TAP)
set -eu

so=$1
map=$2

# The ABI, by release. Never edit a released list; add the next one.
expected() {
        for f in check_fd map_fd map_fd_unsafe snapshot_fd snapshot data size kind fd free; do
                echo "safe_mmap_$f SAFE_MMAP_1"
        done
        for f in flags map_fd_range map_fd_verity verity_digest seal_bytes; do
                echo "safe_mmap_$f SAFE_MMAP_1.1"
        done
}

# TAP: exit 0 on a skip, as meson's TAP protocol counts 77 as an error.
if ! command -v "${READELF:-readelf}" >/dev/null 2>&1; then
        echo "1..0 # SKIP ${READELF:-readelf} not found"
        exit 0
fi
echo "1..3"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

expected | sort >"$tmp/expected"

# "name node" from the version script: each "NODE {" opens a node, names
# between "global:" and "local:" or "}" belong to it.
awk '
/^[A-Z_0-9.]+ *\{/ { node = $1; sub(/\{.*/, "", node); global = 0; next }
/global:/ { global = 1; next }
/local:/ || /\}/ { global = 0; next }
global { gsub(/[[:space:];]/, ""); if ($0 != "") print $0, node }
' "$map" | sort >"$tmp/listed"

# "name node" from .dynsym: every defined symbol, as readelf prints it
# (NAME@@NODE for the default version, NAME@NODE for an older one), without
# the absolute symbols that name the nodes themselves.
"${READELF:-readelf}" --dyn-syms -W "$so" |
        awk '$7 != "UND" && $8 != "" && $4 != "SECTION" && $4 != "FILE" && $1 ~ /^[0-9]+:$/ &&
             !($7 == "ABS" && $8 ~ /^SAFE_MMAP_[0-9.]+$/) { print $8 }' |
        awk '{ n = index($0, "@"); if (n == 0) { print $0, "UNVERSIONED"; next }
               name = substr($0, 1, n - 1); node = substr($0, n + 1); sub(/^@/, "", node)
               if (name != node) print name, node }' | sort >"$tmp/exported"

status=0
n=0
for what in listed exported; do
        n=$((n + 1))
        if cmp -s "$tmp/expected" "$tmp/$what"; then
                echo "ok $n - the $what symbols are exactly the ABI ($(wc -l <"$tmp/$what"), each at its node)"
        else
                echo "not ok $n - the $what symbols differ from the ABI (< ABI, > $what):"
                diff "$tmp/expected" "$tmp/$what" | grep '^[<>]' | sed 's/^/#       /' || true
                status=1
        fi
done

# Only the two nodes are defined, and 1.1 inherits 1.0.
"${READELF:-readelf}" -V -W "$so" >"$tmp/versions"
if grep -Eq 'Name: SAFE_MMAP_1\.1$' "$tmp/versions" &&
   awk '/Name: SAFE_MMAP_1\.1$/ { getline; if ($0 ~ /Parent 1: SAFE_MMAP_1$/) found = 1 } END { exit !found }' "$tmp/versions"; then
        echo "ok 3 - SAFE_MMAP_1.1 is defined with parent SAFE_MMAP_1"
else
        echo "not ok 3 - SAFE_MMAP_1.1 is not defined with parent SAFE_MMAP_1:"
        sed -n '/Version definition/,/Version needs/p' "$tmp/versions" | sed 's/^/#       /'
        status=1
fi
sed 's/^/#       /' "$tmp/exported"
exit "$status"
