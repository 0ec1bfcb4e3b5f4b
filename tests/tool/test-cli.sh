#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# test-cli.sh TOOL MEMFD_EXEC SAFE-MMAP.1 SAFE-MMAP.3 SAFE-MMAP.H
#
# Runs the built safe-mmap tool against real files, FIFOs and sealed memfds,
# and checks that its --help and safe-mmap(1) name the same commands, options
# and environment variables, and that safe-mmap(3) covers the whole header.

set -u

if [ $# -ne 5 ]; then
        echo "usage: $0 TOOL MEMFD_EXEC SAFE-MMAP.1 SAFE-MMAP.3 SAFE-MMAP.H" >&2
        exit 1
fi
# meson may pass paths relative to the build directory; some tests change directory.
tool=$(readlink -f "$1")
memfd_exec=$(readlink -f "$2")
manpage=$(readlink -f "$3")
manpage3=$(readlink -f "$4")
header=$(readlink -f "$5")

# The checks and TAP reporting shared with the other tool tests.
. "$(dirname "$0")/tap.sh" || exit 1

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# Never reach a daemon that happens to run on this machine: the snapshots
# below are made locally or fail for want of a daemon, on purpose.
export SAFE_MMAP_SOCKET="$tmp/no-daemon"
unset SAFE_MMAP_SIZE_MAX

# --- help, version -----------------------------------------------------------

run "--help" 0 "$tool" --help && expect_grep "--help" "$tmp/out" '^Usage: safe-mmap' &&
        expect_empty "--help" "$tmp/err" && pass "--help"
cp "$tmp/out" "$tmp/help"

run "-h" 0 "$tool" -h && expect_same "-h" "$tmp/out" "$tmp/help" && pass "-h is --help"
run "check --help" 0 "$tool" check --help && expect_same "check --help" "$tmp/out" "$tmp/help" &&
        pass "check --help is --help"

run "--version" 0 "$tool" --version && expect_grep "--version" "$tmp/out" '^safe-mmap [0-9]+\.[0-9]+' &&
        pass "--version"

# --- --help and safe-mmap(1) name the same things -----------------------------

# The manual's roff source, with escapes undone so that \-\-fd reads --fd.
man_text() {
        sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\%//g' -e 's/\\&//g' "$manpage"
}

# Long options, short options and environment variables named in a file.
names_in() {
        grep -oE -- '(^|[^a-zA-Z0-9-])--[a-z][a-z-]*' "$1" | sed 's/^[^-]*//'
        grep -oE -- '(^|[ ,[|])-[a-zA-Z]($|[ ,|])' "$1" | tr -d ' ,[|'
        grep -oE -- 'SAFE_MMAP_[A-Z_]+' "$1"
}

# Commands: the help's "Commands:" section, the manual's COMMANDS tags.
help_commands() {
        sed -n '/^Commands:/,/^$/p' "$tmp/help" | grep -oE '^  [a-z]+' | tr -d ' '
}

man_commands() {
        man_text | awk '/^\.SH /{ in_cmds = ($2 == "COMMANDS") } in_cmds && tag { print $2; tag = 0 } /^\.TP/{ tag = 1 }'
}

man_text >"$tmp/man.txt"
names_in "$tmp/help" | sort -u >"$tmp/help-names"
names_in "$tmp/man.txt" | sort -u >"$tmp/man-names"
help_commands | sort -u >"$tmp/help-cmds"
man_commands | sort -u >"$tmp/man-cmds"
if [ ! -s "$tmp/help-names" ] || [ ! -s "$tmp/help-cmds" ]; then
        fail "help/manual: nothing found in --help (the extraction is broken)"
elif ! diff -u "$tmp/help-names" "$tmp/man-names" >"$tmp/diff"; then
        fail "help/manual: options or environment differ (- only in --help, + only in safe-mmap.1)"
        sed 's/^/#   /' "$tmp/diff"
elif ! diff -u "$tmp/help-cmds" "$tmp/man-cmds" >"$tmp/diff"; then
        fail "help/manual: commands differ (- only in --help, + only in safe-mmap.1)"
        sed 's/^/#   /' "$tmp/diff"
else
        pass "help/manual: same commands ($(tr '\n' ' ' <"$tmp/help-cmds")) and options ($(wc -l <"$tmp/help-names") names)"
fi

# safe-mmap(3) names every function, flag and kind of the public header.
grep -oE 'safe_mmap_[a-z_]+\(|SAFE_MMAP_[A-Z0-9_]+' "$header" | tr -d '(' | grep -v '^SAFE_MMAP_H$' |
        sort -u >"$tmp/api"
sed 's/\\-/-/g' "$manpage3" >"$tmp/man3.txt"
missing=$(while read -r name; do grep -qw -- "$name" "$tmp/man3.txt" || echo "$name"; done <"$tmp/api")
if [ "$(wc -l <"$tmp/api")" -lt 10 ]; then
        fail "safe-mmap.3: found only $(wc -l <"$tmp/api") names in the header (the extraction is broken)"
elif [ -n "$missing" ]; then
        fail "safe-mmap.3 does not mention: $(echo $missing)"
else
        pass "safe-mmap.3 mentions all $(wc -l <"$tmp/api") functions and constants of the header"
fi

# The manuals render without a warning.
for page in "$manpage" "$manpage3"; do
        if ! command -v groff >/dev/null; then
                skip "$(basename "$page"): rendering not checked" "groff is not installed"
        elif groff -man -ww -z "$page" 2>"$tmp/err" && [ ! -s "$tmp/err" ]; then
                pass "$(basename "$page") renders without warnings"
        else
                fail "$(basename "$page") has groff warnings"
                sed 's/^/#   /' "$tmp/err"
        fi
done

# --- usage errors ------------------------------------------------------------

usage() {
        local name=$1
        shift
        run "usage: $name" 2 "$tool" "$@" && expect_grep "usage: $name" "$tmp/err" '^safe-mmap: ' &&
                expect_empty "usage: $name" "$tmp/out" && pass "usage error: $name"
}
usage "no command"
usage "unknown command" frobnicate
usage "unknown global option" --frobnicate
usage "unknown command option" check --frobnicate
usage "unknown short option" cat -x file
usage "check without arguments" check
usage "check --fd without number" check --fd
usage "check --fd not a number" check --fd 3x
usage "check --fd negative" check --fd -1
usage "cat without path" cat
usage "cat --local --no-fallback" cat --local --no-fallback file
usage "cat --populate" cat --populate file
usage "snapshot without path" snapshot --local
usage "snapshot --local --no-fallback" snapshot --no-fallback --local file
usage "status with argument" status extra

# --- cat ---------------------------------------------------------------------

head -c 300000 /dev/urandom >"$tmp/random"
printf 'foobar' >"$tmp/foobar"
: >"$tmp/empty"
printf 'dash\n' >"$tmp/-x"

run "cat --local" 0 "$tool" cat --local "$tmp/random" && expect_same "cat --local" "$tmp/out" "$tmp/random" &&
        expect_empty "cat --local" "$tmp/err" && pass "cat --local writes the file's bytes"

cat "$tmp/foobar" "$tmp/empty" "$tmp/random" >"$tmp/expected"
run "cat several" 0 "$tool" cat --local "$tmp/foobar" "$tmp/empty" "$tmp/random" &&
        expect_same "cat several" "$tmp/out" "$tmp/expected" && pass "cat --local of several files, one empty"

# No daemon answers: the default falls back to a local snapshot.
run "cat fallback" 0 "$tool" cat "$tmp/foobar" && expect_only "cat fallback" "$tmp/out" "foobar" &&
        pass "cat falls back to a local snapshot when no daemon answers"

run "cat --" 0 env -C "$tmp" "$tool" cat --local -- -x && expect_only "cat --" "$tmp/out" "dash" &&
        pass "cat -- takes a path that starts with a dash"

run "cat missing" 1 "$tool" cat --local "$tmp/missing" &&
        expect_only "cat missing" "$tmp/err" "safe-mmap: $tmp/missing: No such file or directory" &&
        expect_empty "cat missing" "$tmp/out" && pass "cat of a missing file"

run "cat missing and present" 1 "$tool" cat --local "$tmp/missing" "$tmp/foobar" &&
        expect_only "cat missing and present" "$tmp/out" "foobar" &&
        pass "cat goes on after a failed file and exits 1"

run "cat directory" 1 "$tool" cat --local "$tmp" &&
        expect_only "cat directory" "$tmp/err" "safe-mmap: $tmp: Is a directory" && pass "cat of a directory"

mkfifo "$tmp/fifo"
run "cat fifo" 1 timeout 20 "$tool" cat --local "$tmp/fifo" &&
        expect_only "cat fifo" "$tmp/err" "safe-mmap: $tmp/fifo: not a regular file" &&
        pass "cat of a FIFO fails without blocking"

run "cat --no-fallback" 1 "$tool" cat --no-fallback "$tmp/foobar" &&
        expect_grep "cat --no-fallback" "$tmp/err" "^safe-mmap: $tmp/foobar: no daemon answers at $tmp/no-daemon" &&
        expect_empty "cat --no-fallback" "$tmp/out" && pass "cat --no-fallback without a daemon"
run "cat --no-fallback missing" 1 "$tool" cat --no-fallback "$tmp/missing" &&
        expect_only "cat --no-fallback missing" "$tmp/err" "safe-mmap: $tmp/missing: No such file or directory" &&
        pass "cat --no-fallback of a missing file blames the file, not the daemon"

SAFE_MMAP_SIZE_MAX=100 run "cat size limit" 1 "$tool" cat --local "$tmp/random" &&
        expect_only "cat size limit" "$tmp/err" \
                "safe-mmap: $tmp/random: file larger than the snapshot size limit" &&
        pass "cat --local over SAFE_MMAP_SIZE_MAX"

# A reader that goes away is no error: no message, exit 0.
head -c 20000000 /dev/zero >"$tmp/big"
"$tool" cat --local "$tmp/big" 2>"$tmp/err" | head -c 10 >/dev/null
status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ] && [ ! -s "$tmp/err" ]; then
        pass "cat into a closed pipe stops quietly"
