#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Sets up everything and runs every test suite, the way CI does:
#   1. a gcc build with -Werror: all suites;
#   2. a clang build with AddressSanitizer + UBSan (and libFuzzer targets): all
#      suites but vm (the VM boots the installed, unsanitized payload).
# Run from anywhere, as root on a fresh Debian 12 (packages are installed when missing).
# Ends with one line "tests: N passed, N failed, N skipped"; fails when a
# build fails, a test fails, or a build's test log is missing or counts no test.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
. tools/lib.sh
tools/install-deps.sh test || { echo "FAILED: installing the test dependencies" >&2; exit 1; }

export SAFE_MMAP_REQUIRE_VM=${SAFE_MMAP_REQUIRE_VM:-1}
out=${SAFE_MMAP_TEST_DIR:-$src/build-test}
rc=0

run_build() {
        local name=$1; shift
        local dir=$out/$name
        local setup=(setup --wipe)
        [ -d "$dir" ] || setup=(setup)
        rm -f "$out/$name-setup.log" "$out/$name-build.log" "$dir/meson-logs/testlog.json"
        echo "=== $name: configure"
        step "$name: meson setup" "$out/$name-setup.log" \
                meson "${setup[@]}" "$dir" "$src" -Dwerror=true -Dtests=enabled "$@" || return 1
        echo "=== $name: build"
        step "$name: build (ninja)" "$out/$name-build.log" ninja -C "$dir" || return 1
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

# Every libFuzzer target of the sanitizer build fuzzes for a while, from a
# copy of its committed corpus, two at a time: the replay tests only prove
# that the corpus still passes, this looks for what it does not hold yet.
fuzz_seconds=${SAFE_MMAP_FUZZ_SECONDS:-60}
fuzz_results=$out/fuzz-results
: >"$fuzz_results"
fuzz_one() {
        local bin=$1 name corpus work
        name=$(basename "$bin")
        corpus=$(find "$src/tests" -type d -path "*/corpus/$name" | head -n 1)
        work=$out/fuzz/$name
        rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
        [ -z "$corpus" ] || cp -r "$corpus/." "$work/corpus/"
        if "$bin" -max_total_time="$fuzz_seconds" -timeout=10 -rss_limit_mb=2048 \
                -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
                echo "OK $name $(grep -o 'Done [0-9]* runs' "$work/log" | tail -n 1)" >>"$fuzz_results"
        else
                echo "FAIL $name (log: $work/log)" >>"$fuzz_results"
                tail -n 30 "$work/log"
        fi
}
if [ "$fuzz_seconds" -gt 0 ]; then
        mapfile -t fuzzers < <(find "$out/asan/tests" -type f -perm -u+x -name 'fuzz-*' ! -name '*-replay' | sort)
        echo "=== asan: fuzz ${#fuzzers[@]} targets for ${fuzz_seconds}s each"
        for ((i = 0; i < ${#fuzzers[@]}; i += 2)); do
                fuzz_one "${fuzzers[i]}" &
                [ -z "${fuzzers[i + 1]:-}" ] || fuzz_one "${fuzzers[i + 1]}" &
                wait
        done
        cat "$fuzz_results"
        grep -q '^FAIL' "$fuzz_results" && rc=1
fi

# One closing line over both builds, from meson's own logs (and the fuzzing
# above). A missing log or one that counts no test is a failure: a run that
# tested nothing passed nothing.
python3 - "$fuzz_results" "$out/gcc/meson-logs/testlog.json" "$out/asan/meson-logs/testlog.json" <<'PY' || rc=1
import json, sys
count = {"OK": 0, "FAIL": 0, "SKIP": 0}
bad = False
for line in open(sys.argv[1]).read().splitlines():
    count["FAIL" if line.startswith("FAIL") else "OK"] += 1
for path in sys.argv[2:]:
    try:
        lines = [l for l in open(path).read().splitlines() if l.strip()]
    except OSError as e:
        print(f"FAILED: no test log {path}: {e.strerror}", file=sys.stderr)
        bad = True
        continue
    if not lines:
        print(f"FAILED: {path} counts no test", file=sys.stderr)
        bad = True
    for line in lines:
        r = json.loads(line)["result"]
        key = {"OK": "OK", "SKIP": "SKIP", "EXPECTEDFAIL": "OK"}.get(r, "FAIL")
        count[key] += 1
print(f"tests: {count['OK']} passed, {count['FAIL']} failed, {count['SKIP']} skipped")
sys.exit(1 if bad or count["FAIL"] else 0)
PY
exit $rc
