#!/usr/bin/env bash
# Saved plans are bound to where they were made and cannot be forged (issue 13, defects 5 and 6):
#  - a plan records its cloud (name or endpoint URL), subscription and tenant; apply PLANFILE
#    applies it there without -cloud, refuses a contradicting -cloud / ARM_SUBSCRIPTION_ID /
#    ARM_TENANT_ID, and leaves the state untouched when it refuses; settings { cloud } too;
#  - without a key apply says the checksum only catches accidents; with AMLSEC_PLAN_KEY the plan
#    is signed (HMAC-SHA-256 over the whole file) and a forged one is refused; -require-signed-plan
#    refuses unsigned plans; with state encryption any changed byte of the sealed file is refused.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--data "$work/cloud")
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir "$work/p" && cd "$work/p"
unset AMLSEC_PLAN_KEY AMLSEC_STATE_PASSPHRASE AMLSEC_STATE_KEY ARM_ENVIRONMENT
export ARM_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000000
write_config() { # env tag value, then extra settings lines
  cat > main.amlsec <<CONF
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
  $2
}
resource_group "ml" {
  name = "rg-bind"
  tags = { env = "$1" }
}
CONF
}
# forge FILE OUT: change the tag in the plan and recompute the plan's SHA-256, keeping any
# signature member
forge() {
  python3 - "$1" "$2" <<'PY' || fail "could not forge"
import hashlib, json, sys
d = json.load(open(sys.argv[1]))
for c in d["plan"]["resource_changes"]:
    c["request_body"]["tags"]["env"] = "forged"
    c["change"]["after"]["tags"]["env"] = "forged"
inner = json.dumps(d["plan"], separators=(",", ":"), sort_keys=True, ensure_ascii=False)
sha = hashlib.sha256(inner.encode()).hexdigest()
sig = '"hmac_sha256":"%s",' % d["hmac_sha256"] if "hmac_sha256" in d else ""
open(sys.argv[2], "w").write('{"amlsec_plan":1,%s"sha256":"%s","plan":%s}\n' % (sig, sha, inner))
PY
}
start_cloud

echo "1. a plan made against a standalone cloud applies there without -cloud"
write_config dev ""
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out url.plan > plan1.out 2>&1
python3 -c "import json,sys; t=json.load(open('url.plan'))['plan']['target']; sys.exit(t['cloud']!=sys.argv[1] or t['subscription']!='00000000-0000-0000-0000-000000000000' or t['tenant'] is None)" "$url" \
  || fail "the plan does not record its cloud, subscription and tenant"
expect_exit 0 "$AMLSEC" apply -no-color url.plan > apply1.out 2>&1
grep -q 'Apply complete! Resources: 1 added' apply1.out || fail "apply PLANFILE did not use the plan's cloud"

echo "2. a contradicting -cloud, ARM_SUBSCRIPTION_ID or ARM_TENANT_ID is refused; the state is untouched"
write_config prod ""
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p2.plan > plan2.out 2>&1
cp .amlsec/state.json before.json
expect_exit 1 "$AMLSEC" apply -cloud public -no-color p2.plan > wrong.out 2>&1
grep -q "was made against cloud '$url', but -cloud says 'public'" wrong.out || fail "-cloud public accepted"
ARM_SUBSCRIPTION_ID=11111111-1111-1111-1111-111111111111 expect_exit 1 "$AMLSEC" apply -no-color p2.plan > sub.out 2>&1
grep -q 'made for subscription 00000000-0000-0000-0000-000000000000, but ARM_SUBSCRIPTION_ID is 1111' sub.out || fail "subscription"
ARM_TENANT_ID=22222222-2222-2222-2222-222222222222 expect_exit 1 "$AMLSEC" apply -no-color p2.plan > ten.out 2>&1
grep -q 'but ARM_TENANT_ID is 2222' ten.out || fail "tenant"
cmp -s before.json .amlsec/state.json || fail "a refused apply changed the state"
[ ! -e .amlsec/state.json.backup ] || cmp -s before.json .amlsec/state.json || fail "state written"
expect_exit 0 "$AMLSEC" apply -cloud "$url/" -no-color p2.plan > right.out 2>&1
grep -q 'Apply complete! Resources: 0 added, 1 changed' right.out || fail "the same cloud with a final / refused"