else
        fail "cat into a closed pipe: exit status $status, stderr '$(cat "$tmp/err")'"
fi

# A file the caller may not read: as user nobody, with no daemon to ask.
printf 'secret' >"$tmp/secret"
chmod 0600 "$tmp/secret"
if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
        skip "cat of an unreadable file" "needs root and setpriv to drop to nobody"
elif ! chmod 0755 "$tmp" || ! stage_as_nobody || ! "${as_nobody[@]}" "$staged_tool" --version >/dev/null 2>&1; then
        skip "cat of an unreadable file" "user nobody cannot run the built tool here"
else
        run "cat unreadable" 1 "${as_nobody[@]}" "$staged_tool" cat "$tmp/secret" &&
                expect_only "cat unreadable" "$tmp/err" "safe-mmap: $tmp/secret: Permission denied" &&
                expect_empty "cat unreadable" "$tmp/out" &&
                pass "cat of a file the caller may not read, without a daemon to ask"
        run "check unreadable" 1 "${as_nobody[@]}" "$staged_tool" check "$tmp/secret" &&
                expect_only "check unreadable" "$tmp/err" \
                        "safe-mmap: $tmp/secret: not proven immutable (permission denied)" &&
                pass "check of a file the caller may not read"
fi
chmod 0700 "$tmp"

