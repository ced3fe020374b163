#!/usr/bin/env bash
# amlsec check (issue 16): the rule catalogue and Azure Policy definitions against the requests
# of a configuration and of a saved plan, offline (-policy, -aliases) and read from ARM (-cloud,
# then cached under .amlsec/policy); -fail-on; the reports (-json, SARIF 2.1.0 with its
# required fields, JUnit parsed back, a bounded Markdown comment) carry no secret.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SHARED:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
POL=$SHARED/data/policies
ALIASES=$SHARED/data/policy-aliases.csv
CANARY=CANARY-pw-9f3b71c2e4
# a raw state key: the passphrase's 600,000 PBKDF2 rounds (about 1 s of CPU a command under
# ASan) are for the tests of the passphrase itself (sh.canary, sh.secrets, sh.plan_binding)
export AMLSEC_STATE_KEY=$(printf check-cli | sha256sum | cut -c1-64)

mkdir gate
cat > gate/main.amlsec <<CFG
settings {
  subscription = "00000000-0000-0000-0000-0000000000c1"
  location     = "westeurope"
}

variable "admin_password" {
  type      = string
  sensitive = true
}

resource_group "ml" {
  name = "rg-gate"
}

key_vault "kv" {
  resource_group   = resource_group.ml
  name             = "kv-gate-001"
  purge_protection = true
}

storage_account "st" {
  resource_group = resource_group.ml
  name           = "stgate001"
}

workspace "open" {
  resource_group        = resource_group.ml
  name                  = "mlw-open"
  key_vault             = key_vault.kv
  storage_account       = storage_account.st
  public_network_access = true
}

compute_cluster "cpu" {
  workspace  = workspace.open
  name       = "cpu"
  vm_size    = "Standard_DS3_v2"
  local_auth = true
  scale {
    max = 2
  }
  admin {
    user     = "azureuser"
    password = var.admin_password
  }
}

policy_assignment "no_public" {
  scope      = resource_group.ml
  definition = "438c38d2-3772-465a-a9cc-7a6666a275ce"
  parameters = { effect = "Deny" }
}

policy_assignment "local_auth" {
  scope      = resource_group.ml
  definition = "e96a9a5f-07ca-471b-9bc5-6a0f33cbd68f"
  enforce    = false
  parameters = { effect = "Deny" }
}
CFG
# a custom definition that looks at the password itself: its evidence must stay redacted
mkdir custom
cat > custom/password.json <<'DEF'
{"name": "custom-password", "properties": {"displayName": "compute admin passwords are not allowed", "mode": "All",
 "policyRule": {"if": {"allOf": [
   {"field": "type", "equals": "Microsoft.MachineLearningServices/workspaces/computes"},
   {"field": "Microsoft.MachineLearningServices/workspaces/computes/userAccountCredentials.adminUserPassword", "exists": true}]},
  "then": {"effect": "audit"}}}}
DEF

echo "1. offline: assignments found in -policy, aliases from the CSV"
expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -no-color -policy "$POL" -aliases "$ALIASES" gate > c1.out 2>&1
grep -q '^gate/main.amlsec:[0-9]*:1: deny: workspace.open: policy "Azure Machine Learning Workspaces should disable public network access" \[/providers/Microsoft.Authorization/policyDefinitions/438c38d2-3772-465a-a9cc-7a6666a275ce\]$' c1.out \
  || fail "the Deny finding with location, name and id"
grep -q 'Deny: Azure would refuse the request; properties.publicNetworkAccess is "Enabled" (notEquals)' c1.out \
  || fail "the deciding alias path and value"
# enforce = false: the Deny is reported at audit level
grep -q 'audit: compute_cluster.cpu: policy "Azure Machine Learning Computes should have local authentication methods disabled"' c1.out \
  || fail "DoNotEnforce Deny as audit"
grep -q 'Deny (not enforced: DoNotEnforce); properties.disableLocalAuth is false (notEquals)' c1.out \
  || fail "DoNotEnforce message"
