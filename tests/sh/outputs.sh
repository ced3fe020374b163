#!/usr/bin/env bash
# output blocks end to end against the embedded local cloud (issue 19): the plan lists them under
# "Changes to Outputs:" (a value the service assigns as known after apply), apply prints them and
# records them in the state, `amlsec output` reads them back in Terraform's shapes, a sensitive
# one never shows in plans, apply, show, `output`, `output NAME`, `output -json` or logs (only
# with `output -show-sensitive`), an output-only change exits 2 and is applied without touching Azure, saved plans
# carry them, and destroy removes them.
set -uo pipefail
: "${AMLSEC:?}" "${SRC:?}" "${JSONSCHEMA:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec {err}>&2 # a fail inside a redirected call still reaches the test's stderr
fail() { echo "FAIL: $*" >&$err; for f in $(ls -t "$work"/*.out 2>/dev/null | head -n 2); do echo "--- $f"; tail -n 30 "$f"; done >&$err; exit 1; }
expect_exit() { local want=$1; shift; "$@"; local got=$?; [ "$got" = "$want" ] || fail "exit $got, want $want: $*"; }
cd "$work"
cp "$SRC/examples/secure-workspace/main.amlsec" .
canary=canary-output-5f1e09
export AMLSEC_VAR_token=$canary AMLSEC_LOG=debug
cat >> main.amlsec <<'AMLSEC'

variable "token" {
  type      = string
  sensitive = true
}

locals {
  ws = workspace.prod
}

output "workspace_id" {
  value       = local.ws.id
  description = "the workspace's ARM id"
}

output "principal" {
  value = workspace.prod.identity.principal_id
}

output "token" {
  value     = "bearer ${var.token}"
  sensitive = true
}
AMLSEC

echo "1. plan lists the outputs; the principal id is known only after apply"
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > plan1.out 2>&1
grep -q '^Changes to Outputs:' plan1.out || fail "no Changes to Outputs"
grep -q '^  + principal = (known after apply)$' plan1.out || fail "principal not known after apply"
grep -q '^  + token = (sensitive value)$' plan1.out || fail "sensitive output shown in the plan"
grep -q '^  + workspace_id = "/subscriptions/.*/workspaces/mlw-prod"$' plan1.out || fail "workspace_id"

echo "1b. plan -json streams Terraform's outputs message: actions, no secret, no unknown value"
expect_exit 0 "$AMLSEC" plan -cloud local -json > plan1.jsonl 2> plan1-json.err
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" plan1.jsonl || fail "plan -json against ui.schema.json"
python3 - plan1.jsonl <<'PY' || fail "plan -json outputs message"
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
outs = [m for m in msgs if m["type"] == "outputs"]
assert len(outs) == 1, outs
o = outs[0]["outputs"]
assert o["token"] == {"sensitive": True, "type": "string", "action": "create"}, o["token"]
assert o["principal"] == {"sensitive": False, "action": "create"}, o["principal"]
assert o["workspace_id"]["action"] == "create" and o["workspace_id"]["type"] == "string"
assert o["workspace_id"]["value"].endswith("/workspaces/mlw-prod"), o["workspace_id"]
types = [m["type"] for m in msgs]
assert types.index("outputs") > types.index("change_summary"), types
PY

echo "2. apply prints them, sensitive as <sensitive>, and warns that the state keeps it in clear"
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > apply1.out 2>&1
grep -q 'the state will hold .*output.token' apply1.out || fail "no clear-state warning for output.token"
sed -n '/^Outputs:$/,$p' apply1.out > outputs1.out
grep -Eq '^principal = "[0-9a-f-]{36}"$' outputs1.out || fail "principal not filled in after apply"
grep -q '^token = <sensitive>$' outputs1.out || fail "token not <sensitive>"
[ "$(grep -c ' = ' outputs1.out)" = 3 ] || fail "want 3 outputs after apply"

echo "3. amlsec output: text, -json (Terraform's shape, schema), NAME raw; sensitive redacted"
expect_exit 0 "$AMLSEC" output -no-color > out.out 2>&1
diff <(grep ' = ' outputs1.out) out.out > /dev/null || fail "output differs from what apply printed"
expect_exit 0 "$AMLSEC" output -json > output.json 2> output.err
"$JSONSCHEMA" "$SRC/docs/schemas/output.schema.json" output.json || fail "output -json schema"
python3 - output.json <<'PY' || fail "output -json contents"
import json, sys
o = json.load(open(sys.argv[1]))
assert sorted(o) == ["principal", "token", "workspace_id"], o
assert o["token"] == {"sensitive": True, "type": "string"}, o["token"]
assert o["workspace_id"]["type"] == "string" and not o["workspace_id"]["sensitive"]
assert o["workspace_id"]["value"].endswith("/workspaces/mlw-prod"), o["workspace_id"]
PY
expect_exit 0 "$AMLSEC" output token > token.out 2> token.err
[ "$(cat token.out)" = "(sensitive value)" ] || fail "output NAME prints a sensitive value: $(cat token.out)"
grep -q "output 'token' is sensitive.*-show-sensitive" token.err || fail "output NAME does not say why"
expect_exit 0 "$AMLSEC" output -json token > token.json 2> token-json.err
python3 -c 'import json,sys; o=json.load(open("token.json")); assert o=={"sensitive":True,"type":"string"}, o' \
  || fail "output -json NAME of a sensitive output: $(cat token.json)"
[ "$("$AMLSEC" output workspace_id)" = "$(sed -n 's/^workspace_id = "\(.*\)"$/\1/p' outputs1.out)" ] \
  || fail "output NAME is not the raw value"
# -show-sensitive: the value in full, every shape
expect_exit 0 "$AMLSEC" output -show-sensitive -json > shown.json 2>&1
"$JSONSCHEMA" "$SRC/docs/schemas/output.schema.json" shown.json || fail "output -show-sensitive -json schema"
python3 - shown.json "$canary" <<'PY' || fail "output -show-sensitive -json contents"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["token"] == {"sensitive": True, "type": "string", "value": "bearer " + sys.argv[2]}, o["token"]
PY
[ "$("$AMLSEC" output -show-sensitive token)" = "bearer $canary" ] || fail "output -show-sensitive NAME"
[ "$("$AMLSEC" output -show-sensitive -json token)" = "\"bearer $canary\"" ] || fail "output -show-sensitive -json NAME"
"$AMLSEC" output -show-sensitive -no-color > shown.out 2>&1 || fail "output -show-sensitive"
grep -q "^token = \"bearer $canary\"$" shown.out || fail "output -show-sensitive text: $(cat shown.out)"
expect_exit 1 "$AMLSEC" output nope > nope.out 2>&1
grep -q "no output 'nope'" nope.out || fail "unknown output name"
grep -q '"outputs":{' .amlsec/state.json || fail "outputs not in the state"
"$AMLSEC" show -json > show.json || fail "show -json"
"$JSONSCHEMA" "$SRC/docs/schemas/state.schema.json" show.json || fail "show -json schema"
python3 -c 'import json,sys; v=json.load(open("show.json"))["values"]["outputs"]; assert v["token"]["value"]=="(sensitive)", v' \
  || fail "show -json does not redact the sensitive output"

echo "3b. output -json byte for byte as terraform output -json prints it: Terraform's type JSON (cty's),"
echo "    -json NAME compact, -raw NAME for strings, numbers and bools (the brief keeps secrets out)"
mkdir types && (
cd types || exit 1
cat > main.amlsec <<'AMLSEC'
variable "token" {
  type      = string
  sensitive = true
}

output "s" {
  value = "hello"
}

output "n" {
  value = 2.5
}

output "b" {
  value = true
}

output "html" {
  value = "<a> & \u2028"
}

output "small" {
  value = [0.000001, -2.5e-7, 1.5e15]
}

output "names" {
  value = ["a", "b"]
}

output "obj" {
  value = { a = "x", n = 2, l = [] }
}

output "token" {
  value     = var.token
  sensitive = true
}

output "secret_list" {
  value     = [var.token]
  sensitive = true
}
AMLSEC
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -json > apply.jsonl 2> apply.err
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" apply.jsonl || fail "apply -json against ui.schema.json"
expect_exit 0 "$AMLSEC" output -json > all.json 2> all.err
"$JSONSCHEMA" "$SRC/docs/schemas/output.schema.json" all.json || fail "output -json (types) schema"
python3 - all.json apply.jsonl <<'PY' || fail "output -json is not Terraform's: $(cat all.json)"
import json, sys
want = {
    "b": {"sensitive": False, "type": "bool", "value": True},
    "html": {"sensitive": False, "type": "string", "value": "<a> & \u2028"},
    "small": {"sensitive": False, "type": ["tuple", ["number", "number", "number"]], "value": ["SMALL"]},
    "n": {"sensitive": False, "type": "number", "value": 2.5},
    "names": {"sensitive": False, "type": ["tuple", ["string", "string"]], "value": ["a", "b"]},
    "obj": {"sensitive": False, "type": ["object", {"a": "string", "l": ["tuple", []], "n": "number"}],
            "value": {"a": "x", "l": [], "n": 2}},
    "s": {"sensitive": False, "type": "string", "value": "hello"},
    # Terraform prints a sensitive value here; amlsec leaves it out, and a sensitive collection's
    # type (it would name its keys) is "dynamic", as in show -json
    "secret_list": {"sensitive": True, "type": "dynamic"},
    "token": {"sensitive": True, "type": "string"},
}
# Go's json.MarshalIndent(outputs, "", "  ") and a newline: keys sorted, two spaces, UTF-8 as it
# is but <, >, & and U+2028/U+2029 escaped (Go's HTML-safe encoding)
text = open(sys.argv[1], encoding="utf-8").read()
go = json.dumps(want, indent=2, sort_keys=True, ensure_ascii=False)
for c in "<>&\u2028\u2029":
    go = go.replace(c, "\\u%04x" % ord(c))
# cty writes a number in full, never with an exponent (big.Float's Text('f', -1))
go = go.replace('"SMALL"', "0.000001,\n      -0.00000025,\n      1500000000000000")
assert text == go + "\n", text
# apply -json's final outputs message carries the same types
outs = [json.loads(l)["outputs"] for l in open(sys.argv[2]) if json.loads(l)["type"] == "outputs"][-1]
assert {k: v["type"] for k, v in outs.items()} == {k: v["type"] for k, v in want.items()}, outs
PY
[ "$("$AMLSEC" output -json obj)" = '{"a":"x","l":[],"n":2}' ] || fail "output -json NAME is not compact: $("$AMLSEC" output -json obj)"
[ "$("$AMLSEC" output -json html)" = '"\u003ca\u003e \u0026 \u2028"' ] || fail "output -json NAME is not Go's encoding: $("$AMLSEC" output -json html)"
"$AMLSEC" output -raw s > raw.out || fail "output -raw s"
[ "$(od -An -c raw.out | tr -s ' ')" = " h e l l o" ] || fail "output -raw prints a newline or quotes: $(od -c raw.out)"
[ "$("$AMLSEC" output -raw n)" = 2.5 ] && [ "$("$AMLSEC" output -raw b)" = true ] || fail "output -raw number, bool"
printf 'output "tiny" {\n  value = 1e-6\n}\n' >> main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve > apply-tiny.out 2>&1
[ "$("$AMLSEC" output -raw tiny)" = 0.000001 ] || fail "output -raw writes an exponent: $("$AMLSEC" output -raw tiny)"
expect_exit 1 "$AMLSEC" output -raw names > rawl.out 2>&1
grep -q "output 'names' is a list: -raw prints only strings, numbers and bools; use -json" rawl.out || fail "output -raw list: $(cat rawl.out)"
expect_exit 1 "$AMLSEC" output -raw > rawn.out 2>&1
grep -q -- "-raw prints a single output: name it" rawn.out || fail "output -raw without NAME: $(cat rawn.out)"
expect_exit 1 "$AMLSEC" output -raw token > rawt.out 2> rawt.err
[ -s rawt.out ] && fail "output -raw of a sensitive output printed something: $(cat rawt.out)"
grep -q "output 'token' is sensitive: -raw prints it only with -show-sensitive" rawt.err || fail "output -raw sensitive: $(cat rawt.err)"
[ "$("$AMLSEC" output -raw -show-sensitive token)" = "$canary" ] || fail "output -raw -show-sensitive"
for f in all.json all.err apply.jsonl apply.err rawt.out rawt.err; do
  grep -q "$canary" "$f" && fail "types/$f shows the sensitive value"
done
exit 0
) || exit 1

echo "4. a second plan has no changes"
expect_exit 0 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes.' plan2.out || fail "second plan is not empty"

echo "4b. apply -json ends with the outputs recorded (values filled in, the sensitive one left out)"
expect_exit 0 "$AMLSEC" apply -cloud local -json -auto-approve > apply-noop.jsonl 2> apply-noop.err
"$JSONSCHEMA" -lines "$SRC/docs/schemas/ui.schema.json" apply-noop.jsonl || fail "apply -json against ui.schema.json"
python3 - apply-noop.jsonl <<'PY' || fail "apply -json outputs message"
import json, re, sys
msgs = [json.loads(l) for l in open(sys.argv[1])]
outs = [m["outputs"] for m in msgs if m["type"] == "outputs"]
assert len(outs) == 2, outs  # the plan's (all noop), then the applied ones
assert all(v["action"] == "noop" for v in outs[0].values()), outs[0]
o = outs[1]
assert o["token"] == {"sensitive": True, "type": "string"}, o["token"]
assert re.fullmatch(r"[0-9a-f-]{36}", o["principal"]["value"]) and o["principal"]["type"] == "string", o
assert msgs[-1]["type"] == "outputs", msgs[-1]
PY

echo "5. an output-only change exits 2, a saved plan carries it, and apply records it without Azure"
sed -i 's/^output "principal" {/output "identity" {/' main.amlsec
# a plan holding a sensitive output is sealed (a raw key: no PBKDF2 per command)
export AMLSEC_STATE_KEY=$(printf outputs-test | sha256sum | cut -c1-64)
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color -out out.plan > plan3.out 2>&1
grep -q '^  + identity = "' plan3.out || fail "new output not listed"
grep -q '^  - principal = ".*" -> null$' plan3.out || fail "removed output not listed"
grep -q 'without changing any real infrastructure' plan3.out || fail "output-only plan not explained"
"$AMLSEC" show -json out.plan > plan.json || fail "show -json plan"
python3 -c 'import json; c=json.load(open("plan.json"))["output_changes"]; assert c["identity"]["actions"]==["create"] and c["principal"]["actions"]==["delete"] and c["token"]["after"]=="(sensitive)", c' \
  || fail "plan JSON output_changes"
"$JSONSCHEMA" "$SRC/docs/schemas/plan.schema.json" plan.json || fail "show -json plan against its schema"
# Terraform's planned_values.outputs (what the plan leaves; a deleted one gone) and
# prior_state.values.outputs (the state's): {sensitive, type, value}, the secret redacted
python3 - plan.json <<'PY' || fail "plan JSON planned_values/prior_state outputs"
import json, re, sys
d = json.load(open(sys.argv[1]))
pv, pr = d["planned_values"]["outputs"], d["prior_state"]["values"]["outputs"]
assert sorted(pv) == ["identity", "token", "workspace_id"], pv
assert pv["token"] == {"sensitive": True, "type": "string", "value": "(sensitive)"}, pv["token"]
assert pv["identity"]["type"] == "string" and re.fullmatch(r"[0-9a-f-]{36}", pv["identity"]["value"]), pv
assert sorted(pr) == ["principal", "token", "workspace_id"], pr
assert pr["principal"]["value"] == pv["identity"]["value"] and pr["token"]["value"] == "(sensitive)", pr
PY
expect_exit 0 "$AMLSEC" apply -no-color out.plan > apply2.out 2>&1
grep -q '^identity = "' apply2.out || fail "apply of the saved plan did not print the new output"
[ "$("$AMLSEC" output identity)" = "$(sed -n 's/^principal = "\(.*\)"$/\1/p' outputs1.out)" ] || fail "identity output"
expect_exit 0 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > plan4.out 2>&1

echo "6. the sensitive value never shows outside output -show-sensitive (stdout, stderr, debug logs)"
for f in plan1.out plan1.jsonl plan1-json.err apply-noop.jsonl apply-noop.err apply1.out out.out output.json output.err token.out token.err token.json token-json.err \
  plan2.out plan3.out apply2.out show.json plan.json; do
  grep -q "$canary" "$f" && fail "$f shows the sensitive output's value"
done

echo "7. destroy removes the outputs"
sed -i 's/prevent_destroy = true/prevent_destroy = false/' main.amlsec
expect_exit 0 "$AMLSEC" destroy -cloud local -auto-approve -no-color > destroy.out 2>&1
expect_exit 0 "$AMLSEC" output -json > after.json 2>&1
[ "$(tr -d ' \n' < after.json)" = "{}" ] || fail "outputs left after destroy"
echo "outputs: ok"
