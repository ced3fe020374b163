#!/usr/bin/env bash
# Redaction by path (issue 19, fidelity): a value read beside a secret is shown, the secret is
# not. A for expression over a whole module (for_each) reads v.name in the open and v.key
# redacted; over a whole instance it reads its generated instrumentation key redacted (it was
# written to the state in the clear); a postfix step on a block, (compute_cluster.c.admin).user,
# is open where .password is not; a map literal in a map literal, metadata = { admin = { user, password
# = var.admin_password } }, shows admin.user (admin was hidden whole); a local holding a whole module
# (local.pairs = module.pair) shows local.pairs["b"].name and hides .key (both were hidden). Canaries (tests/sh/canary.sh's way) in the sensitive variable,
# the compute password and the key the local cloud generates must appear in no output of
# validate, render, plan (text and -json), apply, show, state show and state pull, nor under
# .amlsec/; the open values must be shown.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/p/modules/pair" "$work/out" && cd "$work/p"
cat > main.amlsec <<'EOT'
settings {
  subscription = "00000000-0000-0000-0000-000000000000"
  location     = "westeurope"
}

variable "secret" {
  type      = string
  sensitive = true
}

variable "admin_password" {
  type      = string
  sensitive = true
}

resource_group "rg" {
  name = "rg-paths"
}

module "pair" {
  source   = "./modules/pair"
  for_each = toset(["a", "b"])
  name     = each.key
  secret   = var.secret
}

app_insights "ai" {
  resource_group = resource_group.rg
  name           = "appi-paths"
}

workspace "w" {
  resource_group  = resource_group.rg
  name            = "mlw-paths"
  key_vault       = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-paths-deps/providers/Microsoft.KeyVault/vaults/kv-paths"
  storage_account = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-paths-deps/providers/Microsoft.Storage/storageAccounts/stpaths"
}

compute_cluster "c" {
  workspace = workspace.w
  name      = "cc-paths"
  vm_size   = "Standard_DS3_v2"
  scale {
    max = 2
  }
  admin {
    user     = "pathuser"
    password = var.admin_password
  }
}

resource_group "precise" {
  name = "rg-paths-precise"
  tags = {
    names = join(",", [for k, v in module.pair : v.name])
    keys  = join(",", [for k, v in module.pair : v.key])
    one   = jsonencode({ for k, v in module.pair : k => v.name })
    user  = (compute_cluster.c.admin).user
    pw    = (compute_cluster.c.admin).password
  }
}

policy_definition "meta" {
  display_name = "metadata beside a secret"
  mode         = "All"
  metadata     = { admin = { user = "pathuser", password = var.admin_password }, category = "ml" }
  policy_rule = {
    if   = { field = "type", equals = "Microsoft.Storage/storageAccounts" }
    then = { effect = "audit" }
  }
}

locals {
  pairs = module.pair
  first = module.pair["a"]
}

resource_group "locals" {
  name = "rg-paths-locals"
  tags = {
    first = local.first.name
    other = local.pairs["b"].name
    key   = local.first.key
  }
}

resource_group "whole" {
  name = "rg-paths-whole"
  tags = { for k, v in app_insights.ai : k => v if k == "instrumentation_key" }
}

resource_group "open" {
  name = "rg-paths-open"
  tags = { for k, v in app_insights.ai : k => v if k == "name" }
}
EOT
cat > modules/pair/main.amlsec <<'EOT'
variable "name" {
  type = string
}

variable "secret" {
  type      = string
  sensitive = true
}

output "name" {
  value = "pair-${var.name}"
}

output "key" {
  value     = "${var.secret}-${var.name}"
  sensitive = true
}
EOT
start_cloud --lro-ms 0
export AMLSEC_VAR_secret=CnryPathKey21x AMLSEC_VAR_admin_password=CnryPathPw22x
export AMLSEC_STATE_PASSPHRASE=CnryPathPass23x
canaries=(CnryPathKey21x CnryPathPw22x CnryPathPass23x)
# the vault and account the workspace names exist already
for id in /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-paths-deps/providers/Microsoft.KeyVault/vaults/kv-paths \
  /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-paths-deps/providers/Microsoft.Storage/storageAccounts/stpaths; do
  curl -sf -X PUT -H 'Content-Type: application/json' -d '{"location":"westeurope","properties":{}}' \
    "$url/_armlocal/resources$id" > /dev/null || fail "seed $id"
done