# --- check -------------------------------------------------------------------

run "check regular file" 1 "$tool" check "$tmp/foobar" &&
        expect_only "check regular file" "$tmp/err" \
                "safe-mmap: $tmp/foobar: not proven immutable (not a sealed memfd or fs-verity file)" &&
        expect_empty "check regular file" "$tmp/out" && pass "check of a regular file"

run "check missing" 1 "$tool" check "$tmp/missing" &&
        expect_only "check missing" "$tmp/err" \
                "safe-mmap: $tmp/missing: not proven immutable (no such file or directory)" &&
        pass "check of a missing file"

run "check fifo" 1 timeout 20 "$tool" check "$tmp/fifo" &&
        expect_grep "check fifo" "$tmp/err" "^safe-mmap: $tmp/fifo: not proven immutable \(not a regular file" &&
        pass "check of a FIFO fails without blocking"

run "check sealed memfd" 0 "$memfd_exec" seal,shrink,grow,write foobar 3 "$tool" check --fd 3 &&
        expect_only "check sealed memfd" "$tmp/out" "fd 3: sealed-memfd, 6 bytes" &&
        expect_empty "check sealed memfd" "$tmp/err" && pass "check --fd of an inherited sealed memfd"

run "check -v" 0 "$memfd_exec" seal,shrink,grow,write foobar 5 "$tool" check -v --fd 5 &&
        expect_only "check -v" "$tmp/out" "fd 5: sealed-memfd, 6 bytes, seals: seal,shrink,grow,write" &&
        pass "check --verbose names the seals"

run "check lacking seals" 1 "$memfd_exec" seal,shrink foobar 3 "$tool" check --fd 3 &&
        expect_only "check lacking seals" "$tmp/err" \
                "safe-mmap: fd 3: not proven immutable (memfd lacks seals: grow,write)" &&
        pass "check --fd of a memfd lacking seals names them"

