#!/usr/bin/env bash
# Every -json output against a golden file (issue 14 #9: schema -json printed [] for every kind
# and no test noticed): version, validate (valid; the error cases are tests/golden/cli/json_*),
# rules, schema, render, show of a saved plan, show of the state and of no state, state list and
# state show, show of a plan with nested modules, plan -json with validations checked during apply;
# against the bundled example (and
# tests/data/modules) and the embedded local cloud. What changes from run to
# run (lineage, times, GUIDs, key versions, the local cloud's port) is replaced by placeholders
# before comparing. The golden files are tests/data/json/NAME.json; UPDATE=1 rewrites them.
set -uo pipefail
: "${AMLSEC:?}" "${SRC:?}"
golden="$SRC/tests/data/json"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
cp "$SRC/examples/secure-workspace/main.amlsec" .
pass=0 failed=0

# Placeholders for what differs between runs; keys sorted, two-space indent.
normalize() {
  jq -S 'walk(if type == "string" then
      gsub("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z"; "<time>")
      | gsub("127\\.0\\.0\\.1:[0-9]+"; "127.0.0.1:<port>")
      | gsub("sha256:[0-9a-f]{64}"; "sha256:<digest>")
      | gsub("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"; "<uuid>")
      | gsub("/keys/(?<k>[^/]+)/[0-9a-f]{32}"; "/keys/\(.k)/<version>")
    elif type == "object" then
      with_entries(if (.key | test("^(created|updated|nbf|exp)$")) and (.value | type) == "number"
                   then .value = "<time>" else . end)
    else . end)'
}
# check NAME WANT_EXIT CMD...: the command's stdout must be JSON equal to the golden file.
check() {
  local name=$1 want=$2; shift 2
  "$AMLSEC" "$@" > "$name.raw" 2> "$name.err"
  local got=$?
  if [ "$got" != "$want" ]; then
    echo "FAIL: $name: 'amlsec $*' exited $got, wanted $want"; cat "$name.err"; failed=$((failed + 1)); return
  fi
  if ! normalize < "$name.raw" > "$name.json"; then
    echo "FAIL: $name: 'amlsec $*' printed no JSON"; head -c 400 "$name.raw"; failed=$((failed + 1)); return
  fi
  if [ "${UPDATE:-}" = 1 ]; then
    cp "$name.json" "$golden/$name.json"
  elif ! diff -u "$golden/$name.json" "$name.json" > "$name.diff"; then
    echo "FAIL: $name: 'amlsec $*' differs from tests/data/json/$name.json"; head -n 40 "$name.diff"
    failed=$((failed + 1)); return
  fi
  pass=$((pass + 1))
}

mkdir -p "$golden"
# version: the library versions are the build machine's, so only the keys are compared
if "$AMLSEC" version -json | jq -e 'keys == ["amlsec_version","jansson","libcurl","openssl"]
     and ([.[] | type] | unique) == ["string"]' > /dev/null; then
  pass=$((pass + 1))
else
  echo "FAIL: version -json"; failed=$((failed + 1))
fi
check validate 0 validate -json
check rules 0 rules -json
check schema-kinds 0 schema -json resource_group key_vault key
# every kind in the listing, each with its attributes (what printed [] before)
kinds=$("$AMLSEC" schema | awk '{print $1}' | sort)
[ "$("$AMLSEC" schema -json | jq -r '.[].kind' | sort)" = "$kinds" ] \
  || { echo "FAIL: schema -json does not list every kind"; failed=$((failed + 1)); }
"$AMLSEC" schema -json | jq -e 'all(.[]; (.attributes | length) > 0 and .arm_type and .api_version)' > /dev/null \
  || { echo "FAIL: schema -json has a kind without attributes"; failed=$((failed + 1)); }
check render 0 render -json
check show-no-state 0 show -json
"$AMLSEC" apply -cloud local -auto-approve -no-color > apply.out 2>&1 || { echo "FAIL: apply"; tail apply.out; exit 1; }
check show-state 0 show -json
# values ARM returns for sensitive attributes are hidden too (the App Insights keys printed)
if grep -q 'InstrumentationKey=' show-state.raw; then
  echo "FAIL: show -json prints an Application Insights connection string"; failed=$((failed + 1))
fi
check state-list 0 state list -json
check state-show 0 state show -json workspace.prod
# a plan with an update, a replacement and a create; sensitive values redacted
sed -i 's/"appi-ml-prod"/"appi-ml-prod2"/; s/public_network_access = false/public_network_access = true/' main.amlsec
"$AMLSEC" plan -cloud local -no-color -out plan.bin > plan.out 2>&1 || { echo "FAIL: plan"; tail plan.out; exit 1; }
check show-plan 0 show -json plan.bin
if grep -q 'InstrumentationKey=' show-plan.raw; then
  echo "FAIL: show -json PLANFILE prints an Application Insights connection string"; failed=$((failed + 1))
fi
# modules (issue 19): a module called with for_each that calls one of its own. Values in
# child_modules per instance, the configuration's module_calls once per call, a sensitive module
# argument's constant left out; a change inside the nested module, the rest as no-ops.
mkdir modules && cp -r "$SRC/tests/data/modules/." modules/
cd modules || exit 1
"$AMLSEC" apply -cloud local -auto-approve -no-color > apply.out 2>&1 || { echo "FAIL: apply modules"; tail apply.out; exit 1; }
sed -i 's/^  name = "rg-${var.team}-logs"$/&\n  tags = { tier = "logs" }/' modules/team/logs/main.amlsec
"$AMLSEC" plan -cloud local -no-color -out plan.bin > plan.out 2>&1 || { echo "FAIL: plan modules"; tail plan.out; exit 1; }
golden_name=show-plan-modules
check "$golden_name" 0 show -json plan.bin
if grep -q 'owner-canary-2f7c1d' "$golden_name.raw"; then
  echo "FAIL: show -json PLANFILE prints a sensitive module argument"; failed=$((failed + 1))
fi
cd .. || exit 1
# plan -json's stream with validations checked during apply (issue 19): a deferred_validation
# message each, after the planned changes; the sensitive one withheld, its value nowhere
mkdir deferred && cd deferred || exit 1
cat > main.amlsec <<'EOT'
settings {
  subscription = "00000000-0000-0000-0000-0000000000a7"
  location     = "westeurope"
}

resource_group "ml" {
  name = "rg-golden"
}

app_insights "ai" {
  resource_group = resource_group.ml
  name           = "appi-golden"
}

variable "owner" {
  type      = string
  sensitive = true
  validation {
    condition     = var.owner != app_insights.ai.app_id
    error_message = "${var.owner} is the app id ${app_insights.ai.app_id}"
  }
}

variable "env" {
  type    = string
  default = "prod"
  validation {
    condition     = length(var.env) < length(app_insights.ai.app_id)
    error_message = "env is longer than the app id"
  }
}

resource_group "tagged" {
  name = "rg-golden-${var.env}"
  tags = { owner = var.owner }
}
EOT
export AMLSEC_VAR_owner=owner-canary-8d2e4b
check plan-json-deferred 0 plan -cloud local -json
unset AMLSEC_VAR_owner
if grep -q 'owner-canary-8d2e4b' plan-json-deferred.raw; then
  echo "FAIL: plan -json prints a sensitive variable's value"; failed=$((failed + 1))
fi
cd .. || exit 1
echo "json_golden: $pass passed, $failed failed"
[ "$failed" = 0 ]
