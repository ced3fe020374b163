#!/usr/bin/env bash
# What is known only after apply is evaluated at apply, as Terraform does, against the local cloud:
# 1. a map whose key is known only after apply is known after apply as a whole and made once the
#    key exists (an error before: "a map key must be known when planning"); a key repeated at
#    apply fails the resource with the key's location, a sensitive key unquoted.
# 2. a variable's validation whose condition is known only after apply (skipped for good before) is
#    carried by the plan (plan output, show -json's deferred_validations, plan -json's
#    deferred_validation message, the saved plan, whose checksum still catches an edit) and checked
#    by apply once what it reads exists. As in Terraform, only what reads the variable (directly,
#    through a local; its guards) waits for it: the rest is sent while what the validation reads
#    is still being created (app_insights.ai made slow; apply held every change the validation did
#    not read before). A false one skips what reads the variable and what depends on that, with
#    the rest applied (exit 1, the message at the value, the PUTs counted in armlocal's request
#    log), the state keeping what was done; a true one releases them once checked; the next plan
#    checks it at once, as what it reads now exists; a message reading a sensitive value is
#    withheld (in plan -json too); one whose reads -target leaves out is not checked (it stays
#    unknown, as in Terraform); one that reads what reads its variable is a reference cycle, as in
#    Terraform (it was applied before the validation, unchecked); a module input's validation holds
#    only what reads that input, per module instance; a for over an unknown collection in what the
#    validation reads is no cycle (it was refused as one); one whose reads fail is reported not
#    checked, and why, beside the failure (it was said only when nothing failed).
# 3. a for expression over a collection that is itself known only after apply (a workspace's
#    identity block the configuration leaves out) is made at apply from the saved plan, with the
#    body evaluated once on placeholders (unknown for good before: "values are still unknown").
# Canary: the sensitive variable's value appears in no plan, show -json, apply output or log.
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
SUB=00000000-0000-0000-0000-0000000000d7
CANARY=canary-deferred-5f3e91
# a raw state key: no PBKDF2 per command
export AMLSEC_VAR_s=$CANARY AMLSEC_LOG=debug AMLSEC_STATE_KEY=$(printf deferred-test | sha256sum | cut -c1-64)
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