run "check future-write" 1 "$memfd_exec" shrink,grow,future-write foobar 3 "$tool" check --fd 3 &&
        expect_only "check future-write" "$tmp/err" \
                "safe-mmap: fd 3: not proven immutable (memfd lacks seals: write)" &&
        pass "check: future-write is not write"

run "check unsealed" 1 "$memfd_exec" none foobar 3 "$tool" check --fd 3 &&
        expect_only "check unsealed" "$tmp/err" \
                "safe-mmap: fd 3: not proven immutable (memfd lacks seals: shrink,grow,write)" &&
        pass "check --fd of an unsealed memfd"

run "check -v lacking seals" 1 "$memfd_exec" seal,shrink foobar 3 "$tool" check --verbose --fd 3 &&
        expect_grep "check -v lacking seals" "$tmp/err" '^safe-mmap: fd 3: not proven immutable \(memfd lacks seals: grow,write\)$' &&
        expect_grep "check -v lacking seals" "$tmp/err" '^safe-mmap: fd 3: seals found: seal,shrink$' &&
        pass "check --verbose names the seals found on a memfd it refuses"

# Opening /proc/self/fd/N reopens the memfd itself: the seals travel with it.
run "check /proc/self/fd" 0 "$memfd_exec" seal,shrink,grow,write foobar 4 "$tool" check /proc/self/fd/4 &&
        expect_only "check /proc/self/fd" "$tmp/out" "/proc/self/fd/4: sealed-memfd, 6 bytes" &&
        pass "check of a sealed memfd by its /proc path"

run "check closed fd" 1 "$tool" check --fd 9 9<&- &&
        expect_only "check closed fd" "$tmp/err" "safe-mmap: fd 9: not proven immutable (bad file descriptor)" &&
        pass "check --fd of a closed descriptor"

run "check write-only fd" 1 "$tool" check --fd 9 9>"$tmp/w" &&
        expect_only "check write-only fd" "$tmp/err" "safe-mmap: fd 9: not proven immutable (write-only descriptor)" &&
        pass "check --fd of a write-only descriptor"

# Paths and descriptors are reported in the order given; one failure makes the exit status 1.
run "check mixed" 1 "$memfd_exec" seal,shrink,grow,write foobar 3 "$tool" check "$tmp/foobar" --fd 3 "$tmp/missing" &&
        expect_only "check mixed" "$tmp/out" "fd 3: sealed-memfd, 6 bytes" &&
        expect_grep "check mixed" "$tmp/err" "^safe-mmap: $tmp/foobar: not proven" &&
        expect_grep "check mixed" "$tmp/err" "^safe-mmap: $tmp/missing: not proven" &&
        expect_lines "check mixed" "$tmp/err" 2 && pass "check of several arguments"

# --- snapshot ----------------------------------------------------------------

run "snapshot --local" 0 "$tool" snapshot --local "$tmp/foobar" && {
        ok=1
        expect_grep "snapshot --local" "$tmp/out" "^$tmp/foobar:\$" || ok=0
        expect_grep "snapshot --local" "$tmp/out" '^  kind: +sealed-memfd$' || ok=0
        expect_grep "snapshot --local" "$tmp/out" '^  size: +6 bytes$' || ok=0
        for seal in shrink grow write; do
                expect_grep "snapshot --local" "$tmp/out" "^  seals: +([a-z-]+,)*$seal(,|\$)" || ok=0
        done
        expect_grep "snapshot --local" "$tmp/out" '^  access: +read-only$' || ok=0
        expect_grep "snapshot --local" "$tmp/out" '^  filesystem: +tmpfs$' || ok=0
        expect_grep "snapshot --local" "$tmp/out" '^  file: +/memfd:' || ok=0
        expect_grep "snapshot --local" "$tmp/out" '^  mapping: +r--p ' || ok=0
        expect_grep "snapshot --local" "$tmp/out" '^  made: +here, without the daemon$' || ok=0
        expect_grep "snapshot --local" "$tmp/out" '^  consistent: +not proven ' || ok=0
        # FNV-1a 64 of "foobar", the published test vector.
        expect_grep "snapshot --local" "$tmp/out" '^  fnv1a-64: +85944171f73967e8$' || ok=0
        [ $ok -eq 1 ] && pass "snapshot --local shows the seals, access, file system and digest"
}

# People compare this output by eye across runs: it must not change.
"$tool" snapshot --local "$tmp/foobar" >"$tmp/snap1" 2>&1
run "snapshot stable" 0 "$tool" snapshot --local "$tmp/foobar" && expect_same "snapshot stable" "$tmp/out" "$tmp/snap1" &&
        pass "snapshot prints the same for the same file"

