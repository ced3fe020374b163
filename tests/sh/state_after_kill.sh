#!/usr/bin/env bash
# The commands that do not read the cloud, after an apply was killed (kill -9) and before any plan
# or apply recovered it (the saved state then lags the journal):
#   1. state list, state list -json, state show, show, show -json fold the journal's completed
#      outcomes in memory: the resource group created and the update made before the kill are
#      shown (they were missing before: the saved state did not hold them), the create in flight
#      is named in a warning with the command that recovers it; output and state pull say the
#      state lags; none of them writes anything (state file and journal byte-identical);
#   2. state mv and state rm that the next recovery would undo are refused, exit 1, nothing
#      changed (before: state mv of the updated group succeeded, and the next plan, which folded
#      the update in under its old address, planned to destroy the group); state push of a state
#      without it too; so is state mv of a group the create in flight depends on (before: moved,
#      and the recovered account depended on the old address), and its move to another state file
#      with -state-out (before: taken for a removal, allowed); a move the journal does not touch
#      goes through;
#   3. plan recovers; the warnings are gone, and the same state mv then goes through and plans
#      nothing to destroy.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${JSONSCHEMA:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0 --lro-ms Microsoft.Storage/storageAccounts=4000)
apid=""
cleanup() {
  [ -n "$apid" ] && kill -9 "$apid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
start_cloud
sub=00000000-0000-0000-0000-0000000000e7
settings() {
  cat <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-sak-g"
}

output "g" {
  value = resource_group.g.id
}
EOF
}
{ settings; cat <<'EOF'

resource_group "h" {
  name = "rg-sak-h"
}
EOF
} > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > a0.out 2>&1
# h is tagged, k and the storage account in h are new; killed while the account is created
{ settings; cat <<'EOF'

resource_group "h" {
  name = "rg-sak-h"
  tags = { team = "data" }
}

resource_group "k" {
  name = "rg-sak-k"
}

storage_account "s" {
  resource_group = resource_group.h
  name           = "stsak001"
  depends_on     = [resource_group.g]
}
EOF
} > main.amlsec
"$AMLSEC" apply -cloud "$url" -auto-approve -no-color > a1.out 2>&1 &
apid=$!
for _ in $(seq 300); do grep -qs '^storage_account.s: Creating\.\.\.$' a1.out && break; sleep 0.1; done
grep -qs '^storage_account.s: Creating\.\.\.$' a1.out || fail "the storage account's create never started"
sleep 0.3
kill -9 "$apid"; wait "$apid" 2>/dev/null; apid=""
grep -q 'resource_group.h: Modifications complete' a1.out && grep -q 'resource_group.k: Creation complete' a1.out \
  || fail_with "the update and the create did not complete before the kill" a1.out
cp .amlsec/state.json state.saved && cp .amlsec/state.json.journal journal.saved

echo "1. the state commands show what completed, name what was in flight, write nothing"
warned() { # file: the fold's warning, naming the create in flight and the way out
  grep -q "^amlsec: warning: the journal '.amlsec/state.json.journal' holds 3 operations of an apply (interrupted, or still running) that the saved state does not hold yet; shown with the 2 that completed folded in (in memory: nothing is read from the cloud or written), and the 1 whose outcome is unknown as last saved:$" "$1" \
    && grep -q '^  create storage_account.s: in flight$' "$1" \
    && grep -q "^hint: 'amlsec plan' or 'amlsec apply' reads the cloud and records them in the saved state$" "$1"
}
expect_exit 0 "$AMLSEC" state list > l1.out 2> l1.err
[ "$(cat l1.out)" = "$(printf 'resource_group.g\nresource_group.h\nresource_group.k')" ] \
  || fail_with "state list after the kill" l1.out
warned l1.err || fail_with "state list's warning" l1.err
expect_exit 0 "$AMLSEC" state list -json > l2.json 2> l2.err
jq -e 'map(.address) == ["resource_group.g", "resource_group.h", "resource_group.k"]' l2.json > /dev/null \
  || fail_with "state list -json after the kill" l2.json
expect_exit 0 "$AMLSEC" state show -json resource_group.h > s1.json 2> s1.err
jq -e '.attributes.tags.team == "data"' s1.json > /dev/null || fail_with "state show: the update is not shown" s1.json
warned s1.err || fail_with "state show's warning" s1.err
expect_exit 0 "$AMLSEC" show -no-color > sh1.out 2> sh1.err
grep -q '^# resource_group.k$' sh1.out || fail_with "show: the created group is not shown" sh1.out
warned sh1.err || fail_with "show's warning" sh1.err
expect_exit 0 "$AMLSEC" show -json > sh2.json 2> sh2.err
jq -e '[.values.root_module.resources[].address] | index("resource_group.k") != null' sh2.json > /dev/null \
  || fail_with "show -json: the created group is not shown" sh2.json
expect_exit 0 "$AMLSEC" output -no-color > o1.out 2> o1.err
grep -q '^g = ' o1.out || fail_with "output" o1.out
grep -q "the outputs are those the last completed apply recorded$" o1.err || fail_with "output's warning" o1.err
expect_exit 0 "$AMLSEC" state pull > p1.json 2> p1.err
cmp -s p1.json state.saved || fail "state pull did not print the state as stored"
grep -q "state pull prints the state as stored$" p1.err || fail_with "state pull's warning" p1.err
cmp -s .amlsec/state.json state.saved || fail "a read-only command changed the state"
cmp -s .amlsec/state.json.journal journal.saved || fail "a read-only command changed the journal"

