#!/usr/bin/env bash
# show -json of the state in Terraform's state representation (issue 19; docs/state.md): with no
# state {"format_version": "1.0"} alone; after an apply values.root_module with resources and
# child_modules per module instance (address, mode, type, name, index, provider_name,
# schema_version, values in the kind's attributes, sensitive_values, depends_on), the outputs,
# terraform_version, and amlsec's lineage, serial, cloud, arm_id and api_version; a tainted
# instance says tainted: true. Canaries (a sensitive module argument, a value an older state
# marks by JSON pointer, in a kind this amlsec has and in one it does not) never appear unless
# -show-sensitive; sensitive_values marks them either way. state pull still prints the raw
# state. Against tests/data/modules and the embedded local cloud.
set -uo pipefail
: "${AMLSEC:?}" "${SRC:?}" "${JSONSCHEMA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
fail() { echo "FAIL: $*" >&2; exit 1; }
cp -r "$SRC/tests/data/modules/." .
cat >> main.amlsec <<'EOT'

resource_group "extra" {
  count = 2
  name  = "rg-extra-${count.index}"
}

output "names" {
  value = ["a", "b"]
}

output "mixed" {
  value = ["a", 1, true]
}

output "none" {
  value = []
}

output "obj" {
  value = { a = "x", n = 2, l = ["p"], m = [{ k = "v" }, { k = "w" }] }
}

output "secret_obj" {
  value     = { hidden_key = "v" }
  sensitive = true
}
EOT
canary=owner-canary-2f7c1d

echo "1. no state: format_version alone"
"$AMLSEC" show -json > none.json || fail "show -json without a state"
jq -e '. == {"format_version": "1.0"}' none.json > /dev/null || fail "no state: $(cat none.json)"
"$JSONSCHEMA" "$SRC/docs/schemas/state.schema.json" none.json || fail "no state: schema"

echo "2. after an apply: Terraform's values.root_module, the canary hidden"
"$AMLSEC" apply -cloud local -auto-approve -no-color > apply.out 2>&1 || { tail apply.out; fail "apply"; }
"$AMLSEC" show -json > show.json || fail "show -json"
"$JSONSCHEMA" "$SRC/docs/schemas/state.schema.json" show.json || fail "show -json against its schema"
grep -q -- "$canary" show.json && fail "show -json prints the sensitive module argument"
"$AMLSEC" state pull > pulled.json || fail "state pull"
lineage=$(jq -r .state.lineage pulled.json)
serial=$(jq -r .state.serial pulled.json)
version=$("$AMLSEC" version | awk 'NR == 1 {print $2}')
python3 - "$lineage" "$serial" "$version" <<'PY' || fail "show -json shape: $(head -c 2000 show.json)"
import json, sys
lineage, serial, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = json.load(open("show.json"))
assert d["format_version"] == "1.0" and d["terraform_version"] == version, d.keys()
assert d["amlsec"] == {"lineage": lineage, "serial": serial, "cloud": "local"}, d["amlsec"]
assert "resources" not in d["values"] and "state" not in d, "amlsec's old shape"
out = d["values"]["outputs"]["cv_group"]
assert out["sensitive"] is False and out["type"] == "string" and out["value"].endswith("/rg-cv-001")
# Terraform's type JSON (cty): a list literal a tuple (Terraform's ["tuple", ["string", "string"]]
# for ["a", "b"], not ["list", "string"]), an object with its attributes' types; a sensitive
# collection's type is "dynamic" (its keys are not shown)
types = {k: v["type"] for k, v in d["values"]["outputs"].items()}
assert types == {"cv_group": "string", "names": ["tuple", ["string", "string"]],
                 "mixed": ["tuple", ["string", "number", "bool"]], "none": ["tuple", []],
                 "obj": ["object", {"a": "string", "n": "number", "l": ["tuple", ["string"]],
                                    "m": ["tuple", [["object", {"k": "string"}]] * 2]}],
                 "secret_obj": "dynamic"}, types
assert d["values"]["outputs"]["secret_obj"]["value"] == "(sensitive)", d["values"]["outputs"]["secret_obj"]
root = d["values"]["root_module"]
by = {r["address"]: r for r in root["resources"]}
assert sorted(by) == ["resource_group.extra[0]", "resource_group.extra[1]", "resource_group.shared"], sorted(by)
shared = by["resource_group.shared"]
for k, v in {"mode": "managed", "type": "resource_group", "name": "shared",
             "provider_name": "registry.amlsec.dev/amlsec/azureml", "schema_version": 0,
             "sensitive_values": {}}.items():
    assert shared[k] == v, (k, shared[k])