grep -q '^Check failed: 1 deny' c1.out || fail "summary"
expect_exit 0 "$AMLSEC" check -var "admin_password=$CANARY" -no-color -fail-on never -policy "$POL" -aliases "$ALIASES" gate > c2.out 2>&1
grep -q '(-fail-on never)' c2.out || fail "-fail-on never"
expect_exit 1 "$AMLSEC" check -var "admin_password=$CANARY" -fail-on sometimes gate > c3.out 2>&1
grep -q "fail-on takes deny, audit or never" c3.out || fail "bad -fail-on"
# without definitions: the assignment is reported as not evaluable, exit 0
expect_exit 0 "$AMLSEC" check -var "admin_password=$CANARY" -no-color gate > c4.out 2>&1
grep -q "info: policy_assignment.no_public: policy" c4.out || fail "missing definition: where"
grep -q "not evaluable offline: the policy definition '438c38d2-3772-465a-a9cc-7a6666a275ce' is not available" c4.out \
  || fail "missing definition reported"
# definitions but no aliases: a clear error
expect_exit 1 "$AMLSEC" check -var "admin_password=$CANARY" -policy "$POL" gate > c5.out 2>&1
grep -q "needs the provider aliases: pass -aliases FILE" c5.out || fail "no aliases error"

# a policy_definition of the configuration, assigned: evaluated before either exists
mkdir owndef && cp gate/main.amlsec owndef/ && cat >> owndef/main.amlsec <<'CFG'

policy_definition "no_local_auth" {
  display_name = "computes keep local auth off"
  mode         = "All"
  policy_rule = {
    if = { allOf = [
      { field = "type", equals = "Microsoft.MachineLearningServices/workspaces/computes" },
      { field = "Microsoft.MachineLearningServices/workspaces/computes/disableLocalAuth", notEquals = true }
    ] }
    then = { effect = "deny" }
  }
}

policy_assignment "own" {
  scope      = resource_group.ml
  definition = policy_definition.no_local_auth.id
}
CFG
expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -no-color -policy "$POL" -aliases "$ALIASES" owndef > own.out 2>&1
grep -q 'deny: compute_cluster.cpu: policy "computes keep local auth off" \[/subscriptions/00000000-0000-0000-0000-0000000000c1/providers/Microsoft.Authorization/policyDefinitions/no_local_auth\]' own.out \
  || fail "the configuration's own definition: $(cat own.out)"

echo "2. reports: JSON, SARIF 2.1.0, JUnit, Markdown; the canary is nowhere"
expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -json -policy "$POL" -policy custom -aliases "$ALIASES" \
  -sarif r.sarif -junit r.xml -markdown r.md gate > r.json 2> r.err
python3 - r.json r.sarif r.xml r.md <<'PY' || fail "report checks"
import json, sys, xml.etree.ElementTree as ET
doc = json.load(open(sys.argv[1]))
assert doc["format_version"] == "1.0" and doc["command"] == "check", doc.keys()
levels = {f["level"] for f in doc["findings"]}
assert "deny" in levels and "audit" in levels, levels
deny = [f for f in doc["findings"] if f["level"] == "deny"]
assert deny[0]["evidence"] == {"attribute": "Microsoft.MachineLearningServices/workspaces/publicNetworkAccess",
                               "path": "properties.publicNetworkAccess", "value": "Enabled"}, deny[0]
assert deny[0]["location"]["file"] == "gate/main.amlsec" and deny[0]["location"]["line"] > 1
pw = [f for f in doc["findings"] if f["rule_id"] == "custom-password"]
assert pw and pw[0]["evidence"]["value"] == "(sensitive)", pw
# SARIF 2.1.0: the schema's required properties
s = json.load(open(sys.argv[2]))
assert s["version"] == "2.1.0" and s["$schema"].endswith("sarif-2.1.0.json")
run = s["runs"][0]
drv = run["tool"]["driver"]
assert drv["name"] == "amlsec"
ids = [r["id"] for r in drv["rules"]]
assert len(ids) == len(set(ids))
for r in drv["rules"]:
    assert r["shortDescription"]["text"] and r["help"]["text"], r
