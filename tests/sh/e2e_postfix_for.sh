#!/usr/bin/env bash
# Steps on any expression (split(...)[4], jsondecode(...).name, [for ...][0]) and for expressions
# over values known only after apply, planned and applied against the local cloud as Terraform
# does: a step on a value known at plan time is shown; one on a value known only after apply
# is made once the value exists, in the same apply; a for expression over a list of known
# length has a known length; one whose condition or keys are known only after apply is made
# then too (it failed apply before: "values are still unknown when it was due to be sent"), and
# so is a module's or a resource's instance picked by a key known only after apply (it was the
# key itself before).
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
SUB=00000000-0000-0000-0000-0000000000c9
mkdir -p modules/team
cat > modules/team/main.amlsec <<'EOT'
variable "team" {
  type = string
}

output "rg" {
  value = "rg-${var.team}"
}
EOT
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
  name           = "ai-postfix"
}

app_insights "many" {
  count          = 2
  resource_group = resource_group.a
  name           = "ai-many-\${count.index}"
}

module "team" {
  for_each = { cv = 1, nlp = 2 }
  source   = "./modules/team"
  team     = each.key
}

resource_group "b" {
  name = "rg-b"
  tags = {
    part  = split("/", resource_group.a.id)[4]
    head  = upper(split("-", app_insights.ai.app_id)[0])
    name  = jsondecode(jsonencode(resource_group.a)).name
    n     = length([for x in [app_insights.ai.app_id, "k"] : upper(x)])
    first = [for x in [app_insights.ai.app_id, "k"] : upper(x)][0]
    filt  = join(",", [for x in [app_insights.ai.app_id, "", "k"] : x if x != ""])
    keyed = jsonencode({ for x in [app_insights.ai.app_id] : x => "v" })
    pick  = { for x in [app_insights.ai.app_id] : x => "found" }[app_insights.ai.app_id]
    mod   = module.team["cv\${substr(app_insights.ai.app_id, 0, 0)}"].rg
    inst  = app_insights.many[length(substr(app_insights.ai.app_id, 0, 1))].app_id
  }
}
EOT
start_cloud --lro-ms 0

echo "1. plan: what is known is shown, the rest is known after apply"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color > plan1.out 2>&1
grep -q 'part *= "rg-a"' plan1.out || fail "a step on a call's known result is not shown"
grep -q ' n *= "2"' plan1.out || fail "a for expression over a list of known length has an unknown length"
for t in head first filt keyed pick mod inst; do
  grep -q " $t *= (known after apply)" plan1.out || fail "$t should be known after apply"
done

echo "1b. the saved plan's configuration names what the steps' bases read"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p.plan > plan1b.out 2>&1
"$AMLSEC" show -json p.plan > plan1b.json 2>&1 || fail_with "show -json failed" plan1b.json
jq -e '.configuration.root_module.resources[] | select(.address == "resource_group.b")
  | .expressions.tags.references | index("resource_group.a.id") and index("app_insights.ai.app_id")' \
  plan1b.json > /dev/null || fail_with "references of the tags" plan1b.json

echo "2. applying the saved plan makes them once app_insights.ai exists"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color p.plan > apply1.out 2>&1
rg=$(curl -sf "$url/subscriptions/$SUB/resourceGroups/rg-b?api-version=2021-04-01") || fail "no rg-b"
ai=$(curl -sf "$url/subscriptions/$SUB/resourceGroups/rg-a/providers/Microsoft.Insights/components/ai-postfix?api-version=2020-02-02") \
  || fail "no ai-postfix"
appid=$(jq -r .properties.AppId <<<"$ai")
[ -n "$appid" ] && [ "$appid" != null ] || fail "armlocal gave no app id"
many1=$(curl -sf "$url/subscriptions/$SUB/resourceGroups/rg-a/providers/Microsoft.Insights/components/ai-many-1?api-version=2020-02-02" | jq -r .properties.AppId) \
  || fail "no ai-many-1"
head=${appid%%-*}
jq -e --arg head "${head^^}" --arg up "${appid^^}" --arg id "$appid" --arg many1 "$many1" '.tags ==
  {part: "rg-a", head: $head, name: "rg-a", n: "2", first: $up, filt: ($id + ",k"),
   keyed: ({($id): "v"} | tojson), pick: "found", mod: "rg-cv", inst: $many1}' <<<"$rg" > /dev/null \
  || fail "tags in the ARM body: $(jq -c .tags <<<"$rg")"

echo "3. plan again: no changes"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
echo "ok"
