#!/usr/bin/env bash
# import and moved blocks against the embedded local cloud (issue 19): a moved block renames the
# state's entries (every for_each instance) without touching Azure, shows "has moved to", exits 2,
# and is a no-op once applied; moving onto an address the state already holds is refused; an
# import block reads and adopts the resource at apply (also through a saved plan), shows "will be
# imported" and "1 to import", and is a no-op afterwards; `amlsec import` adopts a resource group
# (it failed before: the provider could not parse a resource group's id); a moved block naming a
# module (module.a -> module.b, module.a["k"] -> module.c, chained) moves every resource under it,
# nested modules included, with previous_address in show -json (it failed before: "not a
# resource in the configuration"); a move the state cannot take (to a resource of another type)
# stops plan and apply with exit 1, nothing planned or written (it failed before: the error was
# printed, and the plan went on to destroy the resource and create the other, exit 2).
set -uo pipefail
: "${AMLSEC:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec {err}>&2
fail() { echo "FAIL: $*" >&$err; for f in $(ls -t "$work"/*.out 2>/dev/null | head -n 2); do echo "--- $f"; tail -n 30 "$f"; done >&$err; exit 1; }
expect_exit() { local want=$1; shift; "$@"; local got=$?; [ "$got" = "$want" ] || fail "exit $got, want $want: $*"; }
cd "$work"
S=/subscriptions/00000000-0000-0000-0000-000000000000
cat > main.amlsec <<'AMLSEC'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

resource_group "a" {
  name = "rg-import-moved"
}

storage_account "st" {
  for_each                 = ["x", "y"]
  resource_group           = resource_group.a
  name                     = "stim${each.value}001"
  allow_blob_public_access = false
}
AMLSEC
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > apply1.out 2>&1

echo "1. moved: every instance renamed in the state, nothing sent to Azure"
sed -i 's/storage_account "st"/storage_account "data"/' main.amlsec
printf '\nmoved {\n  from = storage_account.st\n  to   = storage_account.data\n}\n' >> main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > moved.out 2>&1
grep -q '^  # storage_account.st\["x"\] has moved to storage_account.data\["x"\]$' moved.out || fail "no 'has moved to'"
grep -q '^  # storage_account.st\["y"\] has moved to storage_account.data\["y"\]$' moved.out || fail "second instance"
grep -q '^Plan: 0 to add, 0 to change, 0 to destroy.$' moved.out || fail "a move planned a change"
# show -json of the saved plan: the moved instances under their new address, previous_address
# the old one (Terraform's JSON plan), none left under the old address
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -out mv.plan > mvplan.out 2>&1
"$AMLSEC" show -json mv.plan > mv.json || fail "show -json"
for k in x y; do
  jq -e --arg k "$k" '[.resource_changes[] | select(.address == "storage_account.data[\"\($k)\"]")
    | select(.previous_address == "storage_account.st[\"\($k)\"]")] | length == 1' mv.json > /dev/null \
    || fail "no previous_address on storage_account.data[\"$k\"]"
done
jq -e '[.resource_changes[] | select(.address | startswith("storage_account.st"))] | length == 0' \
  mv.json > /dev/null || fail "show -json lists the old addresses"
jq -e '[.resource_changes[] | select(.address == "resource_group.a") | has("previous_address")]
  == [false]' mv.json > /dev/null || fail "previous_address on a resource that did not move"
"$AMLSEC" plan -cloud local -json > mv.jsonl 2> mv.err || fail "plan -json"
jq -s -e '[.[] | select(.type == "planned_change" and .change.action == "move"
  and .change.resource.addr == "storage_account.data[\"y\"]")
  | select(.change.previous_resource.addr == "storage_account.st[\"y\"]")] | length == 1' \
  mv.jsonl > /dev/null || fail "plan -json: no planned_change move"
if [ -n "${JSONSCHEMA:-}" ]; then
  "$JSONSCHEMA" "$SRC/docs/schemas/plan.schema.json" mv.json || fail "show -json against its schema"
  "$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" mv.jsonl || fail "plan -json against its schema"
fi
# a chain (st -> data -> final) gives the original address, also on a change the plan makes,
# and plan -json's planned_change names it as previous_resource
cp main.amlsec main.keep
sed -i 's/storage_account "data"/storage_account "final"/; s/^  allow_blob_public_access = false$/  allow_blob_public_access = false\n  tags                     = { team = "a" }/' main.amlsec
printf '\nmoved {\n  from = storage_account.data\n  to   = storage_account.final\n}\n' >> main.amlsec
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -out chain.plan > chain.out 2>&1
grep -q '^Plan: 0 to add, 2 to change, 0 to destroy.$' chain.out || fail "the chain's plan"
"$AMLSEC" show -json chain.plan > chain.json || fail "show -json"
for k in x y; do
  jq -e --arg k "$k" '[.resource_changes[] | select(.address == "storage_account.final[\"\($k)\"]")
    | select(.previous_address == "storage_account.st[\"\($k)\"]" and .change.actions == ["update"])]
    | length == 1' chain.json > /dev/null || fail "no previous_address through the chain ($k)"
done
"$AMLSEC" plan -cloud local -json > chain.jsonl 2> chain.err || fail "plan -json"
jq -s -e '[.[] | select(.type == "planned_change" and .change.resource.addr == "storage_account.final[\"x\"]")
  | select(.change.previous_resource.addr == "storage_account.st[\"x\"]")] | length == 1' \
  chain.jsonl > /dev/null || fail "plan -json: no previous_resource"
if [ -n "${JSONSCHEMA:-}" ]; then
  "$JSONSCHEMA" "$SRC/docs/schemas/plan.schema.json" chain.json || fail "show -json against its schema"
  "$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" chain.jsonl || fail "plan -json against its schema"
fi
mv main.keep main.amlsec
"$AMLSEC" state list > list0.out
grep -q 'storage_account.st\["x"\]' list0.out || fail "plan saved the move"
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > apply2.out 2>&1
grep -q 'Creating\|Destroying\|Modifying' apply2.out && fail "a move touched Azure"
"$AMLSEC" state list > list1.out
grep -q '^storage_account.data\["x"\]$' list1.out && grep -q '^storage_account.data\["y"\]$' list1.out \
  || fail "the state was not renamed"
expect_exit 0 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > moved2.out 2>&1
grep -q 'No changes.' moved2.out || fail "the moved block is not a no-op once applied"

echo "2. moving onto an address the state holds is refused"
"$AMLSEC" state mv 'storage_account.data["x"]' 'storage_account.st["x"]' > /dev/null || fail "state mv"
expect_exit 0 "$AMLSEC" import -cloud local -no-color 'storage_account.data["x"]' \
  "$S/resourceGroups/rg-import-moved/providers/Microsoft.Storage/storageAccounts/stimx001" > imp0.out 2>&1
expect_exit 1 "$AMLSEC" plan -cloud local -no-color > conflict.out 2>&1
grep -q 'moved: cannot move storage_account.st\["x"\] to storage_account.data\["x"\]: storage_account.data\["x"\] is already in the state' conflict.out \
  || fail "moving onto an existing address was not refused"
"$AMLSEC" state rm 'storage_account.st["x"]' > /dev/null || fail "state rm"

echo "3. import: planned, adopted at apply (through a saved plan), then a no-op"
"$AMLSEC" state rm resource_group.a > /dev/null || fail "state rm"
printf '\nimport {\n  to = resource_group.a\n  id = "%s/resourceGroups/rg-import-moved"\n}\n' "$S" >> main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color -out imp.plan > import.out 2>&1
grep -q '^  # resource_group.a will be imported$' import.out || fail "no 'will be imported'"
grep -q '^Plan: 1 to import, 0 to add, 0 to change, 0 to destroy.$' import.out || fail "import summary"
"$AMLSEC" state list > list2.out
grep -q '^resource_group.a$' list2.out && fail "plan saved the import"
expect_exit 0 "$AMLSEC" apply -no-color imp.plan > apply3.out 2>&1
grep -q 'Apply complete! Resources: 1 imported, 0 added, 0 changed, 0 destroyed.' apply3.out || fail "apply of the import"
"$AMLSEC" state list > list3.out
grep -q '^resource_group.a$' list3.out || fail "not imported"
expect_exit 0 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > import2.out 2>&1
grep -q 'No changes.' import2.out || fail "the import block is not a no-op once applied"

echo "4. amlsec import adopts a resource group"
"$AMLSEC" state rm resource_group.a > /dev/null || fail "state rm"
sed -i '/^import {/,$d' main.amlsec
expect_exit 0 "$AMLSEC" import -cloud local -no-color resource_group.a "$S/resourceGroups/rg-import-moved" > imp1.out 2>&1
grep -q 'resource_group.a: imported' imp1.out || fail "import of a resource group"
echo "5. moved modules: a call renamed moves every resource under it (nested modules, every instance)"
mkdir mods && cp -r "$SRC/tests/data/modules/." mods/
cd mods || fail "cd mods"
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > mapply1.out 2>&1
sed -i 's/^module "team"/module "group"/; s/module\.team\["cv"\]/module.group["cv"]/' main.amlsec
printf '\nmoved {\n  from = module.team\n  to   = module.group\n}\n' >> main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color -out mmv.plan > mmoved.out 2>&1
for k in cv nlp; do
  for r in resource_group.team module.logs.resource_group.logs; do
    grep -qF "  # module.team[\"$k\"].$r has moved to module.group[\"$k\"].$r" mmoved.out \
      || fail "module move: no 'has moved to' for module.team[\"$k\"].$r"
  done
done
grep -q '^Plan: 0 to add, 0 to change, 0 to destroy.$' mmoved.out || fail "a module move planned a change"
"$AMLSEC" show -json mmv.plan > mmv.json || fail "show -json"
jq -e '[.resource_changes[] | select(.previous_address != null)
  | [.address, .previous_address]] | sort == [
  ["module.group[\"cv\"].module.logs.resource_group.logs", "module.team[\"cv\"].module.logs.resource_group.logs"],
  ["module.group[\"cv\"].resource_group.team", "module.team[\"cv\"].resource_group.team"],
  ["module.group[\"nlp\"].module.logs.resource_group.logs", "module.team[\"nlp\"].module.logs.resource_group.logs"],
  ["module.group[\"nlp\"].resource_group.team", "module.team[\"nlp\"].resource_group.team"]]' mmv.json > /dev/null \
  || fail "show -json previous_address of the moved module's resources: $(jq -c '[.resource_changes[] | [.address, .previous_address]]' mmv.json)"
jq -e '[.planned_values.root_module.child_modules[].address] | sort == ["module.group[\"cv\"]", "module.group[\"nlp\"]"]' \
  mmv.json > /dev/null || fail "show -json child_modules after the move"
# plan -json: each moved resource a planned_change "move", module and resource as Terraform splits them
"$AMLSEC" plan -cloud local -json > mmv.jsonl 2> mmv.err || fail "plan -json (module move)"
jq -s -e '[.[] | select(.type == "planned_change" and .change.action == "move")
  | select(.change.resource.addr == "module.group[\"cv\"].module.logs.resource_group.logs")
  | select(.change.resource.module == "module.group[\"cv\"].module.logs"
      and .change.resource.resource == "resource_group.logs"
      and .change.resource.resource_type == "resource_group"
      and .change.resource.resource_name == "logs"
      and .change.previous_resource.module == "module.team[\"cv\"].module.logs")] | length == 1' \
  mmv.jsonl > /dev/null || fail "plan -json: module move: $(grep -m1 '"move"' mmv.jsonl)"
if [ -n "${JSONSCHEMA:-}" ]; then
  "$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" mmv.jsonl || fail "plan -json (module move) against its schema"
fi
expect_exit 0 "$AMLSEC" apply -no-color mmv.plan > mapply2.out 2>&1
grep -q 'Creating\|Destroying\|Modifying' mapply2.out && fail "a module move touched Azure"
expect_exit 0 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > mmoved2.out 2>&1
grep -q 'No changes.' mmoved2.out || fail "the module move is not a no-op once applied"
# one instance to another call's instance, chained (module.group["nlp"] -> module.solo -> module.lone)
sed -i 's/for_each = { cv = "westeurope", nlp = "northeurope" }/for_each = { cv = "westeurope" }/' main.amlsec
cat >> main.amlsec <<'AMLSEC'

module "lone" {
  source   = "./modules/team"
  team     = "nlp"
  location = "northeurope"
  owner    = "owner-canary-2f7c1d"
  suffix   = var.suffix
}

moved {
  from = module.group["nlp"]
  to   = module.solo
}

moved {
  from = module.solo
  to   = module.lone
}
AMLSEC
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > mchain.out 2>&1
grep -qF '  # module.group["nlp"].resource_group.team has moved to module.lone.resource_group.team' mchain.out \
  || fail "module move through a chain"
grep -qF '  # module.group["nlp"].module.logs.resource_group.logs has moved to module.lone.module.logs.resource_group.logs' mchain.out \
  || fail "nested module through a chain"
grep -q '^Plan: 0 to add, 0 to change, 0 to destroy.$' mchain.out || fail "the chained module move planned a change"
# the chain applied from a saved plan (in a copy): its moves replayed in order, each block's at once
cp -r . "$work/mchain" && cd "$work/mchain" || fail "copy for the saved chain"
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -out mchain.plan > "$work/mchainp.out" 2>&1
expect_exit 0 "$AMLSEC" apply -no-color mchain.plan > "$work/mchaina.out" 2>&1
"$AMLSEC" state list > "$work/mchainl.out" || fail "state list after the saved chain"
grep -qxF 'module.lone.module.logs.resource_group.logs' "$work/mchainl.out" \
  && ! grep -q 'module.solo\|module.group\["nlp"\]' "$work/mchainl.out" || fail "the saved chain's moves"
cd "$work/mods" || fail "cd mods"
# moving onto a module whose resources the state holds is refused
expect_exit 0 "$AMLSEC" import -cloud local -no-color module.lone.resource_group.team "$S/resourceGroups/rg-nlp-001" > mimp.out 2>&1
expect_exit 1 "$AMLSEC" plan -cloud local -no-color > mconflict.out 2>&1
grep -qF 'moved: cannot move module.group["nlp"].resource_group.team to module.lone.resource_group.team: module.lone.resource_group.team is already in the state' mconflict.out \
  || fail "moving a module onto resources the state holds was not refused"
cd .. || fail "cd .."

echo "7. a moved block that cannot be carried out stops plan and apply with exit 1; nothing is written"
# (it failed before: the error was printed, and the plan went on to destroy storage_account.st
# and create app_insights.st2, exit 2; apply would have done it)
mkdir "$work/badmove" && cd "$work/badmove" || fail "cd badmove"
cat > main.amlsec <<'AMLSEC'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

resource_group "a" {
  name = "rg-bad-move"
}

storage_account "keep" {
  resource_group = resource_group.a
  name           = "stbadmovekeep01"
}

storage_account "st" {
  resource_group = resource_group.a
  name           = "stbadmove001"
}
AMLSEC
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > "$work/bm0.out" 2>&1
cp .amlsec/state.json state.before
# a valid move (keep -> kept) and one to a resource of another type
sed -i 's/storage_account "keep"/storage_account "kept"/; s/storage_account "st"/app_insights "st2"/; s/stbadmove001/ai-bad-move/' main.amlsec
printf '\nmoved {\n  from = storage_account.keep\n  to   = storage_account.kept\n}\n' >> main.amlsec
printf '\nmoved {\n  from = storage_account.st\n  to   = app_insights.st2\n}\n' >> main.amlsec
expect_exit 0 "$AMLSEC" validate -no-color > "$work/bmv.out" 2>&1
expect_exit 1 "$AMLSEC" plan -cloud local -no-color -detailed-exitcode -out bad.plan > "$work/bm1.out" 2> "$work/bm1.err"
[ -s "$work/bm1.out" ] && fail "the plan printed changes after the failed move"
[ "$(cat "$work/bm1.err")" = "amlsec: error: moved: cannot move storage_account.st to app_insights.st2: 'app_insights.st2' is not an address of a storage_account; nothing was planned, and the state is unchanged" ] \
  || fail "the failed move's error: $(cat "$work/bm1.err")"
[ -e bad.plan ] && fail "a plan file was written after the failed move"
expect_exit 1 "$AMLSEC" apply -cloud local -auto-approve -no-color > "$work/bm2.out" 2>&1
grep -q 'Creating\|Destroying\|Apply complete' "$work/bm2.out" && fail "apply went on after the failed move"
cmp -s state.before .amlsec/state.json || fail "the failed move changed the state (the valid block's rename was saved)"
expect_exit 1 "$AMLSEC" apply -cloud local -auto-approve -json > "$work/bm3.json" 2> "$work/bm3.err"
jq -e -s 'map(select(.type == "diagnostic" and .diagnostic.severity == "error") | .diagnostic.summary
  | startswith("moved: cannot move storage_account.st to app_insights.st2")) | any' "$work/bm3.json" > /dev/null \
  || fail "apply -json has no diagnostic for the failed move"
jq -e -s 'map(select(.type == "planned_change" or .type == "apply_start" or .type == "change_summary")) | length == 0' \
  "$work/bm3.json" > /dev/null || fail "apply -json planned or applied after the failed move"
if [ -n "${JSONSCHEMA:-}" ]; then
  "$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" "$work/bm3.json" || fail "apply -json against its schema"
fi
cmp -s state.before .amlsec/state.json || fail "the failed move changed the state (-json)"
# the cloud was not touched: without the bad block, the valid move is all there is to do
sed -i '/^moved {$/,/^}$/d; s/app_insights "st2"/storage_account "st"/; s/ai-bad-move/stbadmove001/' main.amlsec
printf '\nmoved {\n  from = storage_account.keep\n  to   = storage_account.kept\n}\n' >> main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud local -no-color -detailed-exitcode > "$work/bm4.out" 2>&1
grep -q '^Plan: 0 to add, 0 to change, 0 to destroy.$' "$work/bm4.out" || fail "the cloud changed after the failed move"
# a moved block onto an instance with a key of a resource the state holds without one (for_each
# added, the unkeyed instance not moved): refused, nothing written (before, the state held
# storage_account.st and storage_account.st["x"], and the plan destroyed the first)
sed -i '/^moved {$/,/^}$/d; s/storage_account "kept"/storage_account "keep"/' main.amlsec
sed -i 's/^storage_account "st" {$/storage_account "st" {\n  for_each = toset(["x"])/; s/"stbadmove001"/"stbadmove${each.key}01"/' main.amlsec
printf '\nmoved {\n  from = storage_account.keep\n  to   = storage_account.st["x"]\n}\n' >> main.amlsec
sed -i '/^storage_account "keep" {$/,/^}$/d' main.amlsec
expect_exit 1 "$AMLSEC" plan -cloud local -no-color > "$work/bm5.out" 2> "$work/bm5.err"
grep -qF 'amlsec: error: moved: cannot move storage_account.keep to storage_account.st["x"]: storage_account.st has a key, and the state holds storage_account.st, which has none' "$work/bm5.err" \
  || fail "a moved block mixing keys: $(cat "$work/bm5.err")"
expect_exit 1 "$AMLSEC" apply -cloud local -auto-approve -no-color > "$work/bm6.out" 2>&1
cmp -s state.before .amlsec/state.json || fail "a moved block mixing keys changed the state"
cd .. || fail "cd .."
echo "import and moved: ok"