n=0
run() { # exit wanted, then the arguments; output in $work/out/N.out and N.err
  local want=$1; shift
  n=$((n + 1))
  "$AMLSEC" "$@" > "$work/out/$n.out" 2> "$work/out/$n.err"
  local got=$?
  [ "$got" = "$want" ] || fail_with "'$*' exited $got, wanted $want" "$work/out/$n.out" "$work/out/$n.err"
}

echo "1. plan: the values beside a secret are shown, the secrets are not"
run 0 validate -no-color
run 0 render -no-color
cp "$work/out/$n.out" render.out
run 0 plan -cloud "$url" -no-color -out p.plan
cp "$work/out/$n.out" plan.out
grep -q 'names = "pair-a,pair-b"' plan.out || fail "v.name of a for over module.pair is shown"
grep -q 'keys  = (sensitive)' plan.out || fail "v.key of a for over module.pair is redacted"
grep -q 'user  = "pathuser"' plan.out || fail "(compute_cluster.c.admin).user is shown"
grep -q 'pw    = (sensitive)' plan.out || fail "(compute_cluster.c.admin).password is redacted"
grep -q '"user": "pathuser"' render.out || fail "render shows (compute_cluster.c.admin).user"
# a map literal inside a map literal: its open key shown, the secret one not (admin was hidden whole)
grep -A3 '+ metadata {' plan.out | grep -q 'user     = "pathuser"' || fail "metadata.admin.user is shown"
grep -A3 '+ metadata {' plan.out | grep -q 'password = (sensitive)' || fail "metadata.admin.password is redacted"
# a local holding a whole module (or one instance of it): its open outputs shown (they were hidden)
grep -q 'first = "pair-a"' plan.out || fail "local.first.name is shown"
grep -q 'other = "pair-b"' plan.out || fail "local.pairs[\"b\"].name is shown"
grep -q 'key   = (sensitive)' plan.out || fail "local.first.key is redacted"
run 0 plan -cloud "$url" -json
run 0 show -json p.plan
jq -e '.resource_changes[] | select(.address == "resource_group.precise") | .change
  | .after.tags.user == "pathuser" and .after.tags.names == "pair-a,pair-b"
    and .after_sensitive.tags.keys == true and .after_sensitive.tags.pw == true
    and .after_sensitive.tags.user != true and .after_sensitive.tags.one != true' \
  "$work/out/$n.out" > /dev/null || fail "show -json p.plan: the open tags shown, the secret ones marked"
jq -e '.resource_changes[] | select(.address == "policy_definition.meta") | .change
  | .after.metadata.admin.user == "pathuser" and .after_sensitive.metadata.admin.password == true
    and .after_sensitive.metadata.admin.user != true and .after.metadata.category == "ml"' \
  "$work/out/$n.out" > /dev/null || fail "show -json p.plan: metadata.admin.user shown, .password marked"
jq -e '.resource_changes[] | select(.address == "resource_group.whole") | .change.after_sensitive.tags == true' \
  "$work/out/$n.out" > /dev/null || fail "a for over a whole instance reading its instrumentation key is sensitive"
jq -e '.resource_changes[] | select(.address == "resource_group.open") | .change.after_sensitive.tags != true' \
  "$work/out/$n.out" > /dev/null || fail "a for over a whole instance reading its name is open"

echo "2. apply, show, state"
run 0 apply -no-color p.plan
run 0 show -no-color
run 0 show -json
run 0 state show resource_group.precise
grep -q '"user": "pathuser"' "$work/out/$n.out" || fail "state show: the user is shown"
run 0 state show resource_group.whole
run 0 state show -json resource_group.whole
run 0 state pull
run 0 plan -cloud "$url" -no-color -detailed-exitcode

# the key the local cloud generated, read back now that it exists
ikey=$(curl -sf "$url/_armlocal/resources/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-paths/providers/Microsoft.Insights/components/appi-paths" \
  | jq -r .body.properties.InstrumentationKey)
[ -n "$ikey" ] && [ "$ikey" != null ] || fail "no instrumentation key"
canaries+=("$ikey")
tags=$(curl -sf "$url/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-paths-whole?api-version=2021-04-01" | jq -c .tags)
[ "$(jq -r .instrumentation_key <<<"$tags")" = "$ikey" ] || fail "the tag holds the key in Azure: $tags"

echo "3. $n commands; looking for ${#canaries[@]} canaries"
mapfile -t files < <(find "$work/out" .amlsec -type f -not -path '.amlsec/local/*'; ls ./*.plan ./*.out)
python3 "$SRC/tests/sh/lib/canary_scan.py" "${#canaries[@]}" "${canaries[@]}" "${files[@]}" \
  || fail "a canary leaked"
echo "canary_paths: all passed"