for res in run["results"]:
    assert res["message"]["text"] and res["ruleId"] == ids[res["ruleIndex"]], res
    assert res["level"] in ("error", "warning", "note", "none")
    for loc in res.get("locations", []):
        if "physicalLocation" in loc:
            pl = loc["physicalLocation"]
            assert pl["artifactLocation"]["uri"] == "gate/main.amlsec"
            assert pl["region"]["startLine"] >= 1 and pl["region"]["startColumn"] >= 1
assert any(r["level"] == "error" for r in run["results"])
# JUnit: parses, counts agree, one case per resource and rule
t = ET.parse(sys.argv[3]).getroot()
assert t.tag == "testsuites"
cases = [c for s_ in t for c in s_.findall("testcase")]
assert int(t.get("tests")) == len(cases), (t.get("tests"), len(cases))
fails = [c for c in cases if c.find("failure") is not None]
assert int(t.get("failures")) == len(fails)
names = {(c.get("classname"), c.get("name").split(":")[0]) for c in cases}
assert ("workspace.open", "/providers/Microsoft.Authorization/policyDefinitions/438c38d2-3772-465a-a9cc-7a6666a275ce") in names
assert any(c.get("classname") == "workspace.open" and c.find("failure") is None for c in cases), "passes listed"
md = open(sys.argv[4]).read()
assert md.startswith("### amlsec check") and "| deny | audit | info | passed |" in md
assert "<details>" in md and len(md) <= 60000
PY
if grep -l "$CANARY" r.json r.sarif r.xml r.md r.err; then fail "the canary secret leaked into a report"; fi

