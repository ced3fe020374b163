#!/usr/bin/env bash
# Every -json output validates against its JSON Schema in docs/schemas/ (issue 16), checked by
# tests/tools/jsonschema_check; show -json PLAN is read by a script that uses only the fields
# Terraform documents for its JSON plan (what OPA/conftest policies and plan summarisers read).
set -euo pipefail
: "${AMLSEC:?}" "${SRC:?}" "${SHARED:?}" "${JSONSCHEMA:?}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
S=$SRC/docs/schemas
valid() { # schema, file
  "$JSONSCHEMA" "$S/$1.schema.json" "$2" || fail "$2 does not match $1.schema.json"
}
cd "$tmp"
cp "$SRC/examples/secure-workspace/main.amlsec" .
export AMLSEC_STATE_KEY=$(printf json-schemas | sha256sum | cut -c1-64) # raw: no PBKDF2 per command

"$AMLSEC" version -json > version.json; valid version version.json
"$AMLSEC" validate -json > validate.json; valid validate validate.json
mkdir bad && printf 'resource_group "x" {\n  nmae = 1\n}\n' > bad/main.amlsec
"$AMLSEC" validate -json bad > validate-bad.json || true; valid validate validate-bad.json
"$AMLSEC" render -json > render.json; valid render render.json
"$AMLSEC" rules -json > rules.json; valid rules rules.json
"$AMLSEC" schema -json > schema.json; valid schema schema.json
"$AMLSEC" check -json -policy "$SHARED/data/policies" -aliases "$SHARED/data/policy-aliases.csv" \
  > check.json || true
valid check check.json
python3 -c 'import json; assert json.load(open("check.json"))["findings"]' || fail "check found nothing"

# plan -json / apply -json: one UI message a line
"$AMLSEC" plan -json -cloud local > plan.jsonl 2> plan.err || { cat plan.err; fail "plan -json"; }
"$JSONSCHEMA" -lines "$S/ui.schema.json" plan.jsonl || fail "plan -json lines"
if "$AMLSEC" apply -json -cloud local > /dev/null 2> noapprove.err; then fail "apply -json asked nobody"; fi
grep -q -- '-json needs -auto-approve or a saved plan' noapprove.err || fail "apply -json without -auto-approve"
"$AMLSEC" apply -json -auto-approve -cloud local > apply.jsonl 2> apply.err || { cat apply.err; fail "apply -json"; }
"$JSONSCHEMA" -lines "$S/ui.schema.json" apply.jsonl || fail "apply -json lines"
python3 - plan.jsonl apply.jsonl <<'PY' || fail "UI stream contents"
import json, sys
plan = [json.loads(l) for l in open(sys.argv[1])]
apply = [json.loads(l) for l in open(sys.argv[2])]
assert plan[0]["type"] == "version" and apply[0]["type"] == "version"
planned = [m["change"]["resource"]["addr"] for m in plan if m["type"] == "planned_change"]
assert len(planned) == 35 and 'private_endpoint.storage["file"]' in planned, planned
key = [m for m in plan if m["type"] == "planned_change" and m["change"]["resource"]["addr"] == 'private_endpoint.storage["file"]'][0]
assert key["change"]["resource"]["resource_key"] == "file" and key["change"]["action"] == "create"
summ = [m for m in plan if m["type"] == "change_summary"][-1]["changes"]
assert summ == {"add": 35, "change": 0, "remove": 0, "operation": "plan"}, summ
done = {m["hook"]["resource"]["addr"] for m in apply if m["type"] == "apply_complete"}
assert done == set(planned), set(planned) ^ done
assert all(m["hook"]["id_value"].startswith("/subscriptions/") for m in apply
           if m["type"] == "apply_complete" and m["hook"]["resource"]["resource_type"] == "workspace")
assert apply[-1]["type"] == "change_summary" and apply[-1]["changes"]["operation"] == "apply"
PY
"$AMLSEC" show -json > state.json; valid state state.json
"$AMLSEC" state list -json > list.json; valid state list.json
"$AMLSEC" state show -json workspace.prod > one.json; valid state one.json
# a plan with an update, a replacement, no-ops and values known only after apply
sed -i 's/hbi                   = true/hbi                   = false/; s/prevent_destroy = true/prevent_destroy = false/; s/size  = 3072/size  = 4096/' main.amlsec
"$AMLSEC" plan -cloud local -out plan.bin -no-color > plan.out 2>&1 || { cat plan.out; fail "plan"; }
"$AMLSEC" show -json plan.bin > plan.json; valid plan plan.json

