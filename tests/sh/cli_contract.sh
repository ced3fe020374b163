#!/usr/bin/env bash
# The command line's contract (issue 14, defects 7, 8, 10 and 12), against the embedded local
# cloud: flags matched exactly (no prefixes; -lock=false, -input=false, -compact-warnings; -lock
# never swallows the next argument; an unknown flag names the nearest one); a -target or -replace
# that matches nothing is an error naming the nearest address; the state records its cloud and a
# run against another one is refused with one error (AMLSEC_CLOUD names the cloud too); destroy
# ends with "Destroy complete!"; the plan header quotes an instance's labels as Terraform does;
# with no state, show -json keeps no invented lineage and state pull agrees with state list; a
# huge invalid name gives a short message; file("/dev/zero") reports the size limit.
set -uo pipefail
: "${AMLSEC:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
n=0
fail() { echo "FAIL: $*"; for f in out err; do [ -f $f ] && { echo "--- $f"; tail -n 20 $f; }; done; exit 1; }
run() { # want, then the arguments of amlsec; stdout in out, stderr in err
  local want=$1; shift
  "$AMLSEC" "$@" > out 2> err
  local got=$?
  [ "$got" = "$want" ] || fail "'amlsec $*' exited $got, wanted $want"
  n=$((n + 1))
}
cat > main.amlsec <<'EOF'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

resource_group "rg" {
  for_each = ["a", "b"]
  name     = "rg-contract-${each.key}"
}
EOF

echo "1. flags are matched exactly"
run 1 plan -detail -cloud local
grep -q "unknown flag '-detail'; did you mean '-detailed-exitcode'?" err || fail "-detail accepted or no nearest flag"
run 1 plan -lockk=false -cloud local
grep -q "did you mean '-lock'?" err || fail "no nearest flag for -lockk"
run 1 plan -lock-timeout=soon -cloud local
grep -q "bad -lock-timeout 'soon'" err || fail "-lock-timeout=VALUE"
run 1 plan -lock maybe -cloud local
grep -q "unexpected argument '-cloud'" err || fail "-lock swallowed the next argument"
run 1 plan -lock=maybe -cloud local
grep -q "\-lock takes true or false, not 'maybe'" err || fail "-lock=maybe"
run 1 plan -show-sensitive=true
grep -q "unknown flag '-show-sensitive=true'" err || fail "show's -show-sensitive accepted by plan"
run 1 plan -detailed-exitcode=maybe
grep -q "takes true or false" err || fail "-detailed-exitcode=maybe"
# a plan flag on apply and destroy is refused, as -out is (it was accepted and ignored: exit 0)
for c in apply destroy; do
  run 1 $c -detailed-exitcode -cloud local -auto-approve -no-color
  grep -q "\-detailed-exitcode is a plan flag" err || fail "$c -detailed-exitcode accepted"
done
# -lock=false: runs while another run holds the lock (which -lock=true waits for)
run 0 apply -cloud local -auto-approve -no-color
exec 9> .amlsec/state.json.lock
flock -n 9 || fail "cannot hold the state lock"
run 1 plan -cloud local -lock=true
grep -qi "lock" err || fail "a held lock did not stop -lock=true"
run 0 plan -cloud local -lock=false -no-color
grep -q "the state is not locked" err || fail "-lock=false gives no warning"
grep -q "No changes" out || fail "-lock=false plan"
run 1 state mv 'resource_group.rg["a"]' 'resource_group.rg["c"]'
run 0 state mv -lock=false 'resource_group.rg["a"]' 'resource_group.rg["c"]'
run 0 state mv -lock=false 'resource_group.rg["c"]' 'resource_group.rg["a"]'
exec 9>&-
# -lock followed by the directory: the directory is the operand
mkdir sub && sed 's/\["a", "b"\]/["a", "b", "c"]/' main.amlsec > sub/main.amlsec
run 0 plan -lock -cloud local -refresh=false -no-color sub
grep -q "Plan: 1 to add" out || fail "-lock DIR did not plan DIR"
# -detailed-exitcode=false is as if it were not given
run 0 plan -cloud local -detailed-exitcode=false -refresh=false sub
# -input=false: apply never asks; without -auto-approve it is an error, nothing applied
run 1 apply -cloud local -input=false -no-color sub < /dev/null
grep -q "needs approval and -input=false forbids asking" err || fail "-input=false asked or applied"
run 0 state list
[ "$(grep -c . out)" = 2 ] || fail "-input=false applied"
# -compact-warnings: notes and warnings without source lines
cat > sub/main.amlsec <<'EOF'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

resource_group "rg" {
  name = "rg-contract"
}

