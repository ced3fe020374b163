#!/usr/bin/env bash
# The pipelines of docs/ci.md run (issue 16): every job of docs/ci/github-actions.yml and
# docs/ci/azure-pipelines.yml runs step by step through tests/tools/ci_runner.py, with the
# variables, secrets and expressions the runners give it, against amlsec-armlocal --auth
# required, which plays Entra ID and both OIDC issuers, serves the shared policy definitions and
# aliases, and the ARM API. `uses: amlsec/amlsec@v0` runs action.yml's own steps (its install
# step included; the Azure DevOps install step, a clone from GitHub, is the one step not run):
#   pull request: check (policy read from ARM) and plan with reports; the gate fails on a Deny;
#   merge: check -plan and apply of the saved plan; nightly: drift (read-only) exits 0, then 2
#   after a change made outside amlsec, with SARIF/JUnit and the summary; action.yml alone.
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

# The pipelines run through tests/tools/ci_runner.py: every run:/bash: step with the runner's
# shell flags, env, working directory and expressions; `uses: amlsec/amlsec@v0` runs action.yml's
# own steps (install, then the gate with the step's inputs); the other actions and tasks are
# played by checks of what they read (SARIF for code scanning, the comment, JUnit, artifacts).
# The install step builds nothing twice: cmake and sudo are shims that configure for real, build
# the suite's own tree (same sources, same targets) and install it into a scratch prefix, which
# is on PATH as /usr/local is on a runner; amlsec is found nowhere else for GitHub's jobs.
REAL_CMAKE=$(command -v cmake)
mkdir shims prefix
cat > shims/cmake <<SHIM
#!/usr/bin/env bash
case "\$1" in
  --build) [ -f "\$2/CMakeCache.txt" ] || { echo "cmake shim: \$2 is not configured" >&2; exit 1; }
           shift 2; exec "$REAL_CMAKE" --build "$BUILD" "\$@" ;;
  --install) [ -f "\$2/CMakeCache.txt" ] || { echo "cmake shim: \$2 is not configured" >&2; exit 1; }
             shift 2; exec "$REAL_CMAKE" --install "$BUILD" --prefix "$TMP/prefix" "\$@" ;;
  *) exec "$REAL_CMAKE" "\$@" ;;
esac
SHIM
cat > shims/sudo <<'SHIM'
#!/usr/bin/env bash
case "$1" in apt-get|apt) echo "sudo shim: the test installs no package ($*)" >&2; exit 1 ;; esac
exec "$@"
SHIM
chmod +x shims/cmake shims/sudo
RUNNER=$TMP/runner
# runjob KIND FILE JOB [runner args...]: runs a job in repo/; its steps in $RUNNER/JOB.steps.json
runjob() {
  local kind=$1 file=$2 job=$3; shift 3
  rm -f "$RUNNER/$job".*
  PATH="$TMP/shims:$TMP/prefix/bin:$CIPATH" python3 "$SRC/tests/tools/ci_runner.py" "$kind" "$file" "$job" \
    --workspace repo --runner "$RUNNER" --action-path "$SRC" "$@" > "$job.run" 2>&1
}
step_status() { # JOB NAME -> the step's status
  jq -r --arg n "$2" '.[] | select(.name == $n) | .status' "$RUNNER/$1.steps.json"
}
step_log() { # JOB NAME -> its output
  cat "$(jq -r --arg n "$2" '.[] | select(.name == $n) | .log' "$RUNNER/$1.steps.json")"
}
failjob() { echo "--- $1"; cat "$1.run"; for f in "$RUNNER/$1".*.out; do echo "--- $f"; tail -n 30 "$f"; done; fail "$2"; }
# what GitHub's jobs see: the same PATH without the build's amlsec
CIPATH=$PATH
GHARGS=(--var AZURE_CLIENT_ID=$APP --var AZURE_TENANT_ID=$T --var AZURE_SUBSCRIPTION_ID=@SUB@
        --secret AMLSEC_STATE_PASSPHRASE=ci-passphrase-1 --env ARM_ENVIRONMENT=$B
        --env ACTIONS_ID_TOKEN_REQUEST_URL="$B/oidc/github/token?api-version=2.0"
        --env ACTIONS_ID_TOKEN_REQUEST_TOKEN=gh-request-token)
