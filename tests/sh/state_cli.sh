#!/usr/bin/env bash
# End-to-end: amlsec state list/show/rm/mv/pull/push and force-unlock on the
# local backend, encryption at rest (raw key, rotation, wrong key), and
# damaged state refused without being overwritten.
set -euo pipefail
: "${AMLSEC:?}"
work=$(mktemp -d /tmp/amlsec-state-cli.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_fail() { # expect_fail PATTERN cmd...: must exit 1 and print PATTERN on stderr
    local pat=$1; shift
    if "$@" >out.txt 2>err.txt; then fail "expected failure: $*"; fi
    grep -q -- "$pat" err.txt || { cat err.txt >&2; fail "stderr lacks '$pat': $*"; }
}

# A state document written by hand: the body, then the checksummed envelope.
make_state() { # make_state FILE LINEAGE SERIAL
    local body
    body=$(printf '{"amlsec_version":"0.1.0","lineage":"%s","resources":[%s,%s],"serial":%s}' "$2" \
      '{"address":"azurerm_machine_learning_workspace.main","api_version":"2024-04-01","arm_id":"/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/workspaces/ws","attributes":{"name":"ws","properties":{"publicNetworkAccess":"Disabled","storageKey":"TOPSECRET"}},"dependencies":["azurerm_resource_group.rg"],"kind":"azurerm_machine_learning_workspace","sensitive":["/properties/storageKey"],"status":"created"}' \
      '{"address":"azurerm_resource_group.rg","api_version":"2021-04-01","arm_id":"/subscriptions/s/resourceGroups/rg","attributes":{"location":"westeurope","name":"rg"},"dependencies":[],"kind":"azurerm_resource_group","sensitive":[],"status":"tainted"}' "$3")
    local sum
    sum=$(printf '%s' "$body" | sha256sum | cut -d' ' -f1)
    printf '{"format_version":1,"sha256":"%s","state":%s}\n' "$sum" "$body" >"$1"
}
L1=11111111-1111-4111-8111-111111111111
L2=22222222-2222-4222-8222-222222222222

make_state in.json $L1 5
"$AMLSEC" state push in.json >out.txt || fail "push into an empty state"
grep -q "serial 5" out.txt || fail "push keeps the serial"
[ "$(stat -c %a .amlsec/state.json)" = 600 ] || fail "state file mode is not 0600"
"$AMLSEC" state list >out.txt
printf 'azurerm_machine_learning_workspace.main\nazurerm_resource_group.rg\n' | cmp - out.txt || fail "list"
"$AMLSEC" state show azurerm_machine_learning_workspace.main >out.txt
grep -q '(sensitive)' out.txt || fail "show hides sensitive values"
grep -q TOPSECRET out.txt && fail "show printed a sensitive value"
"$AMLSEC" state show -json azurerm_resource_group.rg | grep -q '"status": "tainted"' || fail "show -json"
expect_fail "no resource instance 'nope'" "$AMLSEC" state show nope
expect_fail "unknown subcommand" "$AMLSEC" state frob

"$AMLSEC" state mv azurerm_resource_group.rg azurerm_resource_group.main >/dev/null
"$AMLSEC" state show -json azurerm_machine_learning_workspace.main | grep -q '"azurerm_resource_group.main"' \
    || fail "mv rewrites dependencies"
[ -f .amlsec/state.json.backup ] || fail "no backup kept"
"$AMLSEC" state rm azurerm_resource_group.main | grep -q "Removed azurerm_resource_group.main" || fail "rm"
[ "$("$AMLSEC" state list)" = azurerm_machine_learning_workspace.main ] || fail "list after rm"

# push: lineage and serial guards
make_state other.json $L2 100
expect_fail "lineage" "$AMLSEC" state push other.json
make_state old.json $L1 3
expect_fail "older than" "$AMLSEC" state push old.json
"$AMLSEC" state push -force old.json | grep -q "serial 8" || fail "forced push lands after the current serial"
"$AMLSEC" state pull >pulled.json
"$AMLSEC" state push pulled.json >/dev/null || fail "pull output pushes back"

# a writer killed mid-write leaves the lock file; force-unlock by id
cp .amlsec/state.json before.json
if AMLSEC_FAULT_WRITE=after-fsync "$AMLSEC" state rm azurerm_resource_group.rg 2>/dev/null; then
    fail "fault injection did not stop the writer"
fi
cmp before.json .amlsec/state.json || fail "killed writer changed the state"
id=$(sed -n 's/.*"id": *"\([0-9a-f-]*\)".*/\1/p' .amlsec/state.json.lock)
[ -n "$id" ] || fail "no lock id recorded"
expect_fail "does not match" "$AMLSEC" force-unlock 00000000-0000-4000-8000-000000000000
"$AMLSEC" force-unlock "$id" | grep -q "removed" || fail "force-unlock"
[ ! -e .amlsec/state.json.lock ] || fail "lock file still there"
expect_fail "not locked" "$AMLSEC" force-unlock "$id"

# damaged state: refused with path and reason, never overwritten
cp .amlsec/state.json good.json
head -c 100 good.json >.amlsec/state.json
cp .amlsec/state.json damaged.json
expect_fail ".amlsec/state.json' is truncated" "$AMLSEC" state list
expect_fail "truncated" "$AMLSEC" state rm azurerm_machine_learning_workspace.main
cmp damaged.json .amlsec/state.json || fail "damaged state was overwritten"
sed 's/Disabled/Enabled!/' good.json >.amlsec/state.json
expect_fail "checksum" "$AMLSEC" state list
sed 's/"format_version":1/"format_version":7/' good.json >.amlsec/state.json
expect_fail "newer than this amlsec" "$AMLSEC" state list
cp good.json .amlsec/state.json

# encryption at rest: a raw key (hex), then rotation to a base64 key
K1=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
K2=$(head -c 32 /dev/urandom | base64)
AMLSEC_STATE_KEY=$K1 "$AMLSEC" state push -state enc.json in.json >/dev/null
head -c 7 enc.json | grep -q AMLSECX || fail "state not encrypted"
grep -q TOPSECRET enc.json && fail "plaintext secret in encrypted state"
AMLSEC_STATE_KEY=$K1 "$AMLSEC" state list -state enc.json | grep -q rg || fail "read with key"
expect_fail "is encrypted" "$AMLSEC" state list -state enc.json
cp enc.json enc.before
expect_fail "wrong key" env AMLSEC_STATE_KEY="$K2" "$AMLSEC" state rm -state enc.json azurerm_resource_group.rg
cmp enc.before enc.json || fail "wrong key overwrote the state"
expect_fail "not a 256-bit key" env AMLSEC_STATE_KEY=abc "$AMLSEC" state list -state enc.json
AMLSEC_STATE_KEY=$K2 AMLSEC_STATE_KEY_FALLBACK=$K1 "$AMLSEC" state rm -state enc.json azurerm_resource_group.rg >/dev/null \
    || fail "rotation: read with the fallback"
AMLSEC_STATE_KEY=$K2 "$AMLSEC" state list -state enc.json >/dev/null || fail "rotation: written with the new key"
expect_fail "wrong key" env AMLSEC_STATE_KEY=$K1 "$AMLSEC" state list -state enc.json
AMLSEC_STATE_KEY=$K2 "$AMLSEC" state pull -state enc.json | head -c 7 | grep -q AMLSECX || fail "pull stays encrypted"
# state mv / state rm of whole modules, module instances and whole resources, with Terraform's
# rules (docs/state.md): every entry under a module moves, nested modules and " (previous)"
# entries included, dependencies follow; a target that exists, a source that matches nothing or a
# target of another sort or type fails and the state's bytes stay as they were; -dry-run
# changes nothing. (Before, state mv and rm took instance addresses only, and a move to another
# type's address wrote a state amlsec then refused to read.)
mkdir mods && cd mods
python3 - <<'PY'
import hashlib, json
S = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
def e(addr, kind, name, deps=()):
    return {"address": addr, "api_version": "2021-04-01", "arm_id": S + name,
            "attributes": {"name": name}, "dependencies": list(deps), "kind": kind,
            "sensitive": [], "status": "created"}
rs = [e("resource_group.rg", "resource_group", "rg"),
      e("resource_group.s[0]", "resource_group", "s0", ["resource_group.rg"]),
      e("resource_group.s[1]", "resource_group", "s1", ["resource_group.rg"]),
      e("module.a.resource_group.w", "resource_group", "aw"),
      e("module.a.resource_group.w (previous)", "resource_group", "aw-old"),
      e("module.a.module.n.resource_group.x", "resource_group", "anx", ["module.a.resource_group.w"]),
      e('module.team["x"].resource_group.t', "resource_group", "tx"),
      e('module.team["y"].resource_group.t', "resource_group", "ty"),
      e("resource_group.top", "resource_group", "top",
        ["module.a.resource_group.w", "module.a.module.n.resource_group.x", 'module.team["x"].resource_group.t'])]
rs.sort(key=lambda r: r["address"])
body = json.dumps({"amlsec_version": "0.1.0", "lineage": "33333333-3333-4333-8333-333333333333",
                   "resources": rs, "serial": 1}, separators=(",", ":"), sort_keys=True)
open("in.json", "w").write('{"format_version":1,"sha256":"%s","state":%s}\n'
                           % (hashlib.sha256(body.encode()).hexdigest(), body))
PY
"$AMLSEC" state push in.json >/dev/null || fail "push the module state"
deps() { "$AMLSEC" state show -json "$1" | jq -c .dependencies; }
unchanged() { # unchanged CMD...: fails (exit 1) and leaves the state's bytes alone
    cp .amlsec/state.json before.json
    expect_fail "$@"
    cmp -s before.json .amlsec/state.json || fail "a failed '$*' changed the state"
}

# a whole module, nested module and " (previous)" entry included
"$AMLSEC" state mv module.a module.b >out.txt || fail "mv module.a module.b: $(cat err.txt 2>/dev/null)"
grep -qxF 'Moved module.a.module.n.resource_group.x to module.b.module.n.resource_group.x' out.txt \
    || fail "mv module: $(cat out.txt)"
grep -qxF 'Successfully moved 3 resource instances.' out.txt || fail "mv module: count: $(cat out.txt)"
"$AMLSEC" state list >list.txt
grep -qxF 'module.b.resource_group.w (previous)' list.txt || fail "the (previous) entry stayed behind"
grep -q '^module\.a\.' list.txt && fail "entries left under module.a: $(cat list.txt)"
[ "$(deps resource_group.top)" = '["module.b.resource_group.w","module.b.module.n.resource_group.x","module.team[\"x\"].resource_group.t"]' ] \
    || fail "dependencies did not follow the module: $(deps resource_group.top)"
[ "$(deps module.b.module.n.resource_group.x)" = '["module.b.resource_group.w"]' ] || fail "inner dependency"
# one instance of a for_each call to another key; a call to a count instance; into another module
"$AMLSEC" state mv 'module.team["x"]' 'module.team["z"]' >/dev/null || fail "mv module instance"
[ "$(deps resource_group.top | jq -r '.[2]')" = 'module.team["z"].resource_group.t' ] || fail "deps after the key move"
"$AMLSEC" state mv module.b 'module.c[0]' >/dev/null || fail "mv module.b module.c[0]"
"$AMLSEC" state mv 'module.c[0]' module.parent.module.c >/dev/null || fail "mv into a nested module"
"$AMLSEC" state list | grep -qxF 'module.parent.module.c.module.n.resource_group.x' || fail "nested module move"
# resources into and out of modules
"$AMLSEC" state mv resource_group.top module.m.resource_group.top >/dev/null || fail "mv a resource into a module"
"$AMLSEC" state mv module.parent.module.c.resource_group.w resource_group.w >/dev/null || fail "mv a resource out of a module"
"$AMLSEC" state list | grep -qxF 'resource_group.w (previous)' || fail "(previous) follows an instance move"
[ "$(deps module.parent.module.c.module.n.resource_group.x)" = '["resource_group.w"]' ] || fail "deps after moving out"
# a whole resource (count): every instance, keys kept
"$AMLSEC" state mv resource_group.s resource_group.t >out.txt || fail "mv a whole resource"
[ "$(grep -c '^Moved resource_group.s\[[01]\] to resource_group.t\[[01]\]$' out.txt)" = 2 ] || fail "whole resource: $(cat out.txt)"
# -dry-run: said, not done
cp .amlsec/state.json before.json
"$AMLSEC" state mv -dry-run module.m module.q >out.txt || fail "mv -dry-run"
grep -qxF 'Would move module.m.resource_group.top to module.q.resource_group.top' out.txt || fail "mv -dry-run: $(cat out.txt)"
"$AMLSEC" state rm -dry-run module.team >out.txt || fail "rm -dry-run"
grep -qxF 'Would remove 2 resource instances.' out.txt || fail "rm -dry-run: $(cat out.txt)"
cmp -s before.json .amlsec/state.json || fail "-dry-run changed the state"
expect_fail "-dry-run is an option of" "$AMLSEC" state list -dry-run
# state list ADDR...: what each names, as rm matches it
printf 'module.team["y"].resource_group.t\nmodule.team["z"].resource_group.t\nresource_group.t[0]\nresource_group.t[1]\n' \
    | cmp - <("$AMLSEC" state list module.team resource_group.t) || fail "state list ADDR: $("$AMLSEC" state list module.team resource_group.t)"
[ "$("$AMLSEC" state list -json 'module.team["z"]' | jq -r '.[].address')" = 'module.team["z"].resource_group.t' ] \
    || fail "state list -json ADDR"
expect_fail "no module 'module.gone'" "$AMLSEC" state list module.gone
# state list -id=ID, as Terraform's: the instances whose ARM id is ID (ARM ids compare without
# case), with or without addresses; none is no error
S0=/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups
[ "$("$AMLSEC" state list -id="$S0/rg")" = resource_group.rg ] || fail "state list -id: $("$AMLSEC" state list -id="$S0/rg")"
[ "$("$AMLSEC" state list -id "${S0^^}/TY" module.team)" = 'module.team["y"].resource_group.t' ] || fail "state list -id ADDR"
[ -z "$("$AMLSEC" state list -id="$S0/ty" resource_group.rg)" ] || fail "state list -id of another address"
"$AMLSEC" state list -id="$S0/nothing" >out.txt || fail "state list -id of nothing fails"
[ ! -s out.txt ] || fail "state list -id of nothing: $(cat out.txt)"
[ "$("$AMLSEC" state list -json -id="$S0/rg" | jq -r '.[].address')" = resource_group.rg ] || fail "state list -json -id"
expect_fail "-id is an option of 'state list'" "$AMLSEC" state rm -id="$S0/rg" resource_group.rg
# refused, the state untouched
unchanged 'destination module module.team\["z"\] already exists' "$AMLSEC" state mv 'module.team["y"]' 'module.team["z"]'
unchanged "destination module module.parent.module.c.module.n already exists" \
    "$AMLSEC" state mv module.parent.module.c module.parent.module.c
unchanged "does not match anything in the state (the state holds its instances, e.g. module.team\[\"y\"\]" \
    "$AMLSEC" state mv module.team module.squad
unchanged "does not match anything" "$AMLSEC" state mv module.nope module.other
unchanged "resource types don't match" "$AMLSEC" state mv resource_group.rg storage_account.rg
unchanged "resource types don't match" "$AMLSEC" state mv resource_group.t storage_account.t
unchanged "the target must also be a module" "$AMLSEC" state mv module.m resource_group.m
unchanged "the target must also be a resource instance" "$AMLSEC" state mv resource_group.rg module.m
unchanged "the target must also be a whole resource" "$AMLSEC" state mv resource_group.t 'resource_group.u[0]'
unchanged "already a resource at that address" "$AMLSEC" state mv resource_group.t resource_group.t
unchanged "already a resource instance at that address" "$AMLSEC" state mv resource_group.w resource_group.rg
unchanged "is not a resource, resource instance or module address" "$AMLSEC" state mv resource_group.rg 'module.'
# an instance without a key beside instances with keys, or the reverse, for resources and module
# calls (before, accepted: the state then held resource_group.t and resource_group.t[0])
unchanged 'cannot move resource_group.rg to resource_group.t: resource_group.t has no key, and the state holds resource_group.t\[0\], which has one' \
    "$AMLSEC" state mv resource_group.rg resource_group.t
unchanged 'resource_group.t has no key' "$AMLSEC" state mv -dry-run resource_group.rg resource_group.t
unchanged 'resource_group.w has a key, and the state holds resource_group.w, which has none' \
    "$AMLSEC" state mv 'resource_group.t[0]' 'resource_group.w[0]'
unchanged 'module.team has no key, and the state holds module.team\["y"\].resource_group.t, which has one' \
    "$AMLSEC" state mv module.m module.team
unchanged 'module.m has a key, and the state holds module.m.resource_group.top, which has none' \
    "$AMLSEC" state mv resource_group.rg 'module.m["k"].resource_group.rg'
# state rm as Terraform's: an address that matches nothing is skipped (a warning here; Terraform
# is silent) while the others are removed; nothing matched at all fails, nothing written; a
# malformed address fails before anything is removed. (Before, one unmatched address failed the
# whole command.)
unchanged "no matching objects found" "$AMLSEC" state rm module.gone resource_group.nope
grep -q "no module 'module.gone' in the state: skipped" err.txt || fail "rm: unmatched not named: $(cat err.txt)"
unchanged "is not a resource, resource instance or module address" "$AMLSEC" state rm 'module.team["y"]' 'module.'
"$AMLSEC" state rm -dry-run 'module.team["y"]' module.gone >out.txt 2>err.txt || fail "rm -dry-run, one unmatched: $(cat err.txt)"
grep -qxF 'Would remove module.team["y"].resource_group.t' out.txt || fail "rm -dry-run partial: $(cat out.txt)"
grep -q "no module 'module.gone' in the state: skipped" err.txt || fail "rm -dry-run partial: $(cat err.txt)"
"$AMLSEC" state rm -dry-run module.gone >out.txt 2>err.txt || fail "rm -dry-run of nothing exits 0, as Terraform's"
grep -qxF 'Would have removed nothing.' out.txt || fail "rm -dry-run of nothing: $(cat out.txt)"
cmp -s before.json .amlsec/state.json || fail "rm -dry-run changed the state"
# a writer killed mid-write leaves the state as it was
cp .amlsec/state.json before.json
if AMLSEC_FAULT_WRITE=after-fsync "$AMLSEC" state mv module.m module.q >/dev/null 2>&1; then
    fail "fault injection did not stop the module move"
fi
cmp -s before.json .amlsec/state.json || fail "a killed module move changed the state"
# a full disk (here the file size limit, RLIMIT_FSIZE, with SIGXFSZ ignored: each write past it
# fails as a full disk's would): state mv and state rm fail, exit 1, naming the file, say nothing
# moved or removed, and leave the state and its backup as they were and no temporary file, again
# and again. (Before, 'Moved ...' and 'Removed ...' were printed, then the error; the backup was
# replaced by the state that failed to change, and from the second failure on a hard link
# '.amlsec/state.json.backup.tmp.PID' was left behind each time.)
# The writer killed above could not remove its temporary file; the next save under the lock
# removes it, and a dead writer's backup link, but never a live process's (here this shell's).
# (Before, they stayed for good.)
ls .amlsec/state.json.tmp.[0-9]* >/dev/null 2>&1 || fail "harness: the killed writer left no temporary file"
sleep 0 & dead=$!; wait "$dead"
touch ".amlsec/state.json.backup.tmp.$dead" ".amlsec/state.json.tmp.$$" ".amlsec/state.json.tmp.${dead}x"
full() { (trap '' XFSZ; ulimit -f 1; exec "$@"); }
[ "$(wc -c < .amlsec/state.json)" -gt 1024 ] || fail "harness: the state fits under the limit"
"$AMLSEC" state mv resource_group.rg resource_group.rgx >/dev/null && "$AMLSEC" state mv resource_group.rgx resource_group.rg >/dev/null \
    || fail "mv and back"
left=$(cd .amlsec && for f in state.json.tmp.* state.json.backup.tmp.*; do [ ! -e "$f" ] || echo "$f"; done | sort | tr '\n' ' ')
[ "$left" = "state.json.tmp.$$ state.json.tmp.${dead}x " ] || fail "temporary files after a save under the lock: $left"
rm -f ".amlsec/state.json.tmp.$$" ".amlsec/state.json.tmp.${dead}x"
cp .amlsec/state.json.backup backup-before.json
cmp -s backup-before.json .amlsec/state.json && fail "harness: the backup is the state already"
for c in "state mv module.m module.q" "state rm module.m" "state mv resource_group.rg resource_group.rg2"; do
    # shellcheck disable=SC2086
    unchanged "cannot write '.amlsec/state.json.tmp.[0-9]*': File too large" full "$AMLSEC" $c
    [ -s out.txt ] && fail "a failed '$c' on a full disk said: $(cat out.txt)"
    cmp -s backup-before.json .amlsec/state.json.backup || fail "a failed '$c' on a full disk replaced the backup"
    left=$(ls .amlsec | grep '\.tmp\.') && fail "a failed '$c' on a full disk left $left"
done
# state rm: every instance of a call (module.team holds module.team["y"] and ["z"]), a whole resource
"$AMLSEC" state rm module.team resource_group.t module.gone >out.txt 2>err.txt || fail "rm module.team resource_group.t module.gone"
grep -qxF 'Successfully removed 4 resource instances.' out.txt || fail "rm: $(cat out.txt)"
grep -q "no module 'module.gone' in the state: skipped" err.txt || fail "rm: $(cat err.txt)"
"$AMLSEC" state rm module.parent.module.c.module.n module.m.resource_group.top >/dev/null || fail "rm a nested module"
printf 'resource_group.rg\nresource_group.w\nresource_group.w (previous)\n' | cmp - <("$AMLSEC" state list) \
    || fail "after rm: $("$AMLSEC" state list)"
cd ..

# state mv -state-out=PATH (Terraform's flag): FROM's entries leave the state for the one at PATH
# (created when absent), under TO; dependencies inside what moves follow it; a target PATH's state
# holds already fails and neither file changes; -dry-run writes neither; both states are locked,
# the destination is written first (a writer killed there leaves both as they were), -state-out
# naming the source is refused, and it is an option of state mv only. (Before, no -state-out.)
mkdir out && cd out
python3 - <<'PY'
import hashlib, json
S = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
def e(addr, name, deps=()):
    return {"address": addr, "api_version": "2021-04-01", "arm_id": S + name,
            "attributes": {"name": name}, "dependencies": list(deps), "kind": "resource_group",
            "sensitive": [], "status": "created"}
rs = [e("resource_group.rg", "rg"), e("resource_group.s[0]", "s0"), e("resource_group.s[1]", "s1"),
      e("module.a.resource_group.w", "aw"), e("module.a.resource_group.w (previous)", "aw-old"),
      e("module.a.module.n.resource_group.x", "anx", ["module.a.resource_group.w"]),
      e("resource_group.top", "top", ["module.a.resource_group.w"])]
rs.sort(key=lambda r: r["address"])
body = json.dumps({"amlsec_version": "0.1.0", "cloud": "local", "lineage": "44444444-4444-4444-8444-444444444444",
                   "resources": rs, "serial": 1}, separators=(",", ":"), sort_keys=True)
open("in.json", "w").write('{"format_version":1,"sha256":"%s","state":%s}\n'
                           % (hashlib.sha256(body.encode()).hexdigest(), body))
PY
"$AMLSEC" state push in.json >/dev/null || fail "push the -state-out state"
both_unchanged() { # both_unchanged CMD...: fails (exit 1), neither state's bytes change
    cp .amlsec/state.json before.json
    [ -e other.json ] && cp other.json other-before.json || rm -f other-before.json
    expect_fail "$@"
    cmp -s before.json .amlsec/state.json || fail "a failed '$*' changed the source state"
    if [ -e other-before.json ]; then cmp -s other-before.json other.json || fail "a failed '$*' changed other.json"
    else [ ! -e other.json ] || fail "a failed '$*' created other.json"; fi
}
cp .amlsec/state.json before.json
"$AMLSEC" state mv -dry-run -state-out=other.json module.a module.a >out.txt || fail "mv -dry-run -state-out"
grep -qxF 'Would move module.a.resource_group.w to module.a.resource_group.w' out.txt || fail "mv -dry-run -state-out: $(cat out.txt)"
[ ! -e other.json ] || fail "-dry-run created the -state-out file"
cmp -s before.json .amlsec/state.json || fail "-dry-run -state-out changed the state"
"$AMLSEC" state mv -state-out=other.json module.a module.a >out.txt || fail "mv -state-out module.a"
grep -qxF 'Moved module.a.module.n.resource_group.x to module.a.module.n.resource_group.x' out.txt || fail "mv -state-out: $(cat out.txt)"
printf 'resource_group.rg\nresource_group.s[0]\nresource_group.s[1]\nresource_group.top\n' | cmp - <("$AMLSEC" state list) \
    || fail "source after -state-out: $("$AMLSEC" state list)"
printf 'module.a.module.n.resource_group.x\nmodule.a.resource_group.w\nmodule.a.resource_group.w (previous)\n' \
    | cmp - <("$AMLSEC" state list -state other.json) || fail "destination: $("$AMLSEC" state list -state other.json)"
[ "$("$AMLSEC" state show -json -state other.json module.a.module.n.resource_group.x | jq -c .dependencies)" = '["module.a.resource_group.w"]' ] \
    || fail "dependencies inside the move"
[ "$("$AMLSEC" state pull -state other.json | jq -r .state.cloud)" = local ] || fail "the new state does not record the source's cloud"
# into a state that exists, renamed on the way; the space form of the flag
"$AMLSEC" state mv -state-out other.json resource_group.s resource_group.t >out.txt || fail "mv -state-out a whole resource"
[ "$(grep -c '^Moved resource_group.s\[[01]\] to resource_group.t\[[01]\]$' out.txt)" = 2 ] || fail "whole resource: $(cat out.txt)"
"$AMLSEC" state list -state other.json | grep -qxF 'resource_group.t[1]' || fail "t[1] not in other.json"
# refused, neither state written
both_unchanged "already a resource instance at that address" "$AMLSEC" state mv -state-out=other.json resource_group.rg 'resource_group.t[0]'
both_unchanged "does not match anything" "$AMLSEC" state mv -state-out=other.json module.a module.b
both_unchanged "resource_group.t has no key, and the state holds resource_group.t\[0\], which has one" \
    "$AMLSEC" state mv -state-out=other.json resource_group.rg resource_group.t
both_unchanged "names the state being moved from" "$AMLSEC" state mv -state-out=.amlsec/state.json resource_group.rg resource_group.q
both_unchanged "names the state being moved from" "$AMLSEC" state mv -state-out=./.amlsec/../.amlsec/state.json resource_group.rg resource_group.q
# the source's backup: saving the source keeps its old self there, over what moved (it printed
# 'Moved', exit 0, and resource_group.q was in neither file)
[ -e .amlsec/state.json.backup ] || fail "no backup of the source to name"
cp .amlsec/state.json.backup backup-before.json
both_unchanged "names the backup of the state being moved from" "$AMLSEC" state mv -state-out=.amlsec/state.json.backup resource_group.rg resource_group.q
cmp -s backup-before.json .amlsec/state.json.backup || fail "a refused -state-out changed the source's backup"
both_unchanged "-state-out is an option of 'state mv'" "$AMLSEC" state rm -state-out=other.json resource_group.rg
both_unchanged "unknown flag\|did you mean" "$AMLSEC" state mv -state-o=other.json resource_group.rg resource_group.q
# a writer killed while writing the destination: both states as they were, both locks left
cp .amlsec/state.json before.json; cp other.json other-before.json
if AMLSEC_FAULT_WRITE=after-fsync "$AMLSEC" state mv -state-out=other.json resource_group.rg resource_group.rg >/dev/null 2>&1; then
    fail "fault injection did not stop state mv -state-out"
fi
cmp -s before.json .amlsec/state.json && cmp -s other-before.json other.json || fail "a killed -state-out move changed a state"
jq -e '.operation == "state mv"' other.json.lock .amlsec/state.json.lock >/dev/null \
    || fail "state mv -state-out did not lock both states"
# killed once the destination is written: the entry is in both states, never in neither
if AMLSEC_FAULT_WRITE=after-rename "$AMLSEC" state mv -state-out=other.json resource_group.rg resource_group.rg >/dev/null 2>&1; then
    fail "fault injection did not stop state mv -state-out after the destination's write"
fi
"$AMLSEC" state list -state other.json | grep -qxF resource_group.rg || fail "killed after the destination's write: not in other.json"
cmp -s before.json .amlsec/state.json || fail "killed after the destination's write: the source changed"
# the same move again refuses naming the destination (it said 'in the state', which the source's
# state list contradicts) and says how to finish the move
expect_fail "-state-out 'other.json': cannot move to resource_group.rg: there is already" \
    "$AMLSEC" state mv -state-out=other.json resource_group.rg resource_group.rg
grep -qF "hint: if an earlier 'state mv -state-out' stopped between its two writes, what it moved is in both states: 'amlsec state rm -state .amlsec/state.json resource_group.rg' finishes it" err.txt \
    || fail "no hint after a move stopped between its writes: $(cat err.txt)"
cp other-before.json other.json
# the destination's lock is honoured (held here with flock(1), as amlsec's local lock is an
# flock; from another source state, -state=PATH)
"$AMLSEC" state pull > src2.json && "$AMLSEC" state push -state=src2-state.json src2.json >/dev/null || fail "src2"
cp src2-state.json src2-before.json
exec {lk}<>other.json.lock
flock -n "$lk" || fail "cannot take other.json's lock"
expect_fail "lock" "$AMLSEC" state mv -state=src2-state.json -state-out=other.json resource_group.rg resource_group.rg
exec {lk}>&-
cmp -s src2-before.json src2-state.json && cmp -s other-before.json other.json || fail "a locked destination: a state changed"
"$AMLSEC" state mv -state=src2-state.json -state-out=other.json resource_group.rg resource_group.rg >/dev/null || fail "mv -state= -state-out="
"$AMLSEC" state list -state other.json | grep -qxF resource_group.rg || fail "rg not moved from src2"
"$AMLSEC" state list -state src2-state.json | grep -qxF resource_group.rg && fail "rg left in src2"
cd ..

# The commands that only read write nothing beside a state named with -state: no journal, no
# lock file, no backup (before, plan and plan -refresh=false created an empty PATH.journal).
mkdir ro ro/sd && cd ro
cat > main.amlsec <<'EOF'
settings {
  subscription = "00000000-0000-0000-0000-0000000000e8"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-ro-g"
}

output "g" {
  value = resource_group.g.name
}
EOF
"$AMLSEC" apply -cloud local -auto-approve -no-color -state sd/st.json >out.txt 2>&1 || fail "ro: apply: $(cat out.txt)"
rm -f sd/st.json.journal sd/st.json.backup
cp sd/st.json st.before
for c in "plan -refresh=false" "plan -cloud local" "plan -cloud local -detailed-exitcode" "show" "show -json" \
         "output" "output -json" "check" "drift -cloud local" "state list" "state pull"; do
    # shellcheck disable=SC2086
    "$AMLSEC" $c -state sd/st.json >out.txt 2>&1 || fail "ro: $c: $(cat out.txt)"
    [ "$(ls -A sd)" = st.json ] || fail "ro: '$c -state' wrote beside the state: $(ls -A sd)"
    cmp -s st.before sd/st.json || fail "ro: '$c -state' changed the state"
done
"$AMLSEC" state show -state sd/st.json resource_group.g >out.txt 2>&1 || fail "ro: state show: $(cat out.txt)"
"$AMLSEC" validate >out.txt 2>&1 || fail "ro: validate: $(cat out.txt)"
[ "$(ls -A sd)" = st.json ] || fail "ro: state show or validate wrote beside the state: $(ls -A sd)"
# an apply with nothing to do needs no journal either; one that changes something leaves it empty
"$AMLSEC" apply -cloud local -auto-approve -no-color -state sd/st.json >out.txt 2>&1 || fail "ro: no-op apply: $(cat out.txt)"
[ "$(ls -A sd)" = st.json ] || fail "ro: a no-op apply wrote beside the state: $(ls -A sd)"
sed -i 's/rg-ro-g"/rg-ro-g"\n  tags = { team = "ro" }/' main.amlsec
"$AMLSEC" apply -cloud local -auto-approve -no-color -state sd/st.json >out.txt 2>&1 || fail "ro: apply: $(cat out.txt)"
[ -e sd/st.json.journal ] && [ ! -s sd/st.json.journal ] || fail "ro: an apply's journal: $(ls -A sd)"
cd ..
echo "state_cli: ok"
