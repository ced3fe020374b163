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
files=()
while IFS= read -r f; do
  # only what amlsec parses: the golden tests hold deliberately broken input
  "$AMLSEC" fmt - <"$f" >/dev/null 2>&1 && files+=("$f")
done < <(find "$SRC/examples" "$SRC/tests/golden" "$SRC/editors" -name '*.amlsec' | sort)
[ "${#files[@]}" -gt 50 ] || fail "too few parseable .amlsec files found: ${#files[@]}"
"$AMLSEC" fmt - <"$SRC/editors/test/sample.amlsec" >/dev/null || fail "sample.amlsec does not parse"
node "$dir/grammar.js" "$SRC/editors/amlsec.tmLanguage.json" "$SRC/editors/test/sample.amlsec" "${files[@]}"
