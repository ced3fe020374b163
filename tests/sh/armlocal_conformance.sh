#!/usr/bin/env bash
# SDK conformance: Microsoft's JavaScript SDKs drive armlocal through every
# kind (tests/conformance/conformance.js). npm ci runs into the build tree
# and is skipped while package-lock.json is unchanged.
source "$SRC/tests/sh/lib/armlocal.bash"
dir="$BUILD/conformance"
mkdir -p "$dir"
cp "$SRC/tests/conformance/package.json" "$SRC/tests/conformance/package-lock.json" \
   "$SRC/tests/conformance/conformance.js" "$dir/"
stamp=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
if [ ! -d "$dir/node_modules" ] || [ "$(cat "$dir/.npm-stamp" 2>/dev/null)" != "$stamp" ]; then
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci failed"
  echo "$stamp" >"$dir/.npm-stamp"
fi
armlocal_start --data "$TMP/data" --lro-ms 300 --policy-definitions "$SHARED/data/policies"
node "$dir/conformance.js" "$B"
# every call the SDKs made was logged
req GET /_armlocal/requests
expect_code 200 "request log"
expect_body '"PUT"' "request log counts PUTs"