# a reader that knows only Terraform's documented plan fields
python3 - plan.json <<'PY' || fail "Terraform-style reader"
import json, sys
plan = json.load(open(sys.argv[1]))
assert plan["format_version"]
counts = {}
for rc in plan["resource_changes"]:
    assert rc["mode"] in ("managed", "data") and rc["type"] and rc["name"] and rc["provider_name"]
    assert rc["address"].startswith(rc["type"] + "." + rc["name"]), rc["address"]
    if "index" in rc:
        assert rc["address"].endswith("[%s]" % json.dumps(rc["index"])), rc["address"]
    acts = tuple(rc["change"]["actions"])
    assert acts in {("no-op",), ("create",), ("read",), ("update",), ("delete",),
                    ("delete", "create"), ("create", "delete")}, acts
    counts[acts] = counts.get(acts, 0) + 1
    if len(acts) == 2 and rc["address"] == "workspace.prod":
        assert rc["change"]["replace_paths"] == [["hbi"]], rc["change"]
    elif len(acts) == 2:  # replaced with the workspace it lies under: no attribute of its own
        assert rc["change"]["replace_paths"] == [], rc["change"]
# conftest-style: deny replacing a workspace
denied = [rc["address"] for rc in plan["resource_changes"]
          if rc["type"] == "workspace" and "delete" in rc["change"]["actions"]]
assert denied == ["workspace.prod"], denied
assert counts[("no-op",)] >= 10 and counts[("update",)] == 1, counts
planned = {r["address"] for r in plan["planned_values"]["root_module"]["resources"]}
prior = {r["address"] for r in plan["prior_state"]["values"]["root_module"]["resources"]}
conf = {r["address"]: r for r in plan["configuration"]["root_module"]["resources"]}
changed = {rc["address"] for rc in plan["resource_changes"]}
assert planned == changed == prior, (planned ^ changed, prior ^ changed)
# configuration: one entry per block (instances share it), with its expressions
assert {a.split("[")[0] for a in changed} == {a for a in conf if not a.startswith("existing.")}, set(conf) ^ changed
ws = conf["workspace.prod"]["expressions"]
assert ws["name"] == {"constant_value": "mlw-prod"} and ws["public_network_access"] == {"constant_value": False}, ws
assert ws["resource_group"] == {"references": ["resource_group.ml"]}, ws["resource_group"]
assert ws["encryption"] == [{"key": {"references": ["key.workspace"]}}], ws["encryption"]
assert "lifecycle" not in ws
cc = conf["compute_cluster.build"]["expressions"]
assert cc["subnet"] == {"references": ["existing.subnet.ml.id", "existing.subnet.ml"]}, cc["subnet"]
pe = conf["private_endpoint.storage"]
assert pe["for_each_expression"] == {"constant_value": ["blob", "file"]} and "for_each" not in pe["expressions"], pe
assert conf["existing.subnet.ml"]["mode"] == "data"
assert 'private_endpoint.storage["blob"]' in planned
key = [r for r in plan["planned_values"]["root_module"]["resources"] if r["address"] == "key.workspace"][0]
assert "versioned_uri" not in key["values"], key["values"]   # unknown: left out, as Terraform does
PY

# modules: a reader that walks Terraform's child_modules and module_calls finds every resource
# once, in the module instance its address names (examples/multi-team: module.team[KEY] x 3)
mkdir multi && cp -r "$SRC/examples/multi-team/." multi/
(cd multi && "$AMLSEC" plan -cloud local -out m.bin -no-color > m.out 2>&1) || { cat multi/m.out; fail "plan multi-team"; }
(cd multi && "$AMLSEC" show -json m.bin) > multi.json || fail "show -json multi-team"
valid plan multi.json
python3 - multi.json <<'PY' || fail "Terraform-style module reader"
import json, sys
plan = json.load(open(sys.argv[1]))
def walk(mod, prefix):
    for r in mod.get("resources", []):
        assert r["address"].startswith(prefix), (prefix, r["address"])
        assert "." not in r["address"][len(prefix):].split("[")[0].replace(r["type"] + ".", "", 1), r["address"]
        yield r["address"]
    for c in mod.get("child_modules", []):
        assert c["address"].startswith(prefix) and c["address"].startswith("module."), c["address"]
        yield from walk(c, c["address"] + ".")
planned = list(walk(plan["planned_values"]["root_module"], ""))
changed = [rc["address"] for rc in plan["resource_changes"]]
assert sorted(planned) == sorted(changed) and len(set(planned)) == len(planned), set(planned) ^ set(changed)
kids = [c["address"] for c in plan["planned_values"]["root_module"]["child_modules"]]
assert sorted(kids) == ['module.team["fraud"]', 'module.team["nlp"]', 'module.team["vision"]'], kids
for rc in plan["resource_changes"]:
    if rc["address"].startswith("module."):
        assert rc["address"].startswith(rc["module_address"] + "."), rc
