#!/usr/bin/env bash
# A whole resource (or one of its values known only after apply) inside a function call, a
# template, an operator, a conditional or a template directive in an attribute: the result is filled in once the resource exists (plan after it does,
# apply in the same run), instead of staying "(known after apply)" for good and failing apply.
# A resource's sensitive attributes inside jsonencode() make the result sensitive: the service's
# instrumentation key (the canary) never reaches plan output, show -json or the state's view.
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
SUB=00000000-0000-0000-0000-0000000000c8
cat > main.amlsec <<EOT
settings {
  subscription = "$SUB"
  location     = "westeurope"
}

resource_group "a" {
  name = "rg-a"
}

app_insights "ai" {
  resource_group = resource_group.a
  name           = "ai-known"
}

resource_group "b" {
  name = "rg-b"
  tags = {
    rg       = jsonencode(resource_group.a)
    ai       = jsonencode(app_insights.ai)
    app_id   = upper(app_insights.ai.app_id)
    template = "app \${app_insights.ai.app_id} 100%"
    n        = length(resource_group.a)
    keys     = join(",", keys(resource_group.a))
    cond     = app_insights.ai.app_id != "" ? "has" : "none"
    not      = !(app_insights.ai.app_id == "")
    if       = "%{ if app_insights.ai.app_id != "" }yes%{ else }no%{ endif }"
  }
}

resource_group "dec" {
  name = "rg-dec"
  tags = {
    sum   = 0.1 + 0.2
    ratio = 10 / 4
    whole = 10 / 5
    exp   = 1.5e-2
    text  = "\${0.1 + 0.2}"
    json  = jsonencode({ r = 2.5, w = 2.0 })
  }
}
EOT
start_cloud --lro-ms 0

echo "1. plan: values of resources not created yet are known after apply"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color > plan1.out 2>&1
grep -q 'app_id *= (known after apply)' plan1.out || fail "app_id should be unknown before apply"
grep -q 'ai *= (sensitive)' plan1.out || fail "jsonencode of a resource with secrets is not sensitive"
grep -q 'n *= "5"' plan1.out || fail "length() of a resource needs only its attributes' names"

echo "2. apply fills them in as the resources are created"
expect_exit 0 "$AMLSEC" apply -auto-approve -cloud "$url" -no-color > apply1.out 2>&1
rg=$(curl -sf "$url/subscriptions/$SUB/resourceGroups/rg-b?api-version=2021-04-01") \
  || fail "no rg-b"
ai=$(curl -sf "$url/subscriptions/$SUB/resourceGroups/rg-a/providers/Microsoft.Insights/components/ai-known?api-version=2020-02-02") \
  || fail "no ai-known"
appid=$(jq -r .properties.AppId <<<"$ai")
canary=$(jq -r .properties.InstrumentationKey <<<"$ai")
[ -n "$canary" ] && [ "$canary" != null ] || fail "armlocal gave no instrumentation key"
tags=$(jq -c .tags <<<"$rg")
[ "$(jq -r .app_id <<<"$tags")" = "${appid^^}" ] || fail "app_id tag: $tags"
[ "$(jq -r .template <<<"$tags")" = "app $appid 100%" ] || fail "template tag: $tags"
[ "$(jq -r .rg <<<"$tags" | jq -r .name)" = rg-a ] || fail "jsonencode(resource_group.a): $tags"
[ "$(jq -r .ai <<<"$tags" | jq -r .instrumentation_key)" = "$canary" ] \
  || fail "jsonencode(app_insights.ai) lacks the key ARM holds: $tags"
[ "$(jq -r .keys <<<"$tags")" = "id,location,name,provisioning_state,resource_type" ] \
  || fail "keys(resource_group.a): $tags"
jq -e '.cond == "has" and .not == "true" and .if == "yes"' <<<"$tags" > /dev/null \
  || fail "a conditional, '!' or a directive on a value known after apply: $tags"

dec=$(curl -sf "$url/subscriptions/$SUB/resourceGroups/rg-dec?api-version=2021-04-01") || fail "no rg-dec"
# tags are strings: the numbers' text, as tostring() writes it
jq -e '.tags == {sum: "0.3", ratio: "2.5", whole: "2", exp: "0.015", text: "0.3", json: "{\"r\":2.5,\"w\":2}"}' \
  <<<"$dec" > /dev/null || fail "decimals in the ARM body: $(jq -c .tags <<<"$dec")"
grep -q '"sum":"0.3",' <<<"$dec" || fail "0.1 + 0.2 is not written 0.3: $dec"

echo "3. plan again: no changes"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1

echo "4. the canary is in no output"
"$AMLSEC" show -json > show.json 2>&1
"$AMLSEC" state show resource_group.b > stateb.out 2>&1
"$AMLSEC" plan -cloud "$url" -no-color -out p.plan > plan3.out 2>&1
"$AMLSEC" show -json p.plan > showplan.json 2>&1
for f in plan1.out apply1.out plan2.out plan3.out show.json stateb.out showplan.json; do
  grep -q -- "$canary" "$f" && fail_with "the instrumentation key leaked into $f" "$f"
done
grep -q '"ai": "(sensitive)"' stateb.out || fail_with "state show does not redact the tag" stateb.out
echo "ok"
