# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# Sourced by the scripts in tools/: one way to run a set-up or build step so
# that its failure is never silent.

# step NAME LOG COMMAND...: runs COMMAND with its output in LOG (appended).
# On failure, says which step failed with its exit status, shows the tail of
# LOG, and returns that status.
step() {
        local name=$1 log=$2 rc=0
        shift 2
        mkdir -p "$(dirname "$log")"
        "$@" >>"$log" 2>&1 || rc=$?
        if [ "$rc" -ne 0 ]; then
                {
                        echo "FAILED: $name (exit status $rc): $*"
                        echo "--- last 40 lines of $log:"
                        tail -n 40 "$log"
                        echo "---"
                } >&2
        fi
        return "$rc"
}
