#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Builds a release tree and runs the benchmarks of the "bench" suite: every
# performance goal as a ratio against a baseline of the same run, printed as
# a table (bench-snapshot) after the memfd fill methods (bench-copy).
#   tools/bench.sh [--quick] [--json PATH] [--only LIST]
#     --quick      smaller files, shorter rates, 200 clients instead of 1,000
#     --json PATH  also write bench-snapshot's numbers as JSON
#     --only LIST  only these goals of bench-snapshot, e.g. P1,P5
# BUILD_DIR (default build-rel in the source tree) is the release tree; it
# is set up when missing. Nothing is asserted: read the ratios.
set -euo pipefail

while [ $# -gt 0 ]; do
        case $1 in
        --quick) export SAFE_MMAP_BENCH_QUICK=1 ;;
        --json)
                [ $# -ge 2 ] || { echo "--json needs a path" >&2; exit 2; }
                # meson test runs the benchmark in another directory.
                case $2 in
                /*) export SAFE_MMAP_BENCH_JSON=$2 ;;
                *) export SAFE_MMAP_BENCH_JSON=$PWD/$2 ;;
                esac
                shift ;;
        --only)
                [ $# -ge 2 ] || { echo "--only needs a list" >&2; exit 2; }
                export SAFE_MMAP_BENCH_ONLY=$2
                shift ;;
        -h|--help) sed -n '4,12s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1" >&2; exit 2 ;;
        esac
        shift
done

cd "$(dirname "$0")/.."
src=$PWD
build=${BUILD_DIR:-$src/build-rel}
[ -d "$build" ] || meson setup "$build" "$src" --buildtype=release >/dev/null
ninja -C "$build" >/dev/null
exec meson test -C "$build" --benchmark --suite bench --verbose --num-processes 1