echo "3. a validation known only after apply: carried by the plan, checked by apply"
stop_cloud
rm -rf .amlsec ./*.plan
# unencrypted, so that the plan file's text can be edited below
unset AMLSEC_STATE_KEY
start_cloud --lro-ms 0
validated() { # x's default
  settings
  cat <<EOT

variable "x" {
  type    = string
  default = "$1"
  validation {
    condition     = (var.x == "ok" && length(app_insights.ai.app_id) > 5) || length(app_insights.ai.app_id) < 5
    error_message = "x is \${var.x} while the app id is \${app_insights.ai.app_id}"
  }
}

resource_group "dep" {
  name = "rg-dep"
  tags = { x = var.x }
}

locals {
  tagx = "t-\${var.x}"
}

resource_group "vialocal" {
  name = "rg-vialocal"
  tags = { x = local.tagx }
}

resource_group "after" {
  name = "\${resource_group.dep.name}-after"
}

resource_group "other" {
  name = "rg-other"
}
EOT
}
slow_ai() { # ms: how long app_insights.ai's PUT takes in armlocal
  curl -sf -X PUT -H 'content-type: application/json' \
    -d "{\"lroMsByType\": {\"Microsoft.Insights/components\": $1}}" "$url/_armlocal/settings" > /dev/null \
    || fail "armlocal's settings refused lroMsByType"
}
line_of() { grep -n -m 1 -- "$1" "$2" | cut -d: -f1; } # first line matching, in a file
validated bad > main.amlsec
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p3.plan > plan3.out 2>&1
grep -q 'Validations checked during apply' plan3.out || fail "the plan does not say the validation is checked at apply"
grep -q '^  var.x (main.amlsec:[0-9]*:21) reads app_insights.ai$' plan3.out || fail "the plan does not name the validation"
"$AMLSEC" show -json p3.plan > show3.json 2> show3.err || fail_with "show -json failed" show3.err
jq -e '.deferred_validations == [{"variable": "x", "module": null, "origin": null, "sensitive": false,
  "reads": ["app_insights.ai"], "guards": ["resource_group.dep", "resource_group.vialocal"],
  "at": {"file": "main.amlsec", "line": 22, "column": 13},
  "condition_at": {"file": "main.amlsec", "line": 24, "column": 21}}]' show3.json > /dev/null \
  || fail_with "deferred_validations in show -json" show3.json
"$JSONSCHEMA" "$SRC/docs/schemas/plan.schema.json" show3.json || fail "show -json PLAN against its schema"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -json > plan3.json 2> plan3.err
jq -s -e 'map(select(.type == "deferred_validation")) == [map(select(.type == "deferred_validation"))[0]]
  and (map(select(.type == "deferred_validation"))[0]
       | .validation == {"address": "var.x", "variable": "x", "module": null, "origin": null,
           "sensitive": false, "reads": ["app_insights.ai"],
           "guards": ["resource_group.dep", "resource_group.vialocal"],
           "at": {"file": "main.amlsec", "line": 22, "column": 13},
           "condition_at": {"file": "main.amlsec", "line": 24, "column": 21}}
         and .["@level"] == "info"
         and .["@message"] == "var.x: validation checked during apply, once it can read app_insights.ai")
  and ([.[].type] | index("deferred_validation") < index("change_summary"))' plan3.json > /dev/null \
  || fail_with "plan -json has no deferred_validation message for var.x" plan3.json
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" plan3.json || fail "plan -json against its schema"

echo "4. an edited plan file fails its checksum"
sed 's/"args":\[false,/"args":[true,/' p3.plan > forged.plan
cmp -s p3.plan forged.plan && fail "the forgery changed nothing"
puts0=$(count_puts)
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color forged.plan > apply4.out 2>&1
grep -q 'checksum' apply4.out || fail "the edited plan was not refused for its checksum"
[ "$(count_puts)" = "$puts0" ] || fail "the edited plan sent PUTs"

echo "5. only what reads var.x waits for its validation: rg-other sent while app_insights.ai is made"
slow_ai 1500
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color p3.plan > apply5.out 2>&1
grep -q "error: main.amlsec:22:13: invalid value for variable 'x': x is bad while the app id is [0-9a-f-]\{36\} (checked by the validation at main.amlsec:24:21)" apply5.out \
  || fail "the validation's error is not reported at the value"
other=$(line_of '^resource_group.other: Creation complete' apply5.out)
ai=$(line_of '^app_insights.ai: Creation complete' apply5.out)
[ -n "$other" ] && [ -n "$ai" ] && [ "$other" -lt "$ai" ] \
  || fail_with "rg-other waited for the validation of var.x, which it does not read" apply5.out
grep -q '^resource_group.dep: skipped: the validation of var.x failed$' apply5.out \
  && grep -q '^resource_group.vialocal: skipped: the validation of var.x failed$' apply5.out \
  && grep -q '^resource_group.after: skipped: resource_group.dep did not complete$' apply5.out \
  || fail_with "what reads var.x is not skipped after its validation failed" apply5.out
[ "$(count_puts)" = $((puts0 + 3)) ] || fail "$(( $(count_puts) - puts0 )) PUTs: rg-a, app_insights.ai and rg-other were due"
for rg in rg-dep rg-vialocal rg-dep-after; do
  curl -s -o /dev/null -w '%{http_code}' "$(rg_url $rg)" | grep -q 404 || fail "$rg was PUT"
done
curl -sf "$(rg_url rg-other)" > /dev/null || fail "rg-other was not created"
"$AMLSEC" state list > list5.out 2>&1 || fail_with "state list failed" list5.out
[ "$(grep -c . list5.out)" = 3 ] && grep -qx 'app_insights.ai' list5.out && grep -qx 'resource_group.a' list5.out \
  && grep -qx 'resource_group.other' list5.out || fail_with "the state does not hold what was done" list5.out

echo "6. the next plan checks it at once (app_insights.ai exists); a valid value, checked at apply, releases what it held"
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > plan6.out 2>&1
grep -q "main.amlsec:22:13: error: invalid value for variable 'x': x is bad" plan6.out \
  || fail "the plan does not check the validation whose values are known"
validated ok > main.amlsec
# app_insights.ai replaced: its app id, which the validation reads, is unknown again
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color -auto-approve -replace app_insights.ai > apply6.out 2>&1
grep -q 'Validations checked during apply' apply6.out || fail_with "the validation is not checked during apply" apply6.out
ai=$(line_of '^app_insights.ai: Creation complete' apply6.out)
for r in dep vialocal after; do
  at=$(line_of "^resource_group.$r: Creating\.\.\.$" apply6.out)
  [ -n "$ai" ] && [ -n "$at" ] && [ "$ai" -lt "$at" ] \
    || fail_with "resource_group.$r was sent before the validation of var.x was checked" apply6.out
done
for rg in rg-dep rg-vialocal rg-dep-after; do
  curl -sf "$(rg_url $rg)" > /dev/null || fail "$rg was not created"
done
slow_ai 0

echo "7. a validation whose message reads a sensitive value: withheld, the value nowhere"
stop_cloud
rm -rf .amlsec ./*.plan
export AMLSEC_STATE_KEY=$(printf deferred-test | sha256sum | cut -c1-64)
start_cloud --lro-ms 0
{ settings; cat <<'EOT'

app_insights "ai2" {
  resource_group = resource_group.a
  name           = "ai-deferred-2"
}

resource_group "t" {
  name = "rg-t"
  tags = { t = sha256(var.t) }
}

variable "t" {
  type      = string
  sensitive = true
  validation {
    condition     = var.t == app_insights.ai2.app_id
    error_message = "${var.t} is not ${app_insights.ai2.app_id}"
  }
}
EOT
} > main.amlsec
export AMLSEC_VAR_t=$CANARY
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p7.plan > plan7.out 2>&1
grep -q '^  var.t (main.amlsec:[0-9]*:21) reads app_insights.ai2$' plan7.out || fail "the plan does not name t's validation"
"$AMLSEC" show -json p7.plan > show7.json 2> show7.err || fail_with "show -json failed" show7.err
jq -e '.deferred_validations[0] | .sensitive and (.withheld | test("withheld"))' show7.json > /dev/null \
  || fail_with "t's validation in show -json" show7.json
"$JSONSCHEMA" "$SRC/docs/schemas/plan.schema.json" show7.json || fail "show -json PLAN against its schema"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -json > plan7.json 2> plan7.err
jq -s -e 'map(select(.type == "deferred_validation")) | length == 1 and (.[0].validation
  | .address == "var.t" and .sensitive and (.withheld | test("withheld")) and (has("condition") | not)
    and (has("error_message") | not))' plan7.json > /dev/null \
  || fail_with "t's validation in plan -json" plan7.json
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" plan7.json || fail "plan -json against its schema"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -json p7.plan > apply7.json 2> apply7.out
jq -s -e 'map(select(.type == "diagnostic" and .diagnostic.severity == "error") | .diagnostic.summary
  | test("^main.amlsec:[0-9]+:21: invalid value for variable .t. \\(set by AMLSEC_VAR_t in the environment\\): \\(the error message is withheld: it reads the sensitive value\\)$")) | any' \
  apply7.json > /dev/null 2>&1 || fail "t's validation is not reported in apply -json, withheld"
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" apply7.json || fail "apply -json against its schema"
# the summary counts what was created before the validation stopped the run, not what was planned
jq -s -e --slurpfile plan show7.json '(map(select(.type == "apply_complete" and .hook.action == "create")) | length) as $done
  | ($plan[0].resource_changes | map(select(.change.actions == ["create"])) | length) as $planned
  | map(select(.type == "change_summary" and .changes.operation == "apply"))[0]
  | $done < $planned and .changes.add == $done and .["@level"] == "error"
    and (.["@message"] | startswith("Apply incomplete."))' apply7.json > /dev/null \
  || fail_with "apply -json's summary after the false validation is not what was done" apply7.json
"$AMLSEC" apply -cloud "$url" -no-color -auto-approve > apply7b.out 2>&1
no_canary plan7.out show7.json plan7.json plan7.err apply7.json apply7.out apply7b.out p7.plan

echo "8. for over a collection known only after apply, made at apply from the saved plan"
stop_cloud
rm -rf .amlsec ./*.plan
start_cloud --lro-ms 0
{ settings; cat <<'EOT'

key_vault "kv" {
  resource_group   = resource_group.a
  name             = "kv-deferred"
  purge_protection = true
}

storage_account "st" {
  resource_group = resource_group.a
  name           = "stdeferred"
}

workspace "w" {
  resource_group  = resource_group.a
  name            = "mlw-deferred"
  key_vault       = key_vault.kv
  storage_account = storage_account.st
  app_insights    = app_insights.ai
}

resource_group "f" {
  name = "rg-f"
  tags = {
    keys = join(",", [for k, v in workspace.w.identity : k])
    up   = join(",", [for k, v in workspace.w.identity : upper(k) if k != "principal_id"])
    m    = jsonencode({ for k, v in workspace.w.identity : k => length(v) if k == "type" })
    g    = jsonencode({ for k, v in workspace.w.identity : (k == "type" ? v : "id") => k... })
    n    = length([for k, v in workspace.w.identity : [for x in [k, "z"] : x]])
  }
}
EOT
} > main.amlsec
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p8.plan > plan8.out 2>&1
for t in keys up m g n; do
  grep -q " $t *= (known after apply)" plan8.out \
    || fail "$t should be known after apply"
done
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color p8.plan > apply8.out 2>&1
curl -sf "$(rg_url rg-f)" > rg-f.json || fail "no rg-f"
jq -e '.tags == {keys: "principal_id,type", up: "TYPE", m: "{\"type\":14}",
  g: "{\"SystemAssigned\":[\"type\"],\"id\":[\"principal_id\"]}", n: "2"}' rg-f.json > /dev/null \
  || fail_with "tags of rg-f" rg-f.json
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -detailed-exitcode > plan8b.out 2>&1
no_canary plan8.out apply8.out plan8b.out

echo "9. -target leaving out what a validation reads: it stays unknown and is not checked (Terraform)"
stop_cloud
rm -rf .amlsec ./*.plan
unset AMLSEC_STATE_KEY AMLSEC_VAR_t
start_cloud --lro-ms 0
validated bad > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color -auto-approve -target resource_group.other > apply9.out 2>&1
grep -q 'Validations checked during apply' apply9.out && fail "a validation nothing targeted reads is listed"
curl -sf "$(rg_url rg-other)" > /dev/null || fail "rg-other was not created"

echo "10. a validation that reads what reads its variable: a reference cycle, as in Terraform"
{ validated bad | sed 's/^  name = "rg-a"$/&\n  tags = { x = var.x }/'; } > main.amlsec
puts0=$(count_puts)
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > plan10.out 2>&1
grep -q '^main.amlsec:[0-9]*:21: error: reference cycle: var.x (validation) -> app_insights.ai -> resource_group.a -> var.x (validation)$' plan10.out \
  || fail_with "the cycle through the validation is not reported at its condition" plan10.out
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color -auto-approve > apply10.out 2>&1
[ "$(count_puts)" = "$puts0" ] || fail "the cycle was applied"

echo "11. a module input's validation holds only what reads the input, per module instance"
stop_cloud
rm -rf .amlsec ./*.plan
start_cloud --lro-ms 0
mkdir -p team
cat > team/main.amlsec <<'EOT'
variable "label" {
  type = string
}

variable "app" {
  type = string
  validation {
    condition     = length(var.app) > 40
    error_message = "app id too short"
  }
}

resource_group "own" {
  name = "rg-team-${var.label}"
}

resource_group "tagged" {
  name = "rg-tagged-${var.label}"
  tags = { app = var.app }
}
EOT
{ settings; cat <<'EOT'

module "team" {
  source   = "./team"
  for_each = { a = "x", b = "y" }
  label    = each.value
  app      = app_insights.ai.app_id
}
EOT
} > main.amlsec
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p11.plan > plan11.out 2>&1
"$AMLSEC" show -json p11.plan > show11.json 2> show11.err || fail_with "show -json failed" show11.err
jq -e '[.deferred_validations[] | {module: .module, guards: .guards}] == [
  {"module": "module.team[\"a\"]", "guards": ["module.team[\"a\"].resource_group.tagged"]},
  {"module": "module.team[\"b\"]", "guards": ["module.team[\"b\"].resource_group.tagged"]}]' show11.json > /dev/null \
  || fail_with "the module inputs' validations do not hold what reads them" show11.json
puts0=$(count_puts)
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color p11.plan > apply11.out 2>&1
for k in a b; do
  grep -q "^module.team\[\"$k\"\].resource_group.tagged: skipped: the validation of module.team\[\"$k\"\].var.app failed$" apply11.out \
    || fail_with "module.team[\"$k\"]'s tagged group is not skipped" apply11.out
done
[ "$(count_puts)" = $((puts0 + 4)) ] || fail "$(( $(count_puts) - puts0 )) PUTs: rg-a, app_insights.ai and the two own groups were due"

echo "12. what the validation reads holds a for over an unknown collection: no cycle, not a guard"
{ settings | sed 's/^  name           = "ai-deferred"$/&\n  tags           = { t = join("+", [for c in split("-", app_insights.ai0.app_id) : upper(c)]) }/'
  cat <<'EOT'

app_insights "ai0" {
  resource_group = resource_group.a
  name           = "ai-zero"
}

variable "x" {
  type    = string
  default = "ok"
  validation {
    condition     = var.x == "ok" && length(app_insights.ai.app_id) > 5
    error_message = "x is ${var.x}"
  }
}

resource_group "dep" {
  name = "rg-dep"
  tags = { x = var.x }
}
EOT
} > main.amlsec
grep -q 'for c in split' main.amlsec || fail "the test's configuration has no for expression"
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -replace app_insights.ai -out p12.plan > plan12.out 2>&1
"$AMLSEC" show -json p12.plan > show12.json 2> show12.err || fail_with "show -json failed" show12.err
jq -e '.deferred_validations[0].guards == ["resource_group.dep"]' show12.json > /dev/null \
  || fail_with "app_insights.ai, which reads no variable, holds for its own validation" show12.json
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color p12.plan > apply12.out 2>&1

echo "13. what a validation reads fails: the validation is reported unchecked, and why, beside the failure"
# (before: only the failure was reported; the unchecked validation was said only when nothing failed)
stop_cloud
rm -rf .amlsec ./*.plan
start_cloud --lro-ms 0
validated ok > main.amlsec
fault_ai() { # app_insights.ai's next create refused (403 is never retried)
  curl -sf -X POST -H 'content-type: application/json' \
    -d '{"kind": "403", "method": "PUT", "path": "*/components/ai-deferred", "times": 1}' \
    "$url/_armlocal/faults" > /dev/null || fail "armlocal refused the fault"
}
fault_ai
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color -auto-approve > apply13.out 2> apply13.err
grep -q '^app_insights.ai: Creating failed after' apply13.out || fail_with "app_insights.ai's create did not fail" apply13.out
unchecked="main.amlsec:24:21: the validation of variable 'x' could not be checked: app_insights.ai, which its condition reads, failed; what reads the variable was not started"
grep -qxF "Validation not checked: $unchecked" apply13.out || fail_with "the unchecked validation is not said" apply13.out
grep -qxF "amlsec: error: $unchecked" apply13.err || fail_with "the unchecked validation is not among the errors" apply13.err
grep -q '^amlsec: error: app_insights.ai: Creating failed' apply13.err || fail_with "the failure is not among the errors" apply13.err
grep -q 'apply incomplete: .* 1 failed' apply13.err || fail_with "the summary" apply13.err
grep -q 'resource_group.dep: Creating\|resource_group.vialocal: Creating' apply13.out \
  && fail_with "what reads var.x was sent unchecked" apply13.out
fault_ai
expect_exit 1 "$AMLSEC" apply -cloud "$url" -json -auto-approve > apply13.json 2> apply13j.err
jq -e -s --arg u "$unchecked" 'map(select(.type == "diagnostic" and .diagnostic.severity == "error") | .diagnostic)
  | (map(select(.summary == $u)) | length == 1) and (map(select(.address == "app_insights.ai")) | length == 1)' apply13.json > /dev/null \
  || fail_with "apply -json lacks the unchecked validation or the failure" apply13.json
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" apply13.json || fail "apply -json against its schema"
echo "ok"