echo "2b. a sign-in that fails stops apply PLANFILE before the state is touched"
mkdir "$work/pub" && cd "$work/pub"
write_config dev ""
expect_exit 0 "$AMLSEC" plan -refresh=false -cloud public -no-color -out pub.plan > pub.out 2>&1
ls -la .amlsec > before.ls
# the Azure CLI's sign-in, with no `az` to be found: fails at once, offline
mkdir empty-bin
PATH="$PWD/empty-bin" ARM_USE_CLI=true expect_exit 1 "$AMLSEC" apply -no-color pub.plan > pubapply.out 2>&1
grep -q "cloud 'public': cannot sign in; nothing was changed" pubapply.out || fail "no sign-in error"
[ ! -e .amlsec/state.json ] || fail "a failed sign-in wrote the state"
cd "$work/p"

echo "3. settings { cloud = \"local\" }: the saved plan applies to the embedded local cloud"
mkdir "$work/s" && cd "$work/s"
write_config dev 'cloud = "local"'
expect_exit 0 "$AMLSEC" plan -no-color -out s.plan > plan3.out 2>&1
expect_exit 0 "$AMLSEC" apply -no-color s.plan > apply3.out 2>&1
grep -q 'Apply complete! Resources: 1 added' apply3.out || fail "settings.cloud not used by apply PLANFILE"
cd "$work/p"

echo "4. without a key: a forged plan is applied, and apply says plainly the checksum only catches accidents"
write_config test ""
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p4.plan > plan4.out 2>&1
forge p4.plan forged4.plan
expect_exit 0 "$AMLSEC" apply -no-color forged4.plan > forged4.out 2>&1
grep -q 'checksum only catches accidental damage, not deliberate edits' forged4.out || fail "no warning"

echo "5. AMLSEC_PLAN_KEY: plans are signed, a forged one is refused, -require-signed-plan"
export AMLSEC_PLAN_KEY=plan-key-for-the-test-0123456789abcdef
write_config stage ""
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p5.plan > plan5.out 2>&1
grep -q '^{"amlsec_plan":1,"hmac_sha256":"[0-9a-f]\{64\}",' p5.plan || fail "the plan is not signed"
forge p5.plan forged5.plan
expect_exit 1 "$AMLSEC" apply -no-color forged5.plan > forged5.out 2>&1
grep -q 'fails its signature' forged5.out || fail "forged signed plan accepted"
forge p4.plan unsigned.plan # unsigned (made without the key)
expect_exit 1 "$AMLSEC" apply -no-color -require-signed-plan unsigned.plan > unsigned.out 2>&1
grep -q 'is not signed' unsigned.out || fail "-require-signed-plan accepted an unsigned plan"
AMLSEC_PLAN_KEY=another-key-for-the-test-0123456789abcdef expect_exit 1 "$AMLSEC" apply -no-color p5.plan > other.out 2>&1
grep -q 'signed with another AMLSEC_PLAN_KEY' other.out || fail "another key accepted"
AMLSEC_PLAN_KEY=short expect_exit 1 "$AMLSEC" apply -no-color p5.plan > short.out 2>&1
grep -q 'shorter than 32 characters' short.out || fail "a short key accepted"
expect_exit 1 "$AMLSEC" apply -no-color -require-signed-plan > dir.out 2>&1
expect_exit 0 "$AMLSEC" apply -no-color -require-signed-plan p5.plan > signed.out 2>&1
grep -q 'Apply complete! Resources: 0 added, 1 changed' signed.out || fail "signed plan refused"
grep -q 'checksum only catches' signed.out && fail "warning for a verified plan"
unset AMLSEC_PLAN_KEY

echo "6. with state encryption the sealed plan is authenticated whole: header and body"
export AMLSEC_STATE_PASSPHRASE=plan-binding-passphrase
write_config sealed ""
expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out p6.plan > plan6.out 2>&1
head -c 8 p6.plan | grep -q AMLSECX || fail "the plan is not sealed"
for off in 10 13 20 40 60 $(( $(stat -c %s p6.plan) - 1 )); do
  cp p6.plan flipped.plan
  printf "$(printf '\\%03o' $(( ($(od -An -tu1 -j $off -N1 p6.plan) ^ 1) )))" \
    | dd of=flipped.plan bs=1 seek=$off conv=notrunc status=none
  cmp -s p6.plan flipped.plan && fail "byte $off not flipped"
  expect_exit 1 "$AMLSEC" apply -no-color flipped.plan > flipped.out 2>&1
done
expect_exit 0 "$AMLSEC" apply -no-color p6.plan > sealed.out 2>&1
grep -q 'checksum only catches' sealed.out && fail "warning for a sealed plan"
stop_cloud
echo "plan_binding: all passed"
