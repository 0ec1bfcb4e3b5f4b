#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# The header's kernel-doc ("Return:" paragraph) and safe-mmap(3) (its RETURN
# VALUE subsection) list the same errno values for every function: the two
# are written by hand, and a caller reads one or the other.
#
# Usage: test-errnos.sh safe-mmap.h safe-mmap.3 (speaks TAP)
set -eu

header=$1
man=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# "function errno" pairs from the header: the text after "Return:" up to the
# end of each /** ... */ block that documents "name() - ...".
awk '
/^\/\*\*/ { inblock = 1; fn = ""; ret = 0; next }
inblock && /^ \*\// { inblock = 0; next }
inblock && fn == "" && match($0, /^ \* [a-z_0-9]+\(\) - /) {
        fn = $0; sub(/^ \* /, "", fn); sub(/\(\).*/, "", fn); next
}
inblock && /Return:/ { ret = 1 }
inblock && ret && fn != "" {
        line = $0
        while (match(line, /-E[A-Z0-9]+/)) {
                print fn, substr(line, RSTART + 1, RLENGTH - 1)
                line = substr(line, RSTART + RLENGTH)
        }
}
' "$header" | sort -u >"$tmp/header"

# The same from the man page: ".SS name()" subsections of RETURN VALUE.
awk '
/^\.SH / { inret = ($0 ~ /^\.SH RETURN VALUE/); fn = ""; next }
inret && /^\.SS / { fn = $2; sub(/\(\).*/, "", fn); next }
inret && fn != "" {
        line = $0
        while (match(line, /\\-E[A-Z0-9]+/)) {
                print fn, substr(line, RSTART + 2, RLENGTH - 2)
                line = substr(line, RSTART + RLENGTH)
        }
}
' "$man" | sort -u >"$tmp/man"

echo "1..3"
if [ -s "$tmp/header" ] && [ -s "$tmp/man" ]; then
        echo "ok 1 - errno lists found for $(cut -d' ' -f1 "$tmp/header" | sort -u | wc -l) functions"
else
        echo "not ok 1 - no errno lists found (header: $(wc -l <"$tmp/header"), man page: $(wc -l <"$tmp/man"))"
        exit 1
fi
status=0
only_header=$(comm -23 "$tmp/header" "$tmp/man")
only_man=$(comm -13 "$tmp/header" "$tmp/man")
if [ -z "$only_header" ]; then
        echo "ok 2 - every errno in $(basename "$header") is in $(basename "$man") ($(wc -l <"$tmp/header") in all)"
else
        echo "not ok 2 - listed in $(basename "$header") but not in $(basename "$man"):"
        echo "$only_header" | sed 's/^/#       /'
        status=1
fi
if [ -z "$only_man" ]; then
        echo "ok 3 - every errno in $(basename "$man") is in $(basename "$header")"
else
        echo "not ok 3 - listed in $(basename "$man") but not in $(basename "$header"):"
        echo "$only_man" | sed 's/^/#       /'
        status=1
fi
exit "$status"