gh() { # JOB EVENT: a GitHub job for pull request or push events of one commit
  local job=$1 event=$2
  runjob github "$GH" "$job" "${GHARGS[@]/@SUB@/$SUB}" --github "event_name=$event" \
    --github event.pull_request.head.sha=c0ffee1 --github event.after=c0ffee1
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

GH=$SRC/docs/ci/github-actions.yml
ADO=$SRC/docs/ci/azure-pipelines.yml

echo "1. GitHub Actions: a pull request that opens the workspace fails the gate"
newrepo true
if gh gate pull_request; then failjob gate "the gate passed with a Deny"; fi
[ "$(step_status gate amlsec/amlsec@v0)" = success ] || failjob gate "the action did not install amlsec"
step_log gate amlsec/amlsec@v0 | grep -q '"outputs": {"exit-code": ""}' || failjob gate "install-only action outputs"
[ -x prefix/bin/amlsec ] && [ -s prefix/share/man/man1/amlsec.1 ] || fail "action.yml did not install amlsec and its man page"
grep -q '^amlsec ' "$RUNNER"/gate.*.out || failjob gate "amlsec version after the install"
[ "$(step_status gate 'Check and plan')" = success ] || failjob gate "check and plan"
[ "$(step_status gate 'Fail on Azure Policy denials and rule errors')" = failure ] || failjob gate "the gate failed elsewhere"
for s in github/codeql-action/upload-sarif@v3 marocchino/sticky-pull-request-comment@v2 actions/upload-artifact@v4; do
  [ "$(step_status gate "$s")" = success ] || failjob gate "$s"
done
step_log gate 'Check and plan' | grep -q 'policy "Azure Machine Learning Workspaces should disable public network access"' \
  || failjob gate "the policy was read from ARM and evaluated"
grep -q '^### amlsec check' "$RUNNER/comment-amlsec.md" && grep -q '^### amlsec plan' "$RUNNER/comment-amlsec.md" || fail "comment"
jq -e '.version == "2.1.0" and ([.runs[0].results[] | select(.level == "error")] | length) >= 1' "$RUNNER/uploads/sarif-amlsec.json" > /dev/null \
  || fail "the SARIF code scanning receives"
[ -s "$RUNNER/artifacts/plan-c0ffee1/plan.bin" ] || fail "the plan artifact"

echo "2. the fixed pull request passes; merge applies the reviewed plan; the nightly drift job"
newrepo false
gh gate pull_request || failjob gate "gate of the fixed pull request"
step_log gate 'Check and plan' | grep -q '^Check passed' || failjob gate "check of the fixed configuration"
gh apply push || failjob apply "apply job"
step_log apply 'Apply the reviewed plan' | grep -q 'Apply complete' || failjob apply "apply output"
gh drift schedule || failjob drift "drift job with no drift"
jq -e '.runs[0].automationDetails.id == "drift" and (.runs[0].results | length) == 0' "$RUNNER/uploads/sarif-amlsec-drift.json" > /dev/null \
  || fail "drift SARIF with no drift"
req PATCH "/_armlocal/resources/subscriptions/$SUB/resourceGroups/rg-ci/providers/Microsoft.MachineLearningServices/workspaces/mlw-ci" \
  '{"properties":{"publicNetworkAccess":"Enabled"}}'
expect_code 200 "drift"
if gh drift schedule; then failjob drift "the drift job passed despite drift"; fi
step_log drift Summary | grep -q 'amlsec drift exited 2' || failjob drift "the action's exit-code output"
grep -q 'public_network_access' "$RUNNER/step_summary.md" || fail "the job summary: $(cat "$RUNNER/step_summary.md")"
jq -e '[.runs[0].results[] | select(.ruleId == "DRIFT-CHANGED")] | length == 1' "$RUNNER/uploads/sarif-amlsec-drift.json" > /dev/null \
  || fail "drift SARIF: $(jq -c '[.runs[0].results[].ruleId]' "$RUNNER/uploads/sarif-amlsec-drift.json")"

echo "2b. action.yml alone: every input, its exit-code output"
if PATH="$TMP/shims:$TMP/prefix/bin:$CIPATH" python3 "$SRC/tests/tools/ci_runner.py" action "$SRC/action.yml" \
     --workspace repo --runner "$RUNNER" --action-path "$SRC" --with "args=check -cloud $B -no-color -policy no-such-dir" \
     "${GHARGS[@]/@SUB@/$SUB}" > action1.run 2>&1; then fail "action.yml: a failing gate passed"; fi
jq -e '."exit-code" == "1"' "$RUNNER/action.outputs.json" > /dev/null || fail "action.yml exit-code 1: $(cat action1.run)"
mkdir -p repo/sub && cp repo/main.amlsec repo/sub/
PATH="$TMP/shims:$TMP/prefix/bin:$CIPATH" python3 "$SRC/tests/tools/ci_runner.py" action "$SRC/action.yml" \
  --workspace repo --runner "$RUNNER" --action-path "$SRC" --with "args=validate -no-color" --with working-directory=sub \
  --env ARM_SUBSCRIPTION_ID=$SUB > action2.run 2>&1 || { cat action2.run "$RUNNER"/action.*.out; fail "action.yml gate in a working directory"; }
jq -e '."exit-code" == "0"' "$RUNNER/action.outputs.json" > /dev/null || fail "action.yml exit-code 0"
if PATH="$TMP/shims:$TMP/prefix/bin:$CIPATH" python3 "$SRC/tests/tools/ci_runner.py" action "$SRC/action.yml" \
     --workspace repo --runner "$RUNNER" --action-path "$SRC" --with "nosuch=1" > action3.run 2>&1; then fail "an unknown input was accepted"; fi
grep -q 'the action has no input nosuch' action3.run || fail "unknown input: $(cat action3.run)"

echo "3. Azure DevOps: the same with workload identity federation"
newrepo false 2 # vault and storage names are globally unique
SUB=00000000-0000-0000-0000-0000000016c2
# the install step clones amlsec from GitHub, which the test cannot reach: every job must have
# it (each runs on a fresh agent), and the build's amlsec stands in for what it installs
ADOARGS=(--var serviceConnectionId=sc-ml --var azureClientId=$APP --var azureTenantId=$T --var azureSubscriptionId=$SUB
         --secret amlsecStatePassphrase=ci-passphrase-2 --secret System.AccessToken=ado-access-token
         --env ARM_ENVIRONMENT=$B --env SYSTEM_OIDCREQUESTURI="$B/oidc/ado/oidctoken" --skip "install amlsec")
ado() { CIPATH="$TMP/bin:$PATH" runjob ado "$ADO" "$1" "${ADOARGS[@]}"; }
ado gate || failjob gate "ADO gate"
ado apply || failjob apply "ADO apply"
step_log apply 'apply the reviewed plan' | grep -q 'Apply complete' || failjob apply "ADO apply output"
ado drift || failjob drift "ADO drift"
for job in gate apply drift; do
  [ "$(step_status $job 'install amlsec')" = skipped ] || fail "ADO job $job does not install amlsec"
done
python3 -c 'import xml.etree.ElementTree as E; [E.parse(f) for f in ("repo/check.xml", "repo/plan.xml", "repo/drift.xml")]' || fail "JUnit parse"
[ "$(step_status drift PublishTestResults@2)" = success ] || failjob drift "drift JUnit published"
req PATCH "/_armlocal/resources/subscriptions/$SUB/resourceGroups/rg-ci/providers/Microsoft.MachineLearningServices/workspaces/mlw-ci" \
  '{"properties":{"publicNetworkAccess":"Enabled"}}'
expect_code 200 "ADO drift"
if ado drift; then failjob drift "the ADO drift job passed despite drift"; fi
[ "$(step_status drift PublishTestResults@2)" = success ] || failjob drift "drift JUnit published after a failure"
python3 -c 'import sys, xml.etree.ElementTree as E; t = E.parse("repo/drift.xml").getroot(); assert int(t.get("failures")) >= 1' || fail "drift JUnit failures"
echo OK
