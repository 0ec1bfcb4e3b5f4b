#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR MIT
#
# test-quickstart.sh SOURCE_ROOT: README.md's Quick start is two commands,
# the demo then the tests, and the second is exactly what CI runs (.ci/run).
# A Quick start that drifts from CI is how CI stays green while a newcomer's
# first try fails. Speaks TAP.
set -u
src=${1:?usage: $0 SOURCE_ROOT}
echo "1..4"
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; shift; printf '# %s\n' "$@"; }

mapfile -t qs < <(awk '/^## Quick start/ { q = 1; next }
                       q && /^```/ { if (f) exit; f = 1; next }
                       f && NF' "$src/README.md")
if [ ${#qs[@]} = 2 ]; then
        ok "the Quick start has two commands"
else
        not_ok "the Quick start has two commands" "found ${#qs[@]}: ${qs[*]}"
fi
if [ "${qs[0]:-}" = tools/demo.sh ] && [ -x "$src/tools/demo.sh" ]; then
        ok "line 1 is the demo"
else
        not_ok "line 1 is the demo" "line 1: '${qs[0]:-}'"
fi
ci=$(sed -n 's/^exec //p' "$src/.ci/run")
if [ -n "$ci" ] && [ "${qs[1]:-}" = "$ci" ]; then
        ok "line 2 is exactly what .ci/run runs"
else
        not_ok "line 2 is exactly what .ci/run runs" "README line 2: '${qs[1]:-}'" ".ci/run: '$ci'"
fi
if [ "$ci" = tools/test.sh ] && [ -x "$src/tools/test.sh" ] &&
   grep -q "^tools/install-deps.sh test" "$src/tools/test.sh" &&
   grep -q "^tools/install-deps.sh build" "$src/tools/demo.sh"; then
        ok "both commands install what they need"
else
        not_ok "both commands install what they need" ".ci/run runs '$ci'"
fi
