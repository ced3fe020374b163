#!/usr/bin/env bash
# `amlsec local-cloud`: the local cloud embedded in amlsec, data under
# .amlsec/local, resources kept across separate invocations.
source "$SRC/tests/sh/lib/armlocal.bash"
: "${AMLSEC:?}"
ARMLOCAL=$AMLSEC
S=/subscriptions/00000000-0000-0000-0000-000000000001
cd "$TMP"
"$AMLSEC" local-cloud -h | grep -q -- "--lro-ms" || fail "usage"
if "$AMLSEC" local-cloud --throttle sometimes 2>/dev/null; then fail "bad flag accepted"; fi
armlocal_start local-cloud --lro-ms 0
[[ "$B" =~ ^http://127\.0\.0\.1:[0-9]+$ ]] || fail "base url: $B"
req PUT "$S/resourceGroups/rg1?api-version=2024-03-01" '{"location":"eastus"}'; expect_code 201 "create"
armlocal_stop
[ -f .amlsec/local/armlocal.json ] || fail "no state under .amlsec/local"
[ "$(stat -c %a .amlsec/local/armlocal.json)" = 600 ] || fail "state file mode"
armlocal_start local-cloud
req GET "$S/resourceGroups/rg1?api-version=2024-03-01"; expect_code 200 "kept across invocations"
armlocal_stop
echo "armlocal embedded: ok"
