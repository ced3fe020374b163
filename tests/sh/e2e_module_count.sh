#!/usr/bin/env bash
# count on module calls against a local cloud: module.NAME[N] instances in plan, apply, state,
# show -json (child_modules, module_calls count_expression) and plan -json; count.index in the
# call's arguments; module.NAME[N].OUT, module.NAME[*].OUT and length(module.NAME); adding
# count moves module.NAME to module.NAME[0] (Terraform's implicit move) and removing it moves
# back; -target module.NAME[N]; state mv inside an instance; a moved block from
# module.NAME[0] to module.NAME["k"]; count = 0 destroys every instance. (It failed before:
# "module 'team' has no variable 'count'".)
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}" "${JSONSCHEMA:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
mkdir -p modules/team
cat > modules/team/main.amlsec <<'EOT'
variable "team" {
  type = string
}

resource_group "team" {
  name = "rg-${var.team}"
  tags = { team = var.team }
}

output "rg_name" {
  value = resource_group.team.name
}
EOT
cat > main.amlsec <<'EOT'
settings {
  subscription = "00000000-0000-0000-0000-0000000000c8"
  location     = "westeurope"
}

variable "teams" {
  type    = number
  default = 2
}

module "team" {
  source = "./modules/team"
  team   = "t0"
}
EOT
start_cloud --lro-ms 0

echo "1. a module without count, applied"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply0.out 2>&1
expect_exit 0 "$AMLSEC" state list > list0.out 2>&1
grep -qx 'module.team.resource_group.team' list0.out || fail "module.team not in the state"

echo "2. count added: module.team moves to module.team[0] (implicit), module.team[1] is created"
cat > main.amlsec <<'EOT'
settings {
  subscription = "00000000-0000-0000-0000-0000000000c8"
  location     = "westeurope"
}

variable "teams" {
  type    = number
  default = 2
}

module "team" {
  count  = var.teams
  source = "./modules/team"
  team   = "t${count.index}"
}

module "never" {
  count  = 0
  source = "./modules/team"
  team   = "never"
}

output "first" {
  value = module.team[0].rg_name
}

output "all" {
  value = module.team[*].rg_name
}

output "n" {
  value = length(module.team)
}

output "none" {
  value = length(module.never)
}
EOT
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan1.out 2>&1
grep -qF '# module.team.resource_group.team has moved to module.team[0].resource_group.team' plan1.out \
  || fail "no implicit move of module.team to module.team[0]"
grep -qF '# module.team[1].resource_group.team will be created' plan1.out || fail "no module.team[1]"
grep -q 'never' plan1.out && fail "count = 0 planned an instance"
grep -q '^Plan: 1 to add, 0 to change, 0 to destroy.$' plan1.out || fail "plan summary"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p.plan > planout.out 2>&1
expect_exit 0 "$AMLSEC" show -json p.plan > plan1.json 2>&1
jq -e '[.planned_values.root_module.child_modules[].address] | sort == ["module.team[0]", "module.team[1]"]' \
  plan1.json > /dev/null || fail_with "show -json child_modules" plan1.json
jq -e '.configuration.root_module.module_calls.team.count_expression.references == ["var.teams"]' \
  plan1.json > /dev/null || fail_with "show -json module_calls count_expression" plan1.json
jq -e '.configuration.root_module.module_calls.team.expressions | has("count") | not' \
  plan1.json > /dev/null || fail_with "count is not an argument of the call" plan1.json
jq -e '[.resource_changes[] | select(.address == "module.team[0].resource_group.team")
  | .previous_address] == ["module.team.resource_group.team"]' plan1.json > /dev/null \
  || fail_with "show -json previous_address of the implicit move" plan1.json
"$JSONSCHEMA" "$SRC/docs/schemas/plan.schema.json" plan1.json || fail "show -json PLAN against its schema"
"$AMLSEC" plan -cloud "$url" -json > plan1.jsonl 2> plan1.err || fail "plan -json"
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" plan1.jsonl || fail "plan -json against its schema"
jq -e -s '[.[] | select(.type == "planned_change") | .change
  | select(.resource.addr == "module.team[1].resource_group.team" and .resource.module == "module.team[1]"
           and .action == "create")] | length == 1' plan1.jsonl > /dev/null \
  || fail_with "plan -json: module.team[1]'s create" plan1.jsonl
expect_exit 0 "$AMLSEC" apply -no-color p.plan > apply1.out 2>&1
grep -q 'Apply complete! Resources: 1 added, 0 changed, 0 destroyed' apply1.out || fail "apply summary"
expect_exit 0 "$AMLSEC" state list > list1.out 2>&1
grep -qx 'module.team\[0\].resource_group.team' list1.out || fail_with "module.team[0] not in the state" list1.out
grep -qx 'module.team\[1\].resource_group.team' list1.out || fail_with "module.team[1] not in the state" list1.out
expect_exit 0 "$AMLSEC" output -json > out1.json 2>&1
jq -e '.first.value == "rg-t0" and .all.value == ["rg-t0", "rg-t1"] and .n.value == 2 and .none.value == 0' \
  out1.json > /dev/null || fail_with "outputs over the instances" out1.json
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes.' plan2.out || fail "second plan is not empty"