assert shared["values"]["name"] == "rg-shared-001" and shared["values"]["location"] == "westeurope"
assert "properties" not in shared["values"], "values are the ARM body, not the kind's attributes"
assert shared["amlsec"]["arm_id"].endswith("/resourceGroups/rg-shared-001")
assert shared["amlsec"]["api_version"], shared["amlsec"]
assert "tainted" not in shared and "depends_on" not in shared, shared
assert by["resource_group.extra[1]"]["index"] == 1 and by["resource_group.extra[1]"]["name"] == "extra"
kids = {m["address"]: m for m in root["child_modules"]}
assert sorted(kids) == ['module.team["cv"]', 'module.team["nlp"]'], sorted(kids)
cv = kids['module.team["cv"]']
team = cv["resources"][0]
assert team["address"] == 'module.team["cv"].resource_group.team' and team["name"] == "team"
# Terraform's state resources have no module_address (its module entry says it): amlsec's, with the ARM id
assert "module_address" not in team and team["amlsec"]["module_address"] == 'module.team["cv"]', team
assert "module_address" not in shared["amlsec"], shared["amlsec"]
assert team["values"]["tags"] == {"owner": "(sensitive)"}, team["values"]
assert team["sensitive_values"] == {"tags": {"owner": True}}, team["sensitive_values"]
logs = cv["child_modules"][0]
assert logs["address"] == 'module.team["cv"].module.logs', logs["address"]
assert logs["resources"][0]["depends_on"] == ['module.team["cv"].resource_group.team'], logs["resources"][0]
PY

echo "2b. a plan's prior_state shows the instances it leaves alone as show -json does"
# (a saved plan holding a sensitive output is sealed: a key for the plan only)
export AMLSEC_STATE_KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
sed -i 's/^  name = "rg-${var.team}-logs"$/&\n  tags = { tier = "logs" }/' modules/team/logs/main.amlsec
"$AMLSEC" plan -cloud local -no-color -out p.plan > plan.out 2>&1 || { tail plan.out; fail "plan"; }
"$AMLSEC" show -json p.plan > plan.json || fail "show -json PLAN"
grep -q -- "$canary" plan.json && fail "show -json PLAN prints the sensitive module argument"
python3 - <<'PY' || fail "prior_state differs from show -json"
import json
state = json.load(open("show.json"))["values"]["root_module"]
plan = json.load(open("plan.json"))
def flat(m):
    out = {r["address"]: r for r in m.get("resources", [])}
    for c in m.get("child_modules", []):
        out.update(flat(c))
    return out
s, prior, planned = flat(state), flat(plan["prior_state"]["values"]["root_module"]), flat(plan["planned_values"]["root_module"])
noop = [c["address"] for c in plan["resource_changes"] if c["change"]["actions"] == ["no-op"]]
assert 'module.team["cv"].resource_group.team' in noop and "resource_group.shared" in noop, noop
for a in noop:
    for side in (prior, planned):
        assert side[a]["values"] == s[a]["values"], (a, side[a]["values"], s[a]["values"])
        assert side[a]["sensitive_values"] == s[a]["sensitive_values"], (a, side[a]["sensitive_values"])
    ch = [c for c in plan["resource_changes"] if c["address"] == a][0]["change"]
    assert ch["before"] == s[a]["values"] and ch["before_sensitive"] == s[a]["sensitive_values"], a
PY
git_restore() { sed -i '/^  tags = { tier = "logs" }$/d' modules/team/logs/main.amlsec; }
git_restore
unset AMLSEC_STATE_KEY
head -c 7 .amlsec/state.json | grep -q AMLSECX && fail "the plan encrypted the state"

echo "3. -show-sensitive shows the value and still marks it"
"$AMLSEC" show -json -show-sensitive > shown.json || fail "show -json -show-sensitive"
grep -q hidden_key show.json && fail "show -json names a sensitive output's keys"
jq -e '.values.outputs.secret_obj == {"sensitive": true, "type": ["object", {"hidden_key": "string"}], "value": {"hidden_key": "v"}}' \
  shown.json > /dev/null || fail "-show-sensitive: output secret_obj: $(jq -c .values.outputs.secret_obj shown.json)"
jq -e --arg c "$canary" '.values.root_module.child_modules[0].resources[0]
    | .values.tags.owner == $c and .sensitive_values.tags.owner == true' shown.json > /dev/null \
  || fail "-show-sensitive: $(jq -c '.values.root_module.child_modules[0].resources[0]' shown.json)"

echo "4. a tainted instance, secrets an older state marks by JSON pointer, a kind amlsec lacks"
# the body edited and sealed again (the envelope's checksum), then pushed as a newer serial
jq -c --argjson s $((serial + 1)) '.state.serial = $s
  | .state.resources |= map(if .address == "resource_group.shared"
      then .status = "tainted" | .attributes.tags = {"legacy": "LegacyCanary4R", "plain": "fine"}
           | .sensitive = ["/tags/legacy"] else . end)
  | .state.resources += [{"address": "old_kind.x", "kind": "old_kind", "api_version": "2020-01-01",
      "arm_id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-old",
      "attributes": {"name": "rg-old", "properties": {"secret": "OldKindCanary6P", "open": 1}},
      "dependencies": [], "sensitive": ["/properties/secret"], "status": "created"}]
  | .state.resources |= sort_by(.address) | .state' pulled.json > body.json
