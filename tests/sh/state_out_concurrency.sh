#!/usr/bin/env bash
# state mv -state-out and state rm against commands holding the locks: an apply slow on one state
# (a storage account's create takes 3 s) while
#   1. state mv -state-out moves entries of another state INTO it: without -lock-timeout refused
#      naming the holder, nothing written to either file; with -lock-timeout it waits, then the
#      apply's resources and the moved entries are both in the state (no lost update);
#   2. state mv -state-out moves entries OUT of it: the same, on the source;
#   3. two state rm of different entries at once (-lock-timeout): both removed, nothing else;
#   4. two state mv -state-out between two states in opposite directions at once: both land.
# Then every state reads back and the next plan of what the applies made has no changes.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0 --lro-ms Microsoft.Storage/storageAccounts=3000)
bg=()
cleanup() {
  for p in "${bg[@]}"; do kill -9 "$p" 2> /dev/null; done
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
start_cloud
sub=00000000-0000-0000-0000-0000000000e9
config() { # the groups, then storage accounts s1..sN in group a
  cat <<EOF
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "a" {
  name = "rg-soc-a"
}

resource_group "b" {
  name = "rg-soc-b"
}

resource_group "c" {
  name = "rg-soc-c"
}
EOF
  for ((i = 1; i <= $1; i++)); do
    printf '\nstorage_account "s%d" {\n  resource_group = resource_group.a\n  name           = "stsoc%03d"\n}\n' "$i" "$i"
  done
}
list() { "$AMLSEC" state list -state "$1" 2> /dev/null | tr '\n' ' '; }
# a second state, other.json, holding two groups of its own (made by moving them out and back)
config 0 > main.amlsec
expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > a0.out 2>&1
expect_exit 0 "$AMLSEC" state mv -state-out=other.json resource_group.b resource_group.b > m0.out 2>&1
expect_exit 0 "$AMLSEC" state mv -state-out=other.json resource_group.c resource_group.c > m0b.out 2>&1
[ "$(list other.json)" = "resource_group.b resource_group.c " ] || fail "other.json: $(list other.json)"

slow_apply() { # N: apply storage accounts s1..sN in the background (sets apid), once it holds the lock
  config "$1" > main.amlsec
  # targeted: the groups moved between the states are not its business
  "$AMLSEC" apply -cloud "$url" -auto-approve -no-color -lock-timeout 60s -target "storage_account.s$1" \
    > "apply$1.out" 2>&1 &
  apid=$!
  bg+=("$apid")
  for _ in $(seq 300); do grep -qs 'Creating\.\.\.$' "apply$1.out" && break; sleep 0.05; done
  grep -qs 'Creating\.\.\.$' "apply$1.out" || fail_with "the apply did not start" "apply$1.out"
}
holder() { grep -q "is locked by .* (pid $apid) for 'apply' since .*, lock id " "$1"; }

# contend N SOURCE WANT_MAIN WANT_OTHER: while an apply of s$N holds the main state, state mv
# -state-out of resource_group.b from SOURCE (into the other state) is refused naming the apply,
# then waits with -lock-timeout; both land
contend() {
  local n=$1 src=$2 dst rc arc
  [ "$src" = other.json ] && dst=.amlsec/state.json || dst=other.json
  slow_apply "$n"
  cp "$src" src.before
  expect_exit 1 "$AMLSEC" state mv -state "$src" -state-out="$dst" resource_group.b resource_group.b > "m$n.out" 2>&1
  holder "m$n.out" || fail_with "the refusal does not name the apply" "m$n.out"
  cmp -s "$src" src.before || fail "a refused state mv -state-out changed its source"
  "$AMLSEC" state mv -lock-timeout 60s -state "$src" -state-out="$dst" resource_group.b resource_group.b > "w$n.out" 2>&1
  rc=$?
  wait "$apid"; arc=$?
  [ "$rc" = 0 ] && [ "$arc" = 0 ] || fail_with "state mv exited $rc, apply $arc" "w$n.out" "apply$n.out"
  [ "$(list .amlsec/state.json)" = "$3" ] || fail "the state after both: $(list .amlsec/state.json)"
  [ "$(list other.json)" = "$4" ] || fail "other.json after both: $(list other.json)"
}

echo "1. into the state an apply holds: refused naming the holder, then waits and lands"
contend 1 other.json "resource_group.a resource_group.b storage_account.s1 " "resource_group.c "

echo "2. out of the state an apply holds: the same"
contend 2 .amlsec/state.json "resource_group.a storage_account.s1 storage_account.s2 " \
  "resource_group.b resource_group.c "

echo "3. two state rm at once, beside an apply"
slow_apply 3
"$AMLSEC" state rm -lock-timeout 60s -state other.json resource_group.b > r1.out 2>&1 & r1=$!
"$AMLSEC" state rm -lock-timeout 60s -state other.json resource_group.c > r2.out 2>&1 & r2=$!
bg+=("$r1" "$r2")
wait "$r1"; rc1=$?
wait "$r2"; rc2=$?
wait "$apid"; arc=$?
[ "$rc1" = 0 ] && [ "$rc2" = 0 ] && [ "$arc" = 0 ] || fail_with "state rm exited $rc1 and $rc2, apply $arc" r1.out r2.out
[ "$(list other.json)" = "" ] || fail "other.json after both removes: $(list other.json)"
"$AMLSEC" state pull -state other.json > /dev/null || fail "other.json does not read back"
[ "$(list .amlsec/state.json)" = "resource_group.a storage_account.s1 storage_account.s2 storage_account.s3 " ] \
  || fail "the state: $(list .amlsec/state.json)"
# every storage account the applies made is in the state: nothing left to do for them
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -detailed-exitcode -target storage_account.s1 \
  -target storage_account.s2 -target storage_account.s3 > p.out 2>&1
echo "4. two moves between two states in opposite directions at once (-lock-timeout): both land"
# each locks its source first, then its destination: in that order the two waited for each other
# until one's -lock-timeout ran out (exit 1, after 8 s); locked in one order (the paths'), one
# waits for the other
expect_exit 0 "$AMLSEC" state mv -state-out=p.json storage_account.s3 storage_account.s3 > p4.out 2>&1
expect_exit 0 "$AMLSEC" state mv -state-out=q.json storage_account.s2 storage_account.s2 > q4.out 2>&1
for round in 1 2 3; do
  "$AMLSEC" state mv -lock-timeout 8s -state p.json -state-out=q.json storage_account.s3 storage_account.s3 > pq.out 2>&1 & a=$!
  "$AMLSEC" state mv -lock-timeout 8s -state q.json -state-out=p.json storage_account.s2 storage_account.s2 > qp.out 2>&1 & b=$!
  bg+=("$a" "$b")
  wait "$a"; rca=$?
  wait "$b"; rcb=$?
  [ "$rca" = 0 ] && [ "$rcb" = 0 ] || fail_with "round $round: opposite moves exited $rca and $rcb" pq.out qp.out
  [ "$(list p.json)" = "storage_account.s2 " ] && [ "$(list q.json)" = "storage_account.s3 " ] \
    || fail "round $round: p.json holds $(list p.json), q.json $(list q.json)"
  mv p.json t.json && mv q.json p.json && mv t.json q.json # back as they were
  rm -f p.json.backup q.json.backup
done
echo "state -state-out concurrency: ok"
