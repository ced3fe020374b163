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
export AMLSEC_STATE_PASSPHRASE=outputs-test # a plan holding a sensitive output is sealed
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color -out out.plan > plan3.out 2>&1
grep -q '^  + identity = "' plan3.out || fail "new output not listed"
grep -q '^  - principal = ".*" -> null$' plan3.out || fail "removed output not listed"
grep -q 'without changing any real infrastructure' plan3.out || fail "output-only plan not explained"
"$AMLSEC" show -json out.plan > plan.json || fail "show -json plan"
python3 -c 'import json; c=json.load(open("plan.json"))["output_changes"]; assert c["identity"]["actions"]==["create"] and c["principal"]["actions"]==["delete"] and c["token"]["after"]=="(sensitive)", c' \
  || fail "plan JSON output_changes"
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