printf '{"format_version":1,"sha256":"%s","state":%s}\n' "$(tr -d '\n' < body.json | sha256sum | cut -d' ' -f1)" \
  "$(tr -d '\n' < body.json)" > edited.json
"$AMLSEC" state push edited.json > push.out 2>&1 || { cat push.out; fail "state push"; }
"$AMLSEC" show -json > show2.json || fail "show -json of the edited state"
"$JSONSCHEMA" "$SRC/docs/schemas/state.schema.json" show2.json || fail "edited state: schema"
for c in LegacyCanary4R OldKindCanary6P "$canary"; do
  grep -q -- "$c" show2.json && fail "show -json prints $c"
done
python3 - <<'PY' || fail "edited state: $(jq -c '.values.root_module.resources' show2.json)"
import json
d = json.load(open("show2.json"))
by = {r["address"]: r for r in d["values"]["root_module"]["resources"]}
s = by["resource_group.shared"]
assert s["tainted"] is True, s
assert s["values"]["tags"] == {"legacy": "(sensitive)", "plain": "fine"}, s["values"]
assert s["sensitive_values"] == {"tags": {"legacy": True}}, s["sensitive_values"]
o = by["old_kind.x"]
assert o["type"] == "old_kind" and o["name"] == "x" and o["mode"] == "managed", o
assert o["values"]["properties"] == {"secret": "(sensitive)", "open": 1}, o["values"]
assert o["sensitive_values"] == {"properties": {"secret": True}}, o["sensitive_values"]
PY
"$AMLSEC" show -json -show-sensitive > shown2.json || fail "show -json -show-sensitive"
grep -q LegacyCanary4R shown2.json && grep -q OldKindCanary6P shown2.json \
  || fail "-show-sensitive hides the pointer-marked values"

echo "5. state pull still prints the raw state"
"$AMLSEC" state pull > pulled2.json || fail "state pull"
jq -e '.state.resources[] | select(.address == "resource_group.shared") | .status == "tainted"
    and .attributes.tags.legacy == "LegacyCanary4R"' pulled2.json > /dev/null || fail "state pull: raw state"
echo "6. a state that exists but holds nothing: format_version alone, as Terraform prints it"
# (resources and outputs gone; a state holding only outputs is not empty)
seal() { # seal BODY OUT: the envelope around a body edited with jq
  printf '{"format_version":1,"sha256":"%s","state":%s}\n' "$(tr -d '\n' < "$1" | sha256sum | cut -d' ' -f1)" \
    "$(tr -d '\n' < "$1")" > "$2"
}
jq -c '.state | .resources = [] | del(.outputs)' pulled2.json > empty-body.json
seal empty-body.json empty-in.json
"$AMLSEC" state push -state empty.json empty-in.json > push2.out 2>&1 || { cat push2.out; fail "push the empty state"; }
"$AMLSEC" show -json -state empty.json > empty.json.out || fail "show -json of an empty state"
jq -e '. == {"format_version": "1.0"}' empty.json.out > /dev/null || fail "empty state: $(cat empty.json.out)"
"$JSONSCHEMA" "$SRC/docs/schemas/state.schema.json" empty.json.out || fail "empty state: schema"
jq -c '.state | .resources = []' pulled2.json > outs-body.json
seal outs-body.json outs-in.json
"$AMLSEC" state push -state outs.json outs-in.json > push3.out 2>&1 || { cat push3.out; fail "push the outputs-only state"; }
"$AMLSEC" show -json -state outs.json > outs.json.out || fail "show -json of an outputs-only state"
# Terraform's jsonstate leaves an empty resources out (omitempty), the root module's too
jq -e '(.values.outputs.names.type == ["tuple", ["string", "string"]]) and .values.root_module == {}
    and (.amlsec.lineage | length) == 36' outs.json.out > /dev/null || fail "outputs-only state: $(cat outs.json.out)"
echo "6. a plan of a root module without resources: no resources lists (Terraform's omitempty)"
mkdir bare && cd bare || fail "mkdir"
printf 'output "x" {\n  value = "a"\n}\n' > main.amlsec
"$AMLSEC" plan -cloud local -out bare.plan -no-color > plan.out 2>&1 || { cat plan.out; fail "plan without resources"; }
"$AMLSEC" show -json bare.plan > plan.json || fail "show -json of the plan"
"$JSONSCHEMA" "$SRC/docs/schemas/plan.schema.json" plan.json || fail "plan without resources: schema"
jq -e '.planned_values.root_module == {} and (.configuration.root_module | has("resources") | not)
    and .configuration.root_module.outputs.x != null' plan.json > /dev/null \
  || fail "plan without resources: $(jq -c '{planned_values, configuration}' plan.json)"
cd ..
echo "show_state_json: ok"