run "snapshot --populate" 0 "$tool" snapshot --local --populate "$tmp/empty" "$tmp/foobar" &&
        expect_grep "snapshot --populate" "$tmp/out" '^  mapping: +none \(empty file\)$' &&
        expect_grep "snapshot --populate" "$tmp/out" '^  fnv1a-64: +cbf29ce484222325$' &&
        expect_grep "snapshot --populate" "$tmp/out" '^  fnv1a-64: +85944171f73967e8$' &&
        pass "snapshot --populate of an empty and a full file"

run "snapshot --require-consistent" 0 "$tool" snapshot --local --require-consistent "$tmp/foobar" &&
        expect_grep "snapshot --require-consistent" "$tmp/out" '^  made: +here, without the daemon$' &&
        expect_grep "snapshot --require-consistent" "$tmp/out" '^  consistent: +yes, proven one whole version' &&
        pass "snapshot --require-consistent shows a local snapshot proven consistent"

# A sealed memfd is mapped as it is: no copy, and no daemon asked (none answers, --no-fallback).
run "snapshot as given" 0 "$memfd_exec" seal,shrink,grow,write foobar 3 \
        "$tool" snapshot --no-fallback --require-consistent /proc/self/fd/3 &&
        expect_grep "snapshot as given" "$tmp/out" '^  made: +not copied: the file itself, already immutable$' &&
        expect_grep "snapshot as given" "$tmp/out" '^  consistent: +yes, ' &&
        expect_grep "snapshot as given" "$tmp/out" '^  access: +read-only$' &&
        expect_grep "snapshot as given" "$tmp/out" '^  fnv1a-64: +85944171f73967e8$' &&
        pass "snapshot of a sealed memfd maps it as given, without the daemon"

# Somebody holds the file open for writing: nothing can prove a whole version.
exec 7>>"$tmp/foobar"
run "cat --require-consistent writer" 1 "$tool" cat --require-consistent "$tmp/foobar" &&
        expect_only "cat --require-consistent writer" "$tmp/err" \
                "safe-mmap: $tmp/foobar: not proven to be one whole version of the file" &&
        expect_empty "cat --require-consistent writer" "$tmp/out" &&
        pass "cat --require-consistent refuses a file open for writing"
exec 7>&-
run "cat --require-consistent" 0 "$tool" cat --require-consistent "$tmp/foobar" &&
        expect_only "cat --require-consistent" "$tmp/out" "foobar" &&
        pass "cat --require-consistent of a file nobody writes"

# --- check --digest ----------------------------------------------------------

zeros=0000000000000000000000000000000000000000000000000000000000000000
run "check --digest memfd" 1 "$memfd_exec" seal,shrink,grow,write foobar 3 \
        "$tool" check --digest "sha256:$zeros" --fd 3 &&
        expect_only "check --digest memfd" "$tmp/err" "safe-mmap: fd 3: not an fs-verity file, it has no digest" &&
        expect_empty "check --digest memfd" "$tmp/out" &&
        pass "check --digest of a sealed memfd: no digest"
run "check --digest plain" 1 "$tool" check --digest "$zeros" "$tmp/foobar" &&
        expect_only "check --digest plain" "$tmp/err" \
                "safe-mmap: $tmp/foobar: not proven immutable (not a sealed memfd or fs-verity file)" &&
        pass "check --digest of an ordinary file: not proven"
for bad in abc "sha512:$zeros" "sha256:${zeros}00" "md5:$zeros" "${zeros%0}g"; do
        run "check --digest '$bad'" 2 "$tool" check --digest "$bad" "$tmp/foobar" &&
                expect_grep "check --digest '$bad'" "$tmp/err" "^safe-mmap: check: invalid digest" &&
                pass "check --digest '$bad' is a usage error"
done

run "snapshot missing" 1 "$tool" snapshot --local "$tmp/missing" &&
        expect_only "snapshot missing" "$tmp/err" "safe-mmap: $tmp/missing: No such file or directory" &&
        pass "snapshot of a missing file"

# --- status ------------------------------------------------------------------

run "status without daemon" 1 "$tool" status &&
        expect_only "status without daemon" "$tmp/err" \
                "safe-mmap: no daemon answers at $tmp/no-daemon: No such file or directory" &&
        expect_empty "status without daemon" "$tmp/out" && pass "status without a daemon"

tap_finish
