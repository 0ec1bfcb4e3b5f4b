#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The shared library exports exactly the functions its version script lists,
# every one of them at version SAFE_MMAP_1: a symbol leaking out, or a listed
# one missing, changes the ABI without anybody meaning to.
#
# Usage: test-symbols.sh LIBRARY.so VERSION-SCRIPT.sym
set -eu

so=$1
map=$2
version=SAFE_MMAP_1

for tool in "${NM:-nm}" "${READELF:-readelf}"; do
        if ! command -v "$tool" >/dev/null 2>&1; then
                echo "SKIP: $tool not found"
                exit 77
        fi
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The names between "global:" and "local:", one per line.
sed -n '/global:/,/local:/p' "$map" |
        sed -e '/global:/d' -e '/local:/d' -e 's/[[:space:];]//g' -e '/^$/d' |
        sort >"$tmp/listed"

# Defined dynamic symbols, without "@@VERSION" suffixes and without the
# absolute version-definition symbol (type A) itself.
"${NM:-nm}" -D --defined-only "$so" |
        awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' |
        sort -u >"$tmp/exported"

status=0
if [ ! -s "$tmp/listed" ]; then
        echo "FAIL: no global symbols found in $map"
        status=1
fi
leaked=$(comm -13 "$tmp/listed" "$tmp/exported")
missing=$(comm -23 "$tmp/listed" "$tmp/exported")
if [ -n "$leaked" ]; then
        echo "FAIL: exported but not in $map:"
        echo "$leaked" | sed 's/^/        /'
        status=1
fi
if [ -n "$missing" ]; then
        echo "FAIL: listed in $map but not exported:"
        echo "$missing" | sed 's/^/        /'
        status=1
fi

# Every defined symbol in .dynsym must carry the version (readelf prints
# NAME@@VERSION for the default version of a defined symbol).
"${READELF:-readelf}" --dyn-syms -W "$so" |
        awk '$7 != "UND" && $8 != "" && $4 != "SECTION" && $4 != "FILE" && $1 ~ /^[0-9]+:$/ { print $8 }' |
        sort -u >"$tmp/versioned"
wrong=$(grep -v "@@$version\$" "$tmp/versioned" | grep -vx "$version" || true)
if [ -n "$wrong" ]; then
        echo "FAIL: symbols without version $version:"
        echo "$wrong" | sed 's/^/        /'
        status=1
fi
if ! grep -q "@@$version\$" "$tmp/versioned"; then
        echo "FAIL: no symbol carries version $version"
        status=1
fi

if [ "$status" -eq 0 ]; then
        echo "ok: $(wc -l <"$tmp/exported") symbols, all in $map, all at $version"
fi
exit "$status"
