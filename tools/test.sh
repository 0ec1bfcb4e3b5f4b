#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Sets up everything and runs every test suite, the way CI does:
#   1. a gcc build with -Werror: all suites;
#   2. a clang build with AddressSanitizer + UBSan (and libFuzzer targets): all
#      suites but vm (the VM boots the installed, unsanitized payload).
# Run from anywhere, as root on a fresh Debian 12 (packages are installed when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
tools/install-deps.sh test

export SAFE_MMAP_REQUIRE_VM=${SAFE_MMAP_REQUIRE_VM:-1}
out=${SAFE_MMAP_TEST_DIR:-$src/build-test}
rc=0

run_build() {
        local name=$1; shift
        local dir=$out/$name
        local setup=(setup --wipe)
        [ -d "$dir" ] || setup=(setup)
        echo "=== $name: configure"
        meson "${setup[@]}" "$dir" "$src" -Dwerror=true "$@" >"$out/$name-setup.log" 2>&1 ||
                { cat "$out/$name-setup.log"; return 1; }
        echo "=== $name: build"
        ninja -C "$dir" >"$out/$name-build.log" 2>&1 || { tail -50 "$out/$name-build.log"; return 1; }
}

run_suites() {
        local name=$1; shift
        echo "=== $name: test"
        meson test -C "$out/$name" --print-errorlogs --num-processes 2 "$@"
}

mkdir -p "$out"
run_build gcc || exit 1
run_suites gcc || rc=1

CC=clang run_build asan -Db_sanitize=address,undefined -Db_lundef=false || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
        run_suites asan --no-suite vm || rc=1

# One closing line over both builds, from meson's own logs.
python3 - "$out/gcc/meson-logs/testlog.json" "$out/asan/meson-logs/testlog.json" <<'PY'
import json, sys
count = {"OK": 0, "FAIL": 0, "SKIP": 0}
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        continue
    for line in lines:
        r = json.loads(line)["result"]
        key = {"OK": "OK", "SKIP": "SKIP", "EXPECTEDFAIL": "OK"}.get(r, "FAIL")
        count[key] += 1
print(f"tests: {count['OK']} passed, {count['FAIL']} failed, {count['SKIP']} skipped")
PY
exit $rc