echo "2. changes the recovery would undo are refused"
expect_exit 1 "$AMLSEC" state mv resource_group.h resource_group.h2 > m1.out 2>&1
grep -q "^amlsec: error: state mv: the journal '.amlsec/state.json.journal' still holds the update of resource_group.h from an interrupted apply (completed, not yet in the saved state)" m1.out \
  || fail_with "state mv of the updated group" m1.out
grep -q 'Moved' m1.out && fail_with "state mv said it moved" m1.out
expect_exit 1 "$AMLSEC" state mv resource_group.g resource_group.k > m2.out 2>&1 # k is the journal's
expect_exit 1 "$AMLSEC" state rm resource_group.h > m3.out 2>&1
# moving it out to another state file is refused alike (the next recovery would put the update
# back under the old address in this state: one resource tracked in two)
expect_exit 1 "$AMLSEC" state mv -state-out=out.json resource_group.h resource_group.h > m3b.out 2>&1
grep -q "state mv: the journal .* still holds the update of resource_group.h" m3b.out \
  || fail_with "state mv -state-out of the updated group" m3b.out
[ -e out.json ] && grep -q resource_group.h out.json && fail "state mv -state-out wrote the moved group"
grep -q "state rm: the journal .* still holds the update of resource_group.h" m3.out || fail_with "state rm of the updated group" m3.out
expect_exit 0 "$AMLSEC" state mv -dry-run resource_group.h resource_group.h2 > m4.out 2>&1
# g has no operation in the journal, but the create in flight depends on it: the recovery would
# record the account depending on resource_group.g, an address the move left empty (before:
# moved, and the recovered account's dependencies named resource_group.g)
expect_exit 1 "$AMLSEC" state mv resource_group.g resource_group.g2 > m4b.out 2>&1
grep -q "^amlsec: error: state mv: the journal '.amlsec/state.json.journal' still holds the create of storage_account.s from an interrupted apply (in flight when it stopped), which depends on resource_group.g" m4b.out \
  || fail_with "state mv of a dependency of the create in flight" m4b.out
expect_exit 1 "$AMLSEC" state mv 'resource_group.g' 'resource_group.g["x"]' > m4c.out 2>&1
grep -q "which depends on resource_group.g: .* this change moves resource_group.g to resource_group.g\[\"x\"\]" m4c.out \
  || fail_with "state mv of the dependency to a key" m4c.out
# moving it out to another state file is refused alike (before: allowed, as if the group were
# removed, and the recovered account depended on an address its state no longer held)
expect_exit 1 "$AMLSEC" state mv -state-out=out2.json resource_group.g resource_group.g > m4d.out 2>&1
grep -q "which depends on resource_group.g: .* this change moves resource_group.g to resource_group.g in the state 'out2.json'" m4d.out \
  || fail_with "state mv -state-out of a dependency of the create in flight" m4d.out
[ -e out2.json ] && grep -q resource_group.g out2.json && fail "state mv -state-out wrote the moved dependency"
mkdir other && cp state.saved other/state.json # a copy without the journal, edited by amlsec
expect_exit 0 "$AMLSEC" state rm -state other/state.json resource_group.h > m5a.out 2>&1
cp other/state.json pushed.json
expect_exit 1 "$AMLSEC" state push -force pushed.json > m5.out 2>&1
grep -q "state push: the journal" m5.out || fail_with "state push without the updated group" m5.out
cmp -s .amlsec/state.json state.saved || fail "a refused command changed the state"
cmp -s .amlsec/state.json.journal journal.saved || fail "a refused command changed the journal"

echo "3. plan recovers; the same state mv then goes through and destroys nothing"
for _ in $(seq 100); do # the local cloud finishes the create on its own
  "$AMLSEC" plan -cloud "$url" -no-color > r1.out 2>&1
  grep -q 'pending' r1.out || break
  sleep 0.2
done
grep -q 'create storage_account.s: adopted' r1.out || fail_with "the plan did not recover the create" r1.out
expect_exit 0 "$AMLSEC" state list > l3.out 2> l3.err
[ -s l3.err ] && fail_with "state list still warns after the recovery" l3.err
grep -qx 'storage_account.s' l3.out || fail_with "the recovered create" l3.out
expect_exit 0 "$AMLSEC" state mv resource_group.h resource_group.h2 > m6.out 2>&1
expect_exit 0 "$AMLSEC" state mv resource_group.g resource_group.g2 > m7.out 2>&1
[ "$("$AMLSEC" state show -json storage_account.s | jq -c .dependencies)" = '["resource_group.h2","resource_group.g2"]' ] \
  || fail "the recovered account's dependencies: $("$AMLSEC" state show -json storage_account.s | jq -c .dependencies)"
sed -i 's/resource_group "h"/resource_group "h2"/; s/resource_group.h$/resource_group.h2/' main.amlsec
sed -i 's/resource_group "g"/resource_group "g2"/; s/resource_group.g\]/resource_group.g2]/; s/resource_group.g.id/resource_group.g2.id/' main.amlsec
expect_exit 0 "$AMLSEC" plan -cloud "$url" -detailed-exitcode -no-color > r2.out 2>&1
echo "state after a kill: ok"