# validate writes the same reports from its diagnostics
mkdir bad && printf 'resource_group "x" {\n  nmae = "rg"\n}\n' > bad/main.amlsec
expect_exit 1 "$AMLSEC" validate -sarif v.sarif -junit v.xml -markdown v.md bad > v.out 2>&1
python3 - v.sarif v.xml <<'PY' || fail "validate reports"
import json, sys, xml.etree.ElementTree as ET
run = json.load(open(sys.argv[1]))["runs"][0]
err = [r for r in run["results"] if r["level"] == "error"]
assert err and err[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 2, run["results"]
t = ET.parse(sys.argv[2]).getroot()
assert int(t.get("failures")) >= 1 and t.find("testsuite/testcase/failure") is not None
PY
grep -q '^### amlsec validate' v.md || fail "validate markdown"
"$AMLSEC" validate -var "admin_password=$CANARY" -junit vg.xml gate > vg.out 2>&1 || fail "validate gate"
python3 - vg.xml <<'PY' || fail "validate JUnit lists the passing rules"
import sys, xml.etree.ElementTree as ET
cases = ET.parse(sys.argv[1]).getroot().findall("testsuite/testcase")
passed = [c for c in cases if len(c) == 0]
assert any(c.get("classname") == "workspace.open" and c.get("name").startswith("WS-CMK") for c in passed), \
    [(c.get("classname"), c.get("name")) for c in passed][:5]
PY

echo "3. the Markdown comment stays bounded"
mkdir big
cp gate/main.amlsec big/
for i in $(seq 1 400); do
  printf 'workspace "w%d" {\n  resource_group        = resource_group.ml\n  name                  = "mlw-%d"\n  key_vault             = key_vault.kv\n  storage_account       = storage_account.st\n  public_network_access = true\n}\n' "$i" "$i" >> big/main.amlsec
done
expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -policy "$POL" -aliases "$ALIASES" -markdown big.md big > big.out 2>&1
size=$(wc -c < big.md)
[ "$size" -le 60000 ] || fail "markdown is $size bytes"
grep -q 'more findings not shown' big.md || fail "truncation note"

echo "4. read from ARM with -cloud, cached under .amlsec/policy, then offline from the cache"
start_cloud --policy-definitions "$POL" --aliases "$ALIASES"
expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -no-color -cloud "$url" gate > a1.out 2>&1
grep -q 'deny: workspace.open: policy "Azure Machine Learning Workspaces should disable public network access"' a1.out \
  || fail "definition read from ARM"
[ -s gate/.amlsec/policy/definitions/438c38d2-3772-465a-a9cc-7a6666a275ce.json ] || fail "definition cached"
[ -s gate/.amlsec/policy/aliases.json ] || fail "aliases cached"
stop_cloud
expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -no-color gate > a2.out 2>&1
diff <(grep -v '^Check' a1.out) <(grep -v '^Check' a2.out) > /dev/null || fail "cached run differs"

echo "5. a saved plan: exactly what apply would send"
start_cloud
(cd gate && expect_exit 0 "$AMLSEC" plan -var "admin_password=$CANARY" -cloud "$url" -out ../gate.plan -no-color \
  -markdown ../plan.md -sarif ../plan.sarif > ../p.out 2>&1)
# plan evaluates the assignments (definitions and aliases from the cache step 4 left)
grep -q '^Azure Policy: 1 deny, 1 audit' p.out || fail "plan shows the policy findings"
grep -q 'deny: workspace.open: policy "Azure Machine Learning Workspaces should disable public network access"' p.out \
  || fail "plan shows the Deny finding"
grep -q '^Azure would refuse 1 request(s): applying this plan will fail.$' p.out || fail "plan warns"
grep -q '^#### Changes' plan.md && grep -q '| create | `workspace.open` |' plan.md || fail "plan Markdown changes"
python3 -c 'import json,sys; s=json.load(open("plan.sarif")); assert s["version"]=="2.1.0" and any(r["level"]=="error" for r in s["runs"][0]["results"])' \
  || fail "plan SARIF"
# apply shows them before asking
(cd gate && echo no | "$AMLSEC" apply -var "admin_password=$CANARY" -cloud "$url" -no-color > ../ap.out 2>&1)
awk '/^Azure Policy: 1 deny/{p=NR} /Enter a value/{a=NR} END{exit !(p && a && p < a)}' ap.out \
  || fail "apply shows the policy findings before approval"
if grep -l "$CANARY" p.out plan.md plan.sarif ap.out; then fail "the canary leaked from plan"; fi
(cd gate && expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -no-color -plan ../gate.plan -policy "$POL" -policy ../custom \
  -aliases "$ALIASES" -json > ../p.json 2> ../p.err)
python3 - p.json <<'PY' || fail "plan check"
import json, sys
doc = json.load(open(sys.argv[1]))
f = {(x["address"], x["rule_id"].split("/")[-1]): x for x in doc["findings"] if x["source"] == "policy"}
assert f[("workspace.open", "438c38d2-3772-465a-a9cc-7a6666a275ce")]["level"] == "deny", f.keys()
pw = f[("compute_cluster.cpu", "custom-password")]
assert pw["evidence"]["value"] == "(sensitive)", pw
PY
if grep -l "$CANARY" p.json p.err; then fail "the canary leaked from the plan"; fi

echo "5b. definitions deciding on the password: judged on its value, which no report shows"
# a Deny on the value itself (judged on "(sensitive)" before: compliant), an evaluation error
# quoting it, a Modify copying it into a tag and a value expression over it (the three quoted
# it, upper case too, in a saved plan's check)
PWA=Microsoft.MachineLearningServices/workspaces/computes/userAccountCredentials.adminUserPassword
mkdir custom2
for d in "pw-like|{\"field\": \"$PWA\", \"like\": \"CANARY-*\"}|{\"effect\": \"deny\"}" \
  "pw-int|{\"value\": \"[int(field('$PWA'))]\", \"equals\": 1}|{\"effect\": \"deny\"}" \
  "pw-upper|{\"value\": \"[toUpper(field('$PWA'))]\", \"notEquals\": \"x\"}|{\"effect\": \"audit\"}" \
  "pw-modify|{\"field\": \"$PWA\", \"exists\": true}|{\"effect\": \"modify\", \"details\": {\"roleDefinitionIds\": [\"/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c\"], \"operations\": [{\"operation\": \"addOrReplace\", \"field\": \"tags.copy\", \"value\": \"[concat('x', field('$PWA'))]\"}]}}"; do
  IFS='|' read -r name if then <<< "$d"
  printf '{"name": "%s", "properties": {"displayName": "%s", "mode": "All", "policyRule": {"if": {"allOf": [{"field": "type", "equals": "Microsoft.MachineLearningServices/workspaces/computes"}, %s]}, "then": %s}}}\n' \
    "$name" "$name" "$if" "$then" > "custom2/$name.json"
done
(cd gate && expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -json -policy ../custom2 -aliases "$ALIASES" \
  -sarif ../s1.sarif -junit ../s1.xml -markdown ../s1.md > ../s1.json 2> ../s1.err)
(cd gate && expect_exit 2 "$AMLSEC" check -var "admin_password=$CANARY" -json -plan ../gate.plan -policy ../custom2 \
  -aliases "$ALIASES" -sarif ../s2.sarif -junit ../s2.xml -markdown ../s2.md > ../s2.json 2> ../s2.err)
for j in s1.json s2.json; do
  jq -e '[.findings[] | select(.rule_id | startswith("pw-")) | {(.rule_id): .verdict}] | add
         | . == {"pw-like": "noncompliant", "pw-int": "error", "pw-upper": "noncompliant", "pw-modify": "noncompliant"}' \
    "$j" > /dev/null || fail "$j: the verdicts on the password: $(jq -c '[.findings[] | select(.source == "policy") | [.rule_id, .verdict]]' "$j")"
done
if grep -i -l -- "$CANARY" s1.* s2.*; then fail "the canary leaked from check over its value"; fi

echo "6. a saved plan: the assignments and resources it leaves alone (the state), findings at file:line"
mkdir later later-pol
cat > later/main.amlsec <<'CFG'
settings {
  subscription = "00000000-0000-0000-0000-0000000000c6"
  location     = "westeurope"
}

resource_group "ml" {
  name = "rg-later"
}

key_vault "kv" {
  resource_group   = resource_group.ml
  name             = "kv-later-001"
  purge_protection = true
}

storage_account "st" {
  resource_group = resource_group.ml
  name           = "stlater001"
}

workspace "ws" {
  resource_group        = resource_group.ml
  name                  = "mlw-later"
  key_vault             = key_vault.kv
  storage_account       = storage_account.st
  public_network_access = false
}

diagnostic_setting "ws" {
  target        = workspace.ws
  log_analytics = "/subscriptions/${settings.subscription}/resourceGroups/rg-ops/providers/Microsoft.OperationalInsights/workspaces/law-ops"
  logs          = ["allLogs"]
}

policy_assignment "no_public" {
  scope      = resource_group.ml
  definition = "438c38d2-3772-465a-a9cc-7a6666a275ce"
  parameters = { effect = "Deny" }
}
CFG
# an AuditIfNotExists definition in the shape of Azure's resource-log built-ins: the workspace
# needs a diagnostic setting (an extension resource under it) that sends logs to a workspace
cat > later-pol/ws-logs.json <<'DEF'
{"name": "ws-logs", "properties": {"displayName": "Workspaces send resource logs", "mode": "Indexed",
 "parameters": {"effect": {"type": "String", "defaultValue": "AuditIfNotExists"}},
 "policyRule": {"if": {"field": "type", "equals": "Microsoft.MachineLearningServices/workspaces"},
  "then": {"effect": "[parameters('effect')]", "details": {"type": "Microsoft.Insights/diagnosticSettings",
   "existenceCondition": {"allOf": [
     {"field": "Microsoft.Insights/diagnosticSettings/logs.enabled", "equals": "true"},
     {"field": "Microsoft.Insights/diagnosticSettings/workspaceId", "exists": "true"}]}}}}}}
DEF
cp "$POL/Workspace_PublicNetworkAccessDisabled_Audit.json" later-pol/
(cd later && expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > ../later-apply.out 2>&1)
# the pull request opens the workspace: the plan changes the workspace and nothing else
sed -i 's/public_network_access = false/public_network_access = true/' later/main.amlsec
(cd later && expect_exit 2 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -out ../later.plan -no-color > ../later-plan.out 2>&1)
grep -q '^Plan: 0 to add, 1 to change, 0 to destroy' later-plan.out || fail "the plan changes only the workspace: $(cat later-plan.out)"
ws_line=$(grep -n '^workspace "ws"' later/main.amlsec | cut -d: -f1)
(cd later && expect_exit 2 "$AMLSEC" check -plan ../later.plan -policy ../later-pol -aliases "$ALIASES" -json -junit ../later.xml > ../later.json 2> ../later.err)
python3 - later.json later.xml "$ws_line" <<'PY' || fail "check -plan: $(cat later.json later.err)"
import json, sys, xml.etree.ElementTree as ET
doc = json.load(open(sys.argv[1]))
pol = [f for f in doc["findings"] if f["source"] == "policy"]
# the assignment the plan does not change is in effect: its Deny (not the definition's default Audit)
deny = [f for f in pol if f["rule_id"].endswith("438c38d2-3772-465a-a9cc-7a6666a275ce")]
assert len(deny) == 1 and deny[0]["level"] == "deny" and deny[0]["address"] == "workspace.ws", pol
# at the workspace block's file:line, though the plan file holds no .amlsec file
loc = deny[0]["location"]
assert loc and loc["file"] == "main.amlsec" and loc["line"] == int(sys.argv[3]) and loc["column"] == 1, loc
# the existence condition finds the diagnostic setting in the state: compliant, no finding
assert not [f for f in pol if f["rule_id"] == "ws-logs"], [f for f in pol if f["rule_id"] == "ws-logs"]
cases = [c for s in ET.parse(sys.argv[2]).getroot() for c in s.findall("testcase")]
logs = [c for c in cases if c.get("classname") == "workspace.ws" and c.get("name").startswith("ws-logs")]
assert len(logs) == 1 and len(logs[0]) == 0, [(c.get("classname"), c.get("name"), len(c)) for c in cases]
PY
# without the state the plan was made against, what it leaves alone cannot be seen: said so
mkdir elsewhere
(cd elsewhere && expect_exit 0 "$AMLSEC" check -plan ../later.plan -policy ../later-pol -aliases "$ALIASES" -json > ../else.json 2> ../else.err)
grep -q 'no state here, but ../later.plan was made against one' else.err || fail "no warning without the state: $(cat else.err)"
# show -json's policy section evaluates the same assignments (definitions and aliases cached)
mkdir -p later/.amlsec/policy && cp -r gate/.amlsec/policy/. later/.amlsec/policy/
(cd later && "$AMLSEC" show -json ../later.plan > ../later-show.json 2> ../later-show.err) || fail "show -json: $(cat later-show.err)"
jq -e --argjson line "$ws_line" '[.policy.findings[] | select(.address == "workspace.ws" and .level == "deny")] | length == 1 and
       (.[0].location | .file == "main.amlsec" and .line == $line)' later-show.json > /dev/null \
  || fail "show -json policy: $(jq -c .policy later-show.json)"
# without the diagnostic setting in the state the existence cannot be judged offline
(cd later && "$AMLSEC" state rm diagnostic_setting.ws > /dev/null 2>&1) || fail "state rm"
(cd later && expect_exit 2 "$AMLSEC" check -plan ../later.plan -policy ../later-pol -aliases "$ALIASES" -json > ../later2.json 2> ../later2.err)
jq -e '[.findings[] | select(.rule_id == "ws-logs")][0] | .level == "info" and .verdict == "not_evaluable" and
       (.message | test("no related Microsoft.Insights/diagnosticSettings under the resource.* in the plan or state"))' later2.json > /dev/null \
  || fail "not evaluable without the setting: $(jq -c '[.findings[] | select(.rule_id == "ws-logs")]' later2.json)"
grep -q 'the state changed since ../later.plan was made' later2.err || fail "a stale plan is named: $(cat later2.err)"
echo OK