root = plan["configuration"]["root_module"]
team = root["module_calls"]["team"]
assert team["source"] == "./modules/team" and team["for_each_expression"] == {"references": ["local.teams"]}, team
assert team["expressions"]["team"] == {"references": ["each.key"]}, team["expressions"]
mod = team["module"]
blocks = {r["address"] for r in mod["resources"]}
assert "workspace.ml" in blocks and not any(b.startswith("module.") for b in blocks), blocks
# one instance's blocks: every planned address of module.team["vision"] is one of them
vision = {a.split('"].', 1)[1].split("[")[0] for a in changed if a.startswith('module.team["vision"].')}
assert vision == blocks, vision ^ blocks
assert "team" in mod["variables"] and "workspace_id" in mod["outputs"], (mod["variables"], mod["outputs"])
assert {r["address"] for r in root["resources"]} >= {"resource_group.dns", "private_dns_zone.shared"}
PY

# whole numbers beyond int64 and a validation known only after apply (a module's output, a
# map key and a for over values ARM assigns) in every -json output that carries them: plan -json,
# show -json of the plan (deferred_validations) and of the state, apply -json, output -json,
# state show -json (the validator reads big numbers as integers; jansson alone refused them)
mkdir big big/modules && cd big || fail "cd big"
mkdir modules/m && printf 'variable "n" {\n  type = number\n}\n\noutput "twice" {\n  value = var.n * 2\n}\n' > modules/m/main.amlsec
cat > main.amlsec <<'CFG'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

variable "n" {
  type    = number
  default = 18446744073709551616
  validation {
    condition     = var.n > 0 && app_insights.ai.app_id != ""
    error_message = "n ${var.n} for ${app_insights.ai.app_id}"
  }
}

resource_group "a" {
  name = "rg-big"
}

app_insights "ai" {
  resource_group = resource_group.a
  name           = "ai-big"
}

resource_group "b" {
  name = "rg-big-b"
  tags = { (app_insights.ai.app_id) = "${var.n * 3}" }
}

module "m" {
  source = "./modules/m"
  n      = var.n
}

output "big" {
  value = module.m.twice
}

output "ids" {
  value = [for k, v in { a = app_insights.ai.app_id } : "${k}=${v}"]
}
CFG
"$AMLSEC" plan -json -cloud local > plan.jsonl 2> plan.err || { cat plan.err; fail "big: plan -json"; }
"$JSONSCHEMA" -lines "$S/ui.schema.json" plan.jsonl || fail "big: plan -json lines"
"$AMLSEC" plan -cloud local -out p.bin -no-color > plan.out 2>&1 || { cat plan.out; fail "big: plan -out"; }
"$AMLSEC" show -json p.bin > plan.json || fail "big: show -json PLAN"
valid plan plan.json
python3 -c 'import json,sys; d=json.load(open("plan.json")); assert len(d["deferred_validations"]) == 1, d.get("deferred_validations")' || fail "big: no deferred validation"
"$AMLSEC" apply -json p.bin > apply.jsonl 2> apply.err || { cat apply.err; fail "big: apply -json"; }
"$JSONSCHEMA" -lines "$S/ui.schema.json" apply.jsonl || fail "big: apply -json lines"
"$AMLSEC" show -json > state.json || fail "big: show -json"
valid state state.json
"$AMLSEC" output -json > output.json || fail "big: output -json"
valid output output.json
grep -q '"value": 36893488147419103232' output.json || fail "big: output -json lost the digits: $(cat output.json)"
"$AMLSEC" state show -json resource_group.b > b.json || fail "big: state show -json"
valid state b.json
# destroy -json: Terraform's stream, its summary a destroy's (operation "destroy")
if "$AMLSEC" destroy -json -cloud local > /dev/null 2> noapprove.err; then fail "destroy -json asked nobody"; fi
"$AMLSEC" destroy -json -auto-approve -cloud local > destroy.jsonl 2> destroy.err || { cat destroy.err; fail "destroy -json"; }
"$JSONSCHEMA" -lines "$S/ui.schema.json" destroy.jsonl || fail "destroy -json lines"
python3 - destroy.jsonl <<'PY' || fail "destroy -json contents"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
planned = [m for m in msgs if m["type"] == "planned_change"]
assert len(planned) == 3 and all(m["change"]["action"] == "delete" for m in planned), planned
plan_summary, summary = [m for m in msgs if m["type"] == "change_summary"]
assert plan_summary["changes"] == {"add": 0, "change": 0, "remove": 3, "operation": "plan"}, plan_summary
assert summary["changes"] == {"add": 0, "change": 0, "remove": 3, "operation": "destroy"}, summary
assert summary["@message"] == "Destroy complete! Resources: 3 destroyed.", summary["@message"]
PY
cd .. || fail "cd .."

# the validator fails on what does not match
python3 -c 'import json; d=json.load(open("check.json")); del d["findings"][0]["level"]; json.dump(d, open("broken.json","w"))'
if "$JSONSCHEMA" "$S/check.schema.json" broken.json 2> broken.err; then fail "a broken document validated"; fi
grep -q "missing required property 'level'" broken.err || fail "validator message: $(cat broken.err)"
echo OK