container_registry "acr" {
  resource_group        = resource_group.rg
  name                  = "acrcontract001"
  sku                   = "Premium"
  public_network_access = false
}
EOF
run 0 plan -cloud local -refresh=false -no-color sub
full=$(grep -c . err)
run 0 plan -cloud local -refresh=false -no-color -compact-warnings sub
grep -q '^ *[0-9]* |' err && fail "-compact-warnings printed source lines"
grep -q "^sub/main.amlsec:[0-9]*:[0-9]*: note: " err || fail "-compact-warnings printed no summary lines"
[ "$(grep -c . err)" -lt "$full" ] || fail "-compact-warnings is not shorter"

echo "2. -target and -replace that match nothing are errors naming the nearest address"
run 1 plan -cloud local -target 'resource_group.gr'
grep -q "\-target 'resource_group.gr' matches no resource in the configuration or the state; the nearest address is 'resource_group.rg\[" err || fail "-target typo"
run 1 plan -cloud local -replace 'resource_group.rg["c"]'
grep -q "nearest address is 'resource_group.rg\[\"[ab]\"\]'" err || fail "-replace typo"
run 0 plan -cloud local -target resource_group.rg -detailed-exitcode
run 0 plan -cloud local -target 'resource_group.rg["a"]' -detailed-exitcode

echo "3. the state records its cloud; another one is refused with one error"
grep -q '"cloud":"local"' .amlsec/state.json || fail "the state does not record its cloud"
run 1 plan -no-color
[ "$(grep -c 'error' err)" = 1 ] || fail "not exactly one error without -cloud local"
grep -q "was written against the local cloud (-cloud local), but this run would use 'public'" err || fail "no local-cloud hint"
grep -q "hint: add -cloud local (or set AMLSEC_CLOUD=local)" err || fail "no AMLSEC_CLOUD hint"
AMLSEC_CLOUD=local run 0 plan -no-color -detailed-exitcode
AMLSEC_CLOUD=public run 1 plan -no-color
grep -q "(from AMLSEC_CLOUD)" err || fail "AMLSEC_CLOUD=public not named"
# -cloud naming another cloud explicitly: allowed (here: one sign-in error, not one per resource)
ARM_USE_CLI=false ARM_TENANT_ID=00000000-0000-0000-0000-000000000001 ARM_CLIENT_ID=x ARM_CLIENT_SECRET=y \
  ARM_METADATA_HOSTNAME= run 1 plan -no-color -cloud http://127.0.0.1:9/
grep -q "was written against" err && fail "an explicit -cloud was refused"
[ "$(grep -c 'error' err)" -le 1 ] || fail "more than one error for one unreachable cloud"

echo "4. messages: destroy, the plan header, no state, long input, file() limits"
run 0 plan -cloud local -destroy -no-color
grep -q '^  - resource_group "rg" {$' out || fail "destroy plan header quoting"
grep -q 'resource_group "rg\[' out && fail "the header quotes the instance key"
run 0 destroy -cloud local -auto-approve -no-color
grep -q '^Destroy complete! Resources: 2 destroyed.$' out || fail "destroy does not end with Destroy complete!"
grep -q 'Apply complete' out && fail "destroy says Apply complete"
mkdir empty && cd empty
run 0 show -json
a=$(cat out)
run 0 show -json
[ "$a" = "$(cat out)" ] || fail "show -json without a state changes between calls"
grep -q lineage out && fail "show -json invents a lineage"
run 0 state list
run 0 state pull
[ -s out ] && fail "state pull printed something without a state"
cd ..
mkdir long && cd long
{ printf 'resource_group "rg" {\n  name = "'; head -c 20971520 /dev/zero | tr '\0' '!'; printf '"\n}\n'; } > main.amlsec
run 1 validate -no-color
[ "$(wc -c < err)" -lt 4096 ] || fail "a 20 MiB name made a $(wc -c < err)-byte message"
grep -q "(20971520 bytes) is not a valid resource_group name" err || fail "the long name's message"
run 1 validate -json
[ "$(wc -c < out)" -lt 4096 ] || fail "a 20 MiB name made a $(wc -c < out)-byte JSON message"
cd ..
mkdir zero && cd zero
printf 'resource_group "rg" {\n  name = "rg"\n  tags = { a = file("/dev/zero") }\n}\n' > main.amlsec
run 1 validate -no-color
grep -q "file(): '/dev/zero' is larger than the 4 MiB limit" err || fail "file(/dev/zero)"
grep -q "out of memory" err && fail "file(/dev/zero) says out of memory"
cd ..
echo "cli_contract: $n passed, 0 failed"
