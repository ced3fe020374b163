#!/usr/bin/env bash
# The TextMate grammar (editors/amlsec.tmLanguage.json) tokenized by
# vscode-textmate: every .amlsec file in the repository that amlsec itself
# parses ends with the grammar back at the top level, and each construct of
# editors/test/sample.amlsec gets its scope. npm ci runs into the build tree
# and is skipped while the lock file is unchanged.
set -euo pipefail
: "${AMLSEC:?}" "${SRC:?}" "${BUILD:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
dir="$BUILD/editors-test"
mkdir -p "$dir"
cp "$SRC/editors/test/package.json" "$SRC/editors/test/package-lock.json" "$SRC/editors/test/grammar.js" "$dir/"
stamp=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ ! -d "$dir/node_modules" ] || [ "$(cat "$dir/.npm-stamp" 2>/dev/null)" != "$stamp" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci failed"
  echo "$stamp" >"$dir/.npm-stamp"
fi
files=()
while IFS= read -r f; do
  # only what amlsec parses: the golden tests hold deliberately broken input
  "$AMLSEC" fmt - <"$f" >/dev/null 2>&1 && files+=("$f")
done < <(find "$SRC/examples" "$SRC/tests/golden" "$SRC/editors" -name '*.amlsec' | sort)
[ "${#files[@]}" -gt 50 ] || fail "too few parseable .amlsec files found: ${#files[@]}"
"$AMLSEC" fmt - <"$SRC/editors/test/sample.amlsec" >/dev/null || fail "sample.amlsec does not parse"
node "$dir/grammar.js" "$SRC/editors/amlsec.tmLanguage.json" "$SRC/editors/test/sample.amlsec" "${files[@]}"
