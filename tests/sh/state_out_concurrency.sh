#!/usr/bin/env bash
# state mv -state-out and state rm against commands holding the locks: an apply slow on one state
# (a storage account's create takes 3 s) while
#   1. state mv -state-out moves entries of another state INTO it: without -lock-timeout refused
#      naming the holder, nothing written to either file; with -lock-timeout it waits, then the
#      apply's resources and the moved entries are both in the state (no lost update);
#   2. state mv -state-out moves entries OUT of it: the same, on the source;
#   3. two state rm of different entries at once (-lock-timeout): both removed, nothing else.
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

echo "1. into the state an apply holds: refused naming the holder, then waits and lands"
slow_apply 1
cp other.json other.before; cp .amlsec/state.json main.before
expect_exit 1 "$AMLSEC" state mv -state other.json -state-out=.amlsec/state.json resource_group.b resource_group.b > m1.out 2>&1
holder m1.out || fail_with "the refusal does not name the apply" m1.out
cmp -s other.json other.before || fail "a refused state mv -state-out changed its source"
"$AMLSEC" state mv -lock-timeout 60s -state other.json -state-out=.amlsec/state.json resource_group.b resource_group.b > m2.out 2>&1
rc=$?
wait "$apid"; arc=$?
[ "$rc" = 0 ] && [ "$arc" = 0 ] || fail_with "state mv exited $rc, apply $arc" m2.out apply1.out
[ "$(list .amlsec/state.json)" = "resource_group.a resource_group.b storage_account.s1 " ] \
  || fail "the state after both: $(list .amlsec/state.json)"
[ "$(list other.json)" = "resource_group.c " ] || fail "other.json after the move: $(list other.json)"

echo "2. out of the state an apply holds: the same"
slow_apply 2
expect_exit 1 "$AMLSEC" state mv -state-out=other.json resource_group.b resource_group.b > m3.out 2>&1
holder m3.out || fail_with "the refusal does not name the apply" m3.out
"$AMLSEC" state mv -lock-timeout 60s -state-out=other.json resource_group.b resource_group.b > m4.out 2>&1
rc=$?
wait "$apid"; arc=$?
[ "$rc" = 0 ] && [ "$arc" = 0 ] || fail_with "state mv exited $rc, apply $arc" m4.out apply2.out
[ "$(list .amlsec/state.json)" = "resource_group.a storage_account.s1 storage_account.s2 " ] \
  || fail "the state after both: $(list .amlsec/state.json)"
[ "$(list other.json)" = "resource_group.b resource_group.c " ] || fail "other.json: $(list other.json)"

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
echo "state -state-out concurrency: ok"
