#!/usr/bin/env bash
# Whole numbers beyond int64 end to end against the embedded local cloud (issue 19): outputs
# holding them are planned, saved in a plan file, applied, kept in the state (plain and
# encrypted) and read back exactly by `output`, `output -json`, `show -json` and the next plan
# (no changes); a sensitive one never shows (its digits are registered as a secret), and -var
# and a JSON -var-file carry them in.
set -uo pipefail
: "${AMLSEC:?}" "${SRC:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec {err}>&2
fail() { echo "FAIL: $*" >&$err; for f in $(ls -t "$work"/*.out 2>/dev/null | head -n 2); do echo "--- $f"; tail -n 30 "$f"; done >&$err; exit 1; }
expect_exit() { local want=$1; shift; "$@"; local got=$?; [ "$got" = "$want" ] || fail "exit $got, want $want: $*"; }
cd "$work"
cat > main.amlsec <<'AMLSEC'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

variable "from_file" {
  type = number
}

resource_group "ml" {
  name = "rg-big"
}

output "big" {
  value = pow(2, 100) + 1
}

output "list" {
  value = [18446744073709551616, -18446744073709551617, 1, var.from_file - 1]
}

output "literal" {
  value = -18446744073709551616
}

output "exponent" {
  value = [1e20, 1.5e30, { a = 12.5e20 }]
}

user_assigned_identity "uai" {
  resource_group = resource_group.ml
  tags           = { n = "${1e20}" }
}

output "unknown" {
  value = { principal = user_assigned_identity.uai.principal_id, n = 1e20 }
}
AMLSEC
printf '{"from_file": 340282366920938463463374607431768211457}\n' > vars.json

echo "1. plan -out: the plan file and show -json keep the digits"
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -var-file vars.json -out p.plan > plan.out 2>&1
grep -q '^  + big = 1267650600228229401496703205377$' plan.out || fail "plan shows big"
grep -q '^  + list = \[18446744073709551616, -18446744073709551617, 1, 340282366920938463463374607431768211456\]$' plan.out \
  || fail "plan shows list"
expect_exit 0 "$AMLSEC" show -json p.plan > show-plan.json 2> show-plan.out
python3 - show-plan.json <<'PY' || fail "show -json PLAN"
import json, sys
doc = json.load(open(sys.argv[1]))
outs = doc["output_changes"]
assert outs["big"]["after"] == 2**100 + 1, outs["big"]
assert outs["list"]["after"] == [2**64, -2**64 - 1, 1, 2**128], outs["list"]
conf = doc["configuration"]["root_module"]["outputs"]
assert conf["literal"]["expression"] == {"constant_value": -2**64}, conf["literal"]
PY
grep -q 'u0000\|\$number' show-plan.json && fail "show -json leaks the internal form"
# the plan file writes numbers as JSON numbers and unknowns without a NUL: no \u0000 in it
grep -q 'u0000\|\$number' p.plan && fail "the plan file holds the internal form: $(grep -o '.\{40\}u0000.\{40\}' p.plan | head -n 3)"
python3 - p.plan <<'PY' || fail "the plan file's JSON numbers"
import json, sys
text = open(sys.argv[1]).read()
assert '1267650600228229401496703205377' in text, "big's digits"
assert '100000000000000000000' in text and '1500000000000000000000000000000' in text, "exponent literals' digits"
json.loads(text)
PY
python3 - show-plan.json <<'PY' || fail "show -json PLAN: exponent literals"
import json, sys
doc = json.load(open(sys.argv[1]))
outs = doc["output_changes"]
assert outs["exponent"]["after"] == [10**20, 15 * 10**29, {"a": 125 * 10**19}], outs["exponent"]
PY
# a plan file saved before (big numbers as {"$number": "\u0000DIGITS"}, unknowns tagged
# "ADDRESS\u0000ATTR") still reads: its checksum holds, and the numbers are exact
python3 - p.plan old.plan <<'PY' || fail "making an old plan file"
import hashlib, json, re, sys
text = open(sys.argv[1]).read()
head, plan = text.split('"plan":', 1)
plan = plan[:-2]  # "}\n"
plan = plan.replace('1267650600228229401496703205377', '{"$number":"\\u00001267650600228229401496703205377"}')
plan = re.sub(r'\{"\$unknown":\["([^"]*)","([^"]*)"\]\}', r'{"$unknown":"\1\\u0000\2"}', plan)
assert '\\u0000' in plan
head = re.sub('"sha256":"[0-9a-f]{64}"', '"sha256":"%s"' % hashlib.sha256(plan.encode()).hexdigest(), head)
open(sys.argv[2], "w").write(head + '"plan":' + plan + '}\n')
PY
expect_exit 0 "$AMLSEC" show -json old.plan > show-old.json 2> show-old.out
cmp -s <(jq -S 'del(.timestamp)' show-plan.json) <(jq -S 'del(.timestamp)' show-old.json) \
  || fail "an old plan file reads otherwise: $(diff <(jq -S . show-plan.json) <(jq -S . show-old.json) | head -n 20)"

echo "2. apply; the state holds JSON numbers; output and output -json read them exactly"
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color p.plan > apply.out 2>&1
grep -q '^big = 1267650600228229401496703205377$' apply.out || fail "apply prints big"
grep -q '"value":1267650600228229401496703205377' .amlsec/state.json || fail "state holds the number"
for f in .amlsec/*; do
  [ -f "$f" ] && grep -q 'u0000\|\$number' "$f" && fail "$f holds the internal form"
done
expect_exit 0 "$AMLSEC" output -json > output.json 2> output.out
python3 - output.json <<'PY' || fail "output -json"
import json, sys
o = json.load(open(sys.argv[1]))
assert o["big"] == {"sensitive": False, "type": "number", "value": 2**100 + 1}, o["big"]
assert o["list"]["value"] == [2**64, -2**64 - 1, 1, 2**128], o["list"]
assert o["exponent"]["value"] == [10**20, 15 * 10**29, {"a": 125 * 10**19}], o["exponent"]
assert o["unknown"]["value"]["n"] == 10**20, o["unknown"]
PY
[ "$("$AMLSEC" output big)" = 1267650600228229401496703205377 ] || fail "output big"
expect_exit 0 "$AMLSEC" show -json > show-state.json 2> show-state.out
python3 - show-state.json <<'PY' || fail "show -json state"
import json, sys
o = json.load(open(sys.argv[1]))["values"]["outputs"]
assert o["big"]["value"] == 2**100 + 1, o["big"]
# Terraform's type JSON: a big number is a number (not the object amlsec holds it as)
assert o["big"]["type"] == "number" and o["list"]["type"] == ["tuple", ["number"] * 4], (o["big"], o["list"])
PY

echo "3. the next plan reads the state back: no changes"
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -var-file vars.json -detailed-exitcode > plan2.out 2>&1
expect_exit 0 "$AMLSEC" plan -cloud local -json -var-file vars.json > plan2.jsonl 2> plan2.err
grep -q 'u0000\|\$number' plan2.jsonl && fail "plan -json holds the internal form"
grep -q '"exponent":{"sensitive":false,"type":\["tuple",\["number","number",\["object",{"a":"number"}\]\]\],"value":\[100000000000000000000,1500000000000000000000000000000,{"a":1250000000000000000000}\]' plan2.jsonl \
  || fail "plan -json: the exponent output's digits"
# a state written when 1e20 was a double holds 1e+20: read back as the whole number, no changes
cp .amlsec/state.json state.saved
python3 - .amlsec/state.json <<'PY' || fail "making a state with exponent numbers"
import hashlib, re, sys
text = open(sys.argv[1]).read()
head, body = text.split('","state":', 1)
body = body[:-2]  # "}\n"
old = '[100000000000000000000,1500000000000000000000000000000,{"a":1250000000000000000000}]'
assert old in body, body
body = body.replace(old, '[1e+20,1.5e+30,{"a":1.25e+21}]')
head = re.sub('"sha256":"[0-9a-f]{64}', '"sha256":"' + hashlib.sha256(body.encode()).hexdigest(), head)
open(sys.argv[1], "w").write(head + '","state":' + body + '}\n')
PY
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -var-file vars.json -detailed-exitcode > plan2b.out 2>&1
expect_exit 0 "$AMLSEC" output -json exponent > exponent.json 2> exponent.out
python3 -c 'import json, sys; v = json.load(open(sys.argv[1])); assert v == [10**20, 15 * 10**29, {"a": 125 * 10**19}], v' \
  exponent.json || fail "output -json exponent from an exponent-form state"
cp state.saved .amlsec/state.json

echo "4. a sensitive big number: encrypted state, never shown, not in debug logs"
cat >> main.amlsec <<'AMLSEC'

variable "secret_n" {
  type      = number
  sensitive = true
}

output "hidden" {
  value     = var.secret_n + 1
  sensitive = true
}

AMLSEC
export AMLSEC_STATE_KEY=$(printf big-numbers | sha256sum | cut -c1-64) AMLSEC_VAR_secret_n=98765432109876543210987654321
AMLSEC_LOG=debug "$AMLSEC" apply -cloud local -auto-approve -no-color -var-file vars.json > apply2.out 2>&1 \
  || fail "apply with a sensitive big number"
grep -q '98765432109876543210987654322\|98765432109876543210987654321' apply2.out && fail "secret digits in apply's output"
expect_exit 0 "$AMLSEC" output -json > output2.json 2> output2.out
grep -q '9876543210987654' output2.json && fail "secret digits in output -json"
[ "$("$AMLSEC" output -show-sensitive hidden)" = 98765432109876543210987654322 ] || fail "output -show-sensitive hidden"
expect_exit 0 "$AMLSEC" show -json > show-state2.json 2> show-state2.out
grep -q '9876543210987654' show-state2.json && fail "secret digits in show -json"
jq -e '.values.outputs.hidden == {"sensitive": true, "type": "number", "value": "(sensitive)"}' show-state2.json > /dev/null \
  || fail "show -json: a sensitive big number: $(jq -c .values.outputs.hidden show-state2.json)"
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -var-file vars.json -detailed-exitcode > plan3.out 2>&1

echo "5. a sensitive big number in a request body is masked in the trace log (registered as a secret)"
cat >> main.amlsec <<'AMLSEC'

resource_group "tagged" {
  name = "rg-big-tagged"
  tags = { n = var.secret_n }
}
AMLSEC
# ARM's tags are strings: the number is sent as its digits, masked in the trace
AMLSEC_LOG=trace "$AMLSEC" apply -cloud local -auto-approve -no-color -var-file vars.json > apply3.out 2>&1 \
  || fail "apply of a sensitive big number in a tag"
grep -q '> body {"location":"westeurope","tags":{"n":"\*\*\*"}}' apply3.out || fail "the request body not masked"
grep -q '9876543210987654' apply3.out && fail "secret digits in the trace log"
# ARM answers the tag as the string it was sent: nothing to change
expect_exit 0 "$AMLSEC" plan -cloud local -no-color -var-file vars.json -detailed-exitcode > plan4.out 2>&1
echo "ok"
