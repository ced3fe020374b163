#!/usr/bin/env bash
# examples/multi-team (issue 19): three teams' secured workspaces from one module with shared
# private DNS zones, locals and outputs. validate reports notes only (the example's documented
# level); plan, apply against the embedded local cloud, and plan again to no changes
# (-detailed-exitcode 0); module addresses in the state, -target of one module instance, and
# the outputs filled in after apply.
set -uo pipefail
: "${AMLSEC:?}" "${SRC:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exec {err}>&2
fail() { echo "FAIL: $*" >&$err; for f in $(ls -t "$work"/*.out 2>/dev/null | head -n 2); do echo "--- $f"; tail -n 30 "$f"; done >&$err; exit 1; }
expect_exit() { local want=$1; shift; "$@"; local got=$?; [ "$got" = "$want" ] || fail "exit $got, want $want: $*"; }
cp -r "$SRC/examples/multi-team/." "$work/"
cd "$work"

echo "1. validate: no rule finding above a note"
expect_exit 0 "$AMLSEC" validate -no-color > validate.out 2>&1
grep -Eq '^[^ ]+: (error|warning):' validate.out && fail "validate reports more than notes"
grep -q '^modules/team/main.amlsec:[0-9]*:[0-9]*: note: module.team\["nlp"\].storage_account.ml' validate.out \
  || fail "findings do not point into the module's files with module addresses"

echo "2. plan, apply, plan again: no changes"
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > plan1.out 2>&1
grep -q '^Plan: 77 to add, 0 to change, 0 to destroy.$' plan1.out || fail "plan summary"
grep -q '# module.team\["fraud"\].workspace.ml will be created' plan1.out || fail "module address in the plan"
grep -q '^  + workspace "ml" {$' plan1.out || fail "the block header names the kind and label"
expect_exit 0 "$AMLSEC" apply -cloud local -auto-approve -no-color > apply.out 2>&1
grep -q 'Apply complete! Resources: 77 added, 0 changed, 0 destroyed.' apply.out || fail "apply summary"
expect_exit 0 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color > plan2.out 2>&1
grep -q 'No changes.' plan2.out || fail "second plan is not empty"

echo "3. the state, outputs and -target see module addresses"
"$AMLSEC" state list > list.out || fail "state list"
[ "$(grep -c '^module\.team\["[a-z]*"\]\.private_dns_zone_group\.' list.out)" = 15 ] || fail "zone groups in the state"
[ "$(grep -c '^private_dns_zone\.shared\[' list.out)" = 6 ] || fail "shared zones in the state"
"$AMLSEC" output -json > outputs.json || fail "output -json"
python3 - outputs.json <<'PY' || fail "outputs"
import json, re, sys
o = json.load(open(sys.argv[1]))
assert set(o["workspaces"]["value"]) == {"vision", "nlp", "fraud"}
assert o["workspaces"]["value"]["nlp"].endswith("/workspaces/mlw-nlp")
for p in o["workspace_principals"]["value"].values():
    assert re.fullmatch(r"[0-9a-f-]{36}", p), p
PY
sed -i 's/retention_days   = 90/retention_days   = 60/; s/    max = 2/    max = 3/' main.amlsec modules/team/main.amlsec
expect_exit 2 "$AMLSEC" plan -cloud local -detailed-exitcode -no-color -target 'module.team["nlp"]' > target.out 2>&1
grep -q '# module.team\["nlp"\].compute_cluster.build will be updated in-place' target.out || fail "-target module instance"
grep -Eq '# (module.team\["(vision|fraud)"\]|log_analytics)' target.out && fail "-target planned outside the module instance"
echo "multi-team: ok"
