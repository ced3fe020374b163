#!/usr/bin/env bash
# The TextMate grammar (editors/amlsec.tmLanguage.json) tokenized by
# vscode-textmate: every .amlsec file in the repository that amlsec itself
# parses ends with the grammar back at the top level, and each construct of
# editors/test/sample.amlsec gets its scope. The packages are installed once
# per source tree (tests/tools/npm_install.sh) and found through NODE_PATH.
set -euo pipefail
: "${AMLSEC:?}" "${SRC:?}" "${BUILD:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
dir="$SRC/editors/test"
mods=$("$SRC/tests/tools/npm_install.sh" editors-test "$dir") || fail "npm ci failed"
export NODE_PATH="$mods/node_modules"
# only what amlsec parses: the golden tests hold deliberately broken input. One fmt -check over
# them all (one process, not 381: under ASan each start costs ~0.1 s of CPU) names each file
# that does not parse in its diagnostics (FILE:LINE:COL: error: ...); any other error (a file
# it cannot read) fails the test.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mapfile -t all < <(find "$SRC/examples" "$SRC/tests/golden" "$SRC/editors" -name '*.amlsec' | sort)
rc=0
"$AMLSEC" fmt -check -write=false -no-color "${all[@]}" >/dev/null 2>"$tmp/fmt.err" || rc=$?
[ "$rc" -le 1 ] || fail "fmt -check exited $rc: $(head -3 "$tmp/fmt.err")"
other=$(grep -a '^amlsec: ' "$tmp/fmt.err" | grep -av '^amlsec: stopped after [0-9]* errors$' \
  || true)
[ -z "$other" ] || fail "fmt -check: $other"
declare -A broken=()
while IFS= read -r f; do broken[$f]=1; done \
  < <(grep -aoE '^[^:]+\.amlsec:[0-9]+:[0-9]+: error:' "$tmp/fmt.err" \
    | sed -E 's/:[0-9]+:[0-9]+: error:$//')
[ "${#broken[@]}" -gt 0 ] || fail "fmt -check found no broken file among the golden inputs"
files=()
for f in "${all[@]}"; do [ -n "${broken[$f]:-}" ] || files+=("$f"); done
[ "${#files[@]}" -gt 50 ] || fail "too few parseable .amlsec files found: ${#files[@]}"
"$AMLSEC" fmt - <"$SRC/editors/test/sample.amlsec" >/dev/null || fail "sample.amlsec does not parse"
node "$dir/grammar.js" "$SRC/editors/amlsec.tmLanguage.json" "$SRC/editors/test/sample.amlsec" "${files[@]}"