echo "3. -target one new instance"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -var teams=4 \
  -target 'module.team[2]' > apply2.out 2>&1
grep -q 'Apply complete! Resources: 1 added, 0 changed, 0 destroyed' apply2.out \
  || fail "-target of one module instance"
expect_exit 0 "$AMLSEC" state list > list2.out 2>&1
grep -qx 'module.team\[2\].resource_group.team' list2.out || fail_with "module.team[2] not applied" list2.out
grep -q 'module.team\[3\]' list2.out && fail_with "-target applied module.team[3]" list2.out

echo "4. lowering count destroys the highest instances; state mv inside an instance"
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color -var teams=1 > plan3.out 2>&1
grep -qF '# module.team[1].resource_group.team will be destroyed' plan3.out || fail "team[1] not destroyed"
grep -qF '# module.team[2].resource_group.team will be destroyed' plan3.out || fail "team[2] not destroyed"
grep -qF '# module.team[0].resource_group.team will be' plan3.out && fail "team[0] touched"
expect_exit 0 "$AMLSEC" state mv 'module.team[2].resource_group.team' 'module.team[3].resource_group.team' > mv.out 2>&1
expect_exit 0 "$AMLSEC" state list > list3.out 2>&1
grep -qx 'module.team\[3\].resource_group.team' list3.out || fail_with "state mv inside a module instance" list3.out
expect_exit 0 "$AMLSEC" state mv 'module.team[3].resource_group.team' 'module.team[2].resource_group.team' > mv2.out 2>&1

echo "5. moved { from = module.team[0], to = module.team[\"a\"] }: for_each in place of count"
sed -i 's/^  count  = var.teams$/  for_each = toset(["a", "b", "c"])/; s/"t${count.index}"/each.key == "a" ? "t0" : each.key == "b" ? "t1" : "t2"/' main.amlsec
sed -i 's/module.team\[0\].rg_name/module.team["a"].rg_name/; s/module.team\[\*\].rg_name/[for k, m in module.team : m.rg_name]/' main.amlsec
printf '\nmoved {\n  from = module.team[0]\n  to   = module.team["a"]\n}\n\nmoved {\n  from = module.team[1]\n  to   = module.team["b"]\n}\n\nmoved {\n  from = module.team[2]\n  to   = module.team["c"]\n}\n' >> main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan4.out 2>&1
grep -q '^Plan: 0 to add, 0 to change, 0 to destroy.$' plan4.out || fail "the moves planned a change"
for i in 0:a 1:b 2:c; do
  grep -qF "# module.team[${i%%:*}].resource_group.team has moved to module.team[\"${i#*:}\"].resource_group.team" plan4.out \
    || fail "moved module.team[${i%%:*}] to module.team[\"${i#*:}\"]"
done
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > apply4.out 2>&1
grep -q 'Creating\|Destroying\|Modifying' apply4.out && fail "a module move touched Azure"
expect_exit 0 "$AMLSEC" state list > list4.out 2>&1
grep -qx 'module.team\["b"\].resource_group.team' list4.out || fail_with "moved to module.team[\"b\"]" list4.out

echo "6. a count of 0 destroys every instance; count and for_each together are an error"
cat > main.amlsec <<'EOT'
settings {
  subscription = "00000000-0000-0000-0000-0000000000c8"
  location     = "westeurope"
}

module "team" {
  count  = 0
  source = "./modules/team"
  team   = "x"
}
EOT
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > plan5.out 2>&1
grep -q '^Plan: 0 to add, 0 to change, 3 to destroy.$' plan5.out || fail "count = 0 destroys every instance"
sed -i 's/^  count  = 0$/  count  = 1\n  for_each = ["a"]/' main.amlsec
expect_exit 1 "$AMLSEC" validate -no-color > both.out 2>&1
grep -q 'main.amlsec:7:3: error: count and for_each cannot both be set' both.out || fail "count with for_each"

echo "7. count removed: module.team[0] moves back to module.team"
mkdir rev && cp -r modules rev/ && cd rev
printf 'settings {\n  subscription = "00000000-0000-0000-0000-0000000000c9"\n  location     = "westeurope"\n}\n\nmodule "team" {\n  count  = 1\n  source = "./modules/team"\n  team   = "rev"\n}\n' > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > rapply1.out 2>&1
sed -i '/^  count  = 1$/d' main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > rplan.out 2>&1
grep -qF '# module.team[0].resource_group.team has moved to module.team.resource_group.team' rplan.out \
  || fail "no implicit move of module.team[0] to module.team"
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > rapply2.out 2>&1
expect_exit 0 "$AMLSEC" state list > rlist.out 2>&1
grep -qx 'module.team.resource_group.team' rlist.out || fail_with "module.team[0] not moved back" rlist.out
echo "ok"
