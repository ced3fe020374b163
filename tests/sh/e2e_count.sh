#!/usr/bin/env bash
# count on resources against a local cloud: TYPE.NAME[N] instances in plan, apply, state,
# show -json ("index": N), -target and state mv; count.index inside; count = 0 means none;
# lowering count destroys the highest instances; references see a list of the instances.
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
cat > main.amlsec <<'EOT'
settings {
  subscription = "00000000-0000-0000-0000-0000000000c7"
  location     = "westeurope"
}

variable "teams" {
  type    = number
  default = 2
}

resource_group "team" {
  count = var.teams
  name  = "rg-team-${count.index}"
  tags  = { index = count.index }
}

resource_group "never" {
  count = 0
  name  = "rg-never"
}

resource_group "index" {
  name = "rg-index"
  tags = {
    first = resource_group.team[0].name
    all   = join(",", [for g in resource_group.team : g.name])
    none  = length(resource_group.never)
  }
}
EOT
start_cloud --lro-ms 0

echo "1. plan and apply: one instance per index, none for count = 0"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan1.out 2>&1
grep -q 'resource_group.team\[0\] will be created' plan1.out || fail "no team[0] in the plan"
grep -q 'resource_group.team\[1\] will be created' plan1.out || fail "no team[1] in the plan"
grep -q 'never' plan1.out && fail "count = 0 planned an instance"
grep -q 'Plan: 3 to add' plan1.out || fail "plan summary"
grep -q '"rg-team-0,rg-team-1"' plan1.out || fail "a for expression over the instances"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p.plan > planout.out 2>&1
expect_exit 0 "$AMLSEC" show -json p.plan > plan1.json 2>&1
jq -e '[.resource_changes[] | select(.name == "team") | .index] | sort == [0, 1]' \
  plan1.json > /dev/null || fail_with "show -json PLAN lacks the indexes" plan1.json
jq -e '.configuration.root_module.resources[] | select(.address == "resource_group.team")
  | (.count_expression.references == ["var.teams"]) and (.expressions | has("count") | not)' \
  plan1.json > /dev/null || fail_with "show -json configuration: count_expression" plan1.json
expect_exit 0 "$AMLSEC" apply -no-color p.plan > apply1.out 2>&1
expect_exit 0 "$AMLSEC" state list > list1.out 2>&1
grep -qx 'resource_group.team\[1\]' list1.out || fail "team[1] not in the state"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1

echo "2. -target one new instance"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -var teams=3 \
  -target 'resource_group.team[2]' > apply2.out 2>&1
grep -q 'Apply complete! Resources: 1 added, 0 changed, 0 destroyed' apply2.out \
  || fail "-target of one instance"

echo "3. lowering count destroys the highest instances"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -var teams=1 > plan3.out 2>&1
grep -q 'resource_group.team\[1\] will be destroyed' plan3.out || fail "team[1] not destroyed"
grep -q 'resource_group.team\[2\] will be destroyed' plan3.out || fail "team[2] not destroyed"
grep -q 'resource_group.team\[0\] will be' plan3.out && fail "team[0] touched"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -var teams=1 > apply3.out 2>&1
expect_exit 0 "$AMLSEC" state list > list3.out 2>&1
[ "$(grep -c '^resource_group.team' list3.out)" = 1 ] || fail_with "not one team left" list3.out

echo "4. state mv renames an instance; count and for_each together are an error"
expect_exit 0 "$AMLSEC" state mv 'resource_group.team[0]' 'resource_group.team[1]' > mv.out 2>&1
expect_exit 0 "$AMLSEC" state list > list4.out 2>&1
grep -qx 'resource_group.team\[1\]' list4.out || fail_with "state mv of an instance" list4.out
sed -i 's/  count = var.teams/  count = var.teams\n  for_each = ["a"]/' main.amlsec
expect_exit 1 "$AMLSEC" validate -no-color > both.out 2>&1
grep -q 'error: count and for_each cannot both be set' both.out || fail "count with for_each"
echo "ok"
