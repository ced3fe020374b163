#!/usr/bin/env bash
# What is known only after apply is evaluated at apply, as Terraform does, against the local cloud:
# 1. a map whose key is known only after apply is known after apply as a whole and made once the
#    key exists (an error before: "a map key must be known when planning"); a key repeated at
#    apply fails the resource with the key's location, a sensitive key unquoted.
# Canary: the sensitive variable's value appears in no plan, show -json, apply output or log.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
SUB=00000000-0000-0000-0000-0000000000d7
CANARY=canary-deferred-5f3e91
export AMLSEC_VAR_s=$CANARY AMLSEC_LOG=debug AMLSEC_STATE_PASSPHRASE=deferred-test-passphrase
settings() {
  cat <<EOT
settings {
  subscription = "$SUB"
  location     = "westeurope"
}

variable "s" {
  type      = string
  sensitive = true
}

resource_group "a" {
  name = "rg-a"
}

app_insights "ai" {
  resource_group = resource_group.a
  name           = "ai-deferred"
}
EOT
}
rg_url() { echo "$url/subscriptions/$SUB/resourceGroups/$1?api-version=2021-04-01"; }
count_puts() { curl -sf "$url/_armlocal/requests" | jq -r '.byVerb.PUT // 0'; }
no_canary() {
  for f in "$@"; do
    ! grep -q "$CANARY" "$f" || fail_with "the sensitive value is in $f" "$f"
  done
}
start_cloud --lro-ms 0

echo "1. a map key known only after apply: the map is known after apply, made at apply"
{ settings; cat <<'EOT'

resource_group "b" {
  name = "rg-b"
  tags = { (app_insights.ai.app_id) = "v", fixed = "z", ("${var.s}-${app_insights.ai.app_id}") = "s" }
}
EOT
} > main.amlsec
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p1.plan > plan1.out 2>&1
grep -q 'tags = (sensitive' plan1.out || fail "the map reading a sensitive key is not hidden"
"$AMLSEC" show -json p1.plan > show1.json 2> show1.err || fail_with "show -json failed" show1.err
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color p1.plan > apply1.out 2>&1
appid=$(curl -sf "$url/subscriptions/$SUB/resourceGroups/rg-a/providers/Microsoft.Insights/components/ai-deferred?api-version=2020-02-02" | jq -r .properties.AppId)
[ -n "$appid" ] && [ "$appid" != null ] || fail "armlocal gave no app id"
curl -sf "$(rg_url rg-b)" > rg-b.json || fail "no rg-b"
jq -e --arg id "$appid" --arg s "$CANARY-$appid" '.tags == {($id): "v", fixed: "z", ($s): "s"}' rg-b.json \
  > /dev/null || fail_with "tags of rg-b" rg-b.json
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -detailed-exitcode > plan1b.out 2>&1
no_canary plan1.out show1.json apply1.out plan1b.out

echo "2. a key repeated once known: the resource fails at apply, at the key, nothing PUT for it"
{ settings; cat <<'EOT'

resource_group "b" {
  name = "rg-b"
  tags = { (app_insights.ai.app_id) = "v", fixed = "z", ("${var.s}-${app_insights.ai.app_id}") = "s" }
}

resource_group "c" {
  name = "rg-c"
  tags = { ("f${substr(app_insights.ai.app_id, 0, 0)}ixed") = "v", fixed = "z" }
}

resource_group "d" {
  name = "rg-d"
  tags = { ("${var.s}${substr(app_insights.ai.app_id, 0, 0)}") = "v", (var.s) = "z" }
}
EOT
} > main.amlsec
# rg-c and rg-d read app_insights.ai, which exists: replace it so the keys are unknown again
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -replace app_insights.ai -out p2.plan > plan2.out 2>&1
grep -q 'tags = (known after apply)' plan2.out || fail "rg-c's tags are not known after apply"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color p2.plan > apply2.out 2>&1
grep -q 'resource_group.c: Creating failed.*: main.amlsec:27:68: duplicate map key .fixed.' apply2.out \
  || fail "rg-c's repeated key is not reported at the key"
grep -q 'resource_group.d: Creating failed.*: main.amlsec:32:71: duplicate map key (sensitive: not shown)' apply2.out \
  || fail "rg-d's repeated sensitive key is not reported"
curl -s -o /dev/null -w '%{http_code}' "$(rg_url rg-c)" | grep -q 404 || fail "rg-c was PUT"
curl -s -o /dev/null -w '%{http_code}' "$(rg_url rg-d)" | grep -q 404 || fail "rg-d was PUT"
no_canary plan2.out apply2.out
echo "ok"
