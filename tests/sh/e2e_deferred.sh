#!/usr/bin/env bash
# What is known only after apply is evaluated at apply, as Terraform does, against the local cloud:
# 1. a map whose key is known only after apply is known after apply as a whole and made once the
#    key exists (an error before: "a map key must be known when planning"); a key repeated at
#    apply fails the resource with the key's location, a sensitive key unquoted.
# 2. a variable's validation whose condition is known only after apply (skipped for good before) is
#    carried by the plan (plan output, show -json's deferred_validations, the saved plan, whose
#    checksum still catches an edit) and checked by apply once what it reads exists: a false one
#    stops the apply before anything else is sent (exit 1, the message at the value, the PUTs
#    counted in armlocal's request log), the state keeping what was done; the next plan checks it
#    at once, as what it reads now exists; a message reading a sensitive value is withheld; one
#    whose reads -target leaves out is not checked (it stays unknown, as in Terraform).
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

echo "3. a validation known only after apply: carried by the plan, checked by apply"
stop_cloud
rm -rf .amlsec ./*.plan
# unencrypted, so that the plan file's text can be edited below
unset AMLSEC_STATE_PASSPHRASE
start_cloud --lro-ms 0
validated() { # x's default
  settings
  cat <<EOT

variable "x" {
  type    = string
  default = "$1"
  validation {
    condition     = var.x == "ok" || length(app_insights.ai.app_id) < 5
    error_message = "x is \${var.x} while the app id is \${app_insights.ai.app_id}"
  }
}

resource_group "dep" {
  name = "rg-dep"
  tags = { x = var.x }
}

resource_group "other" {
  name = "rg-other"
}
EOT
}
validated bad > main.amlsec
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p3.plan > plan3.out 2>&1
grep -q 'Validations checked during apply' plan3.out || fail "the plan does not say the validation is checked at apply"
grep -q '^  var.x (main.amlsec:[0-9]*:21) reads app_insights.ai$' plan3.out || fail "the plan does not name the validation"
"$AMLSEC" show -json p3.plan > show3.json 2> show3.err || fail_with "show -json failed" show3.err
jq -e '.deferred_validations == [{"variable": "x", "module": null, "origin": null, "sensitive": false,
  "reads": ["app_insights.ai"], "at": {"file": "main.amlsec", "line": 22, "column": 13},
  "condition_at": {"file": "main.amlsec", "line": 24, "column": 21}}]' show3.json > /dev/null \
  || fail_with "deferred_validations in show -json" show3.json
"$JSONSCHEMA" "$SRC/docs/schemas/plan.schema.json" show3.json || fail "show -json PLAN against its schema"

echo "4. an edited plan file fails its checksum"
sed 's/"args":\[false,/"args":[true,/' p3.plan > forged.plan
cmp -s p3.plan forged.plan && fail "the forgery changed nothing"
puts0=$(count_puts)
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color forged.plan > apply4.out 2>&1
grep -q 'checksum' apply4.out || fail "the edited plan was not refused for its checksum"
[ "$(count_puts)" = "$puts0" ] || fail "the edited plan sent PUTs"

echo "5. apply stops at the false validation once app_insights.ai exists: rg-dep, rg-other not PUT"
expect_exit 1 "$AMLSEC" apply -cloud "$url" -no-color p3.plan > apply5.out 2>&1
grep -q "error: main.amlsec:22:13: invalid value for variable 'x': x is bad while the app id is [0-9a-f-]\{36\} (checked by the validation at main.amlsec:24:21)" apply5.out \
  || fail "the validation's error is not reported at the value"
[ "$(count_puts)" = $((puts0 + 2)) ] || fail "$(( $(count_puts) - puts0 )) PUTs: only rg-a and app_insights.ai were due"
curl -s -o /dev/null -w '%{http_code}' "$(rg_url rg-dep)" | grep -q 404 || fail "rg-dep was PUT"
curl -s -o /dev/null -w '%{http_code}' "$(rg_url rg-other)" | grep -q 404 || fail "rg-other was PUT"
"$AMLSEC" state list > list5.out 2>&1 || fail_with "state list failed" list5.out
[ "$(grep -c . list5.out)" = 2 ] && grep -qx 'app_insights.ai' list5.out && grep -qx 'resource_group.a' list5.out \
  || fail_with "the state does not hold what was done" list5.out

echo "6. the next plan checks it at once (app_insights.ai exists); a valid value applies"
expect_exit 1 "$AMLSEC" plan -cloud "$url" -no-color > plan6.out 2>&1
grep -q "main.amlsec:22:13: error: invalid value for variable 'x': x is bad" plan6.out \
  || fail "the plan does not check the validation whose values are known"
validated ok > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color -auto-approve > apply6.out 2>&1
curl -sf "$(rg_url rg-dep)" > /dev/null || fail "rg-dep was not created"

echo "7. a validation whose message reads a sensitive value: withheld, the value nowhere"
stop_cloud
rm -rf .amlsec ./*.plan
export AMLSEC_STATE_PASSPHRASE=deferred-test-passphrase
start_cloud --lro-ms 0
{ settings; cat <<'EOT'

app_insights "ai2" {
  resource_group = resource_group.a
  name           = "ai-deferred-2"
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
no_canary plan7.out show7.json apply7.json apply7.out apply7b.out p7.plan

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
  g: "{\"SystemAssigned\":[\"type\"],\"id\":[\"principal_id\"]}", n: 2}' rg-f.json > /dev/null \
  || fail_with "tags of rg-f" rg-f.json
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -detailed-exitcode > plan8b.out 2>&1
no_canary plan8.out apply8.out plan8b.out

echo "9. -target leaving out what a validation reads: it stays unknown and is not checked (Terraform)"
stop_cloud
rm -rf .amlsec ./*.plan
unset AMLSEC_STATE_PASSPHRASE AMLSEC_VAR_t
start_cloud --lro-ms 0
validated bad > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -no-color -auto-approve -target resource_group.other > apply9.out 2>&1
grep -q 'Validations checked during apply' apply9.out && fail "a validation nothing targeted reads is listed"
curl -sf "$(rg_url rg-other)" > /dev/null || fail "rg-other was not created"
echo "ok"
