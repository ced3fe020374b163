#!/usr/bin/env bash
# The pipelines of docs/ci.md run (issue 16): every `run:` block of docs/ci/github-actions.yml
# and every `bash:` block of docs/ci/azure-pipelines.yml (but the installation, which the test's
# build stands in for) runs, job by job, with the variables the runners set, against
# amlsec-armlocal --auth required, which plays Entra ID and both OIDC issuers, serves the shared
# policy definitions and aliases, and the ARM API:
#   pull request: check (policy read from ARM) and plan with reports; the gate fails on a Deny;
#   merge: check -plan and apply of the saved plan; nightly: drift exits 0, then 2 after a
#   change made outside amlsec.
source "$SRC/tests/sh/lib/armlocal.bash"
: "${AMLSEC:?}" "${SHARED:?}"
armlocal_start --auth required --lro-ms 0 --policy-definitions "$SHARED/data/policies" \
  --aliases "$SHARED/data/policy-aliases.csv"
T=00000000-0000-0000-0000-0000000000c1
APP=33333333-0000-0000-0000-000000000c12
SUB=00000000-0000-0000-0000-0000000016c1
cd "$TMP"
mkdir bin && ln -s "$AMLSEC" bin/amlsec

req POST /_armlocal/servicePrincipals "{\"clientId\":\"$APP\",\"tenantId\":\"$T\",\"federatedCredentials\":[
  {\"issuer\":\"$B/oidc\",\"subject\":\"repo:org/ml:pull_request\"},
  {\"issuer\":\"$B/oidc\",\"subject\":\"sc://org/ml/prod\"}]}"
expect_code 201 "register the application"
req POST /_armlocal/oidc/requestTokens '{"requestToken":"gh-request-token","subject":"repo:org/ml:pull_request"}'
req POST /_armlocal/oidc/requestTokens '{"requestToken":"ado-access-token","subject":"sc://org/ml/prod","serviceConnectionId":"sc-ml"}'

# run_blocks FILE KEY JOB: the blocks of job JOB (run: for GitHub, bash: for Azure DevOps), one
# file each, in order; installation blocks are left out
extract() {
  python3 - "$1" "$2" "$3" <<'PY'
import re, sys
path, key, job = sys.argv[1:]
lines = open(path).read().split("\n")
cur, i, n = None, 0, 0
while i < len(lines):
    l = lines[i]
    m = re.match(r"^  ([a-z]+):\s*$", l) if key == "run" else re.match(r"^\s*- (?:job|deployment): (\w+)", l)
    if m:
        cur = m.group(1)
    m = re.match(r"^(\s*(?:- )?)" + key + r": \|\s*$", l)
    if m:
        ind = len(m.group(1))  # the key's column
        block = []
        i += 1
        while i < len(lines) and (lines[i].strip() == "" or len(lines[i]) - len(lines[i].lstrip()) > ind):
            block.append(lines[i])
            i += 1
        text = "\n".join(b[ind + 2:] for b in block).strip() + "\n"
        if cur == job and "cmake --install" not in text:
            n += 1
            open(f"{job}.{n}.sh", "w").write(text)
        continue
    i += 1
print(n)
PY
}

# run JOB: runs the job's blocks as the runner does (bash -e), in the checkout
run_job() {
  local file=$1 key=$2 job=$3 n i rc=0
  failed_at=0
  n=$(extract "$file" "$key" "$job")
  [ "$n" -gt 0 ] || fail "$file: no $key blocks in job $job"
  for i in $(seq 1 "$n"); do
    # GitHub expressions over step outputs, as the runner substitutes them
    while IFS='=' read -r k v; do
      sed -i "s/\${{ steps\.gate\.outputs\.$k }}/$v/g" "$TMP/$job.$i.sh"
    done < "$GITHUB_OUTPUT"
    (cd repo && PATH="$TMP/bin:$PATH" bash -e "$TMP/$job.$i.sh") > "$job.$i.out" 2>&1 || { rc=$?; failed_at=$i; break; }
  done
  return $rc
}

newrepo() {
  rm -rf repo && mkdir repo
  cat > repo/main.amlsec <<CFG
settings {
  subscription = env("ARM_SUBSCRIPTION_ID")
  location     = "westeurope"
}

resource_group "ml" {
  name = "rg-ci"
}

key_vault "kv" {
  resource_group   = resource_group.ml
  name             = "kv-ci-000${2:-1}"
  purge_protection = true
}

storage_account "st" {
  resource_group = resource_group.ml
  name           = "stci000${2:-1}"
}

workspace "ml" {
  resource_group        = resource_group.ml
  name                  = "mlw-ci"
  key_vault             = key_vault.kv
  storage_account       = storage_account.st
  public_network_access = $1
}

policy_assignment "no_public" {
  scope      = resource_group.ml
  definition = "438c38d2-3772-465a-a9cc-7a6666a275ce"
  parameters = { effect = "Deny" }
}
CFG
}

gh_env() {
  export ARM_USE_OIDC=true ARM_CLIENT_ID=$APP ARM_TENANT_ID=$T ARM_SUBSCRIPTION_ID=$SUB \
    ARM_ENVIRONMENT=$B AMLSEC_STATE_PASSPHRASE=ci-passphrase-1 \
    ACTIONS_ID_TOKEN_REQUEST_URL="$B/oidc/github/token?api-version=2.0" \
    ACTIONS_ID_TOKEN_REQUEST_TOKEN=gh-request-token GITHUB_OUTPUT=$TMP/github_output
  : > "$GITHUB_OUTPUT"
}
GH=$SRC/docs/ci/github-actions.yml
ADO=$SRC/docs/ci/azure-pipelines.yml

echo "1. GitHub Actions: a pull request that opens the workspace fails the gate"
newrepo true
gh_env
if run_job "$GH" run gate; then fail "the gate passed with a Deny"; fi
[ "$failed_at" = 2 ] || { cat gate.*.out; fail "the gate failed at step $failed_at, not at its last step"; }
grep -qx "check=2" "$GITHUB_OUTPUT" || fail "check should find the Deny: $(cat "$GITHUB_OUTPUT")"
grep -qx 'plan=2' "$GITHUB_OUTPUT" || fail "plan should show changes"
grep -q 'policy "Azure Machine Learning Workspaces should disable public network access"' gate.1.out \
  || fail "the policy was read from ARM and evaluated: $(cat gate.1.out)"
grep -q '^### amlsec check' repo/comment.md && grep -q '^### amlsec plan' repo/comment.md || fail "comment"
python3 -c 'import json; s=json.load(open("repo/amlsec.sarif")); assert s["version"] == "2.1.0"' || fail "SARIF"
[ -s repo/plan.bin ] || fail "the plan artifact"

echo "2. the fixed pull request passes; merge applies the reviewed plan; drift"
newrepo false
gh_env
run_job "$GH" run gate || { cat gate.*.out; fail "gate of the fixed pull request"; }
grep -qx 'check=0' "$GITHUB_OUTPUT" || fail "check of the fixed configuration: $(cat gate.1.out)"
run_job "$GH" run apply || { cat apply.*.out; fail "apply job"; }
grep -q 'Apply complete' apply.1.out || fail "apply output: $(tail -5 apply.1.out)"
run_job "$GH" run drift || { cat drift.*.out; fail "drift job with no drift"; }
req PATCH "/_armlocal/resources/subscriptions/$SUB/resourceGroups/rg-ci/providers/Microsoft.MachineLearningServices/workspaces/mlw-ci" \
  '{"properties":{"publicNetworkAccess":"Enabled"}}'
expect_code 200 "drift"
if run_job "$GH" run drift; then fail "the drift job passed despite drift"; fi
grep -q 'public_network_access' drift.1.out || fail "drift output: $(cat drift.1.out)"

# action.yml's gate step (its install step is what the test's build stands in for)
: > "$GITHUB_OUTPUT"
AMLSEC_ARGS="check -cloud $B -no-color -policy no-such-dir" run_job "$SRC/action.yml" run steps \
  && fail "action.yml: a failing gate passed"
grep -qx 'exit-code=1' "$GITHUB_OUTPUT" || fail "action.yml exit-code output: $(cat "$GITHUB_OUTPUT")"
: > "$GITHUB_OUTPUT"
AMLSEC_ARGS="check -cloud $B -no-color" run_job "$SRC/action.yml" run steps || fail "action.yml gate"
grep -qx 'exit-code=0' "$GITHUB_OUTPUT" || fail "action.yml exit-code 0: $(cat "$GITHUB_OUTPUT")"

echo "3. Azure DevOps: the same with workload identity federation"
newrepo false 2 # vault and storage names are globally unique
for v in ACTIONS_ID_TOKEN_REQUEST_URL ACTIONS_ID_TOKEN_REQUEST_TOKEN GITHUB_OUTPUT; do unset "$v"; done
SUB=00000000-0000-0000-0000-0000000016c2
export ARM_USE_OIDC=true ARM_CLIENT_ID=$APP ARM_TENANT_ID=$T ARM_SUBSCRIPTION_ID=$SUB ARM_ENVIRONMENT=$B \
  AMLSEC_STATE_PASSPHRASE=ci-passphrase-2 ARM_ADO_PIPELINE_SERVICE_CONNECTION_ID=sc-ml \
  SYSTEM_OIDCREQUESTURI="$B/oidc/ado/oidctoken" SYSTEM_ACCESSTOKEN=ado-access-token
GITHUB_OUTPUT=/dev/null run_job "$ADO" bash gate || { cat gate.*.out; fail "ADO gate"; }
[ -s repo/check.xml ] && [ -s repo/plan.xml ] || fail "ADO JUnit files"
python3 -c 'import xml.etree.ElementTree as E; E.parse("repo/check.xml"); E.parse("repo/plan.xml")' || fail "JUnit parse"
GITHUB_OUTPUT=/dev/null run_job "$ADO" bash apply || { cat apply.*.out; fail "ADO apply"; }
GITHUB_OUTPUT=/dev/null run_job "$ADO" bash drift || { cat drift.*.out; fail "ADO drift"; }
echo OK
