# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Sourced by the tool tests: TAP output (meson runs them with protocol 'tap')
# and the checks they share. The sourcing script sets $tmp to a private
# directory before calling run(), and ends with tap_finish, which prints the
# plan and makes the exit status say whether all passed.
#
# Each test point is one pass, fail or skip line; a chain of checks reports
# one of them, so `run ... && expect_... && pass NAME` is one test point.

failures=0
tests=0

# fail TEXT: a first line names the test; any further lines become comments.
fail() {
        local text="$*"
        tests=$((tests + 1))
        echo "not ok $tests - ${text%%$'\n'*}"
        [ "$text" = "${text#*$'\n'}" ] || printf '%s\n' "${text#*$'\n'}" | sed 's/^/#   /'
        failures=$((failures + 1))
}

pass() {
        tests=$((tests + 1))
        echo "ok $tests - $*"
}

# skip NAME REASON
skip() {
        tests=$((tests + 1))
        echo "ok $tests - $1 # SKIP $2"
}

# skip_all REASON: the whole script cannot run here. Exit 0: under TAP, 77 would be an error.
skip_all() {
        echo "1..0 # SKIP $*"
        exit 0
}

# bail_out REASON: the script cannot go on (its setup failed).
bail_out() {
        echo "Bail out! $*"
        exit 1
}

# run NAME EXPECTED_STATUS COMMAND...: stdout in $tmp/out, stderr in $tmp/err
run() {
        local name=$1 expected=$2 status
        shift 2
        "$@" >"$tmp/out" 2>"$tmp/err"
        status=$?
        if [ "$status" -ne "$expected" ]; then
                fail "$name: exit status $status, expected $expected"
                sed 's/^/#   stderr: /' "$tmp/err"
                return 1
        fi
        return 0
}

# expect_only NAME FILE TEXT: FILE holds exactly TEXT
expect_only() {
        local name=$1 file=$2 line=$3
        if [ "$(cat "$file")" != "$line" ]; then
                fail "$name: expected '$line' in $(basename "$file"), got '$(cat "$file")'"
                return 1
        fi
        return 0
}

expect_grep() {
        local name=$1 file=$2 pattern=$3
        if ! grep -qE -- "$pattern" "$file"; then
                fail "$name: no line matching '$pattern' in $(basename "$file"):"
                sed 's/^/#   /' "$file"
                return 1
        fi
        return 0
}

expect_no_grep() {
        local name=$1 file=$2 pattern=$3
        if grep -qE -- "$pattern" "$file"; then
                fail "$name: unexpected line matching '$pattern' in $(basename "$file"):"
                sed 's/^/#   /' "$file"
                return 1
        fi
        return 0
}

expect_same() {
        local name=$1 a=$2 b=$3
        if ! cmp -s "$a" "$b"; then
                fail "$name: $(basename "$a") and $(basename "$b") differ"
                return 1
        fi
        return 0
}

expect_lines() {
        local name=$1 file=$2 count=$3
        if [ "$(wc -l <"$file")" -ne "$count" ]; then
                fail "$name: expected $count lines in $(basename "$file"):"
                sed 's/^/#   /' "$file"
                return 1
        fi
        return 0
}

expect_empty() {
        local name=$1 file=$2
        if [ -s "$file" ]; then
                fail "$name: $(basename "$file") not empty: $(cat "$file")"
                return 1
        fi
        return 0
}

# The last command of a test script: the plan, and the script's exit status.
tap_finish() {
        echo "1..$tests"
        [ "$failures" -eq 0 ]
}

# stage_as_nobody: user nobody cannot reach a build beneath a private home
# (a clone in a 0700 /root, as on any Debian). Copies the tool and the
# library it links into $tmp/stage (and $daemon, when set) and sets
# $as_nobody (a command prefix that drops to nobody and finds that library),
# $staged_tool and $staged_daemon. $tmp must be traversable by nobody while
# it runs them.
stage_as_nobody() {
        local lib
        mkdir -p "$tmp/stage" && cp "$tool" "$tmp/stage/safe-mmap" || return 1
        if [ -n "${daemon:-}" ]; then
                cp "$daemon" "$tmp/stage/safe-mmapd" || return 1
                staged_daemon=$tmp/stage/safe-mmapd
        fi
        lib=$(ldd "$tool" | awk '$1 ~ /^libsafe-mmap\.so/ { print $3 }')
        if [ -n "$lib" ]; then
                cp -L "$lib" "$tmp/stage/$(basename "$lib")" || return 1
        fi
        chmod -R a+rX "$tmp/stage" || return 1
        as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups env LD_LIBRARY_PATH="$tmp/stage")
        staged_tool=$tmp/stage/safe-mmap
}
