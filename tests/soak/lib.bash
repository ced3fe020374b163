# Shared helpers of the soak harness (sourced, not a test): the generated configuration, the
# local cloud, and the comparison of what the cloud holds with the state.
# Needs AMLSEC, ARMLOCAL and SOAK_CHECK (the soak_check binary) in the environment.
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SOAK_CHECK:?}"

SOAK_SUB=00000000-0000-0000-0000-0000000050a4
SOAK_SUBNET=/subscriptions/$SOAK_SUB/resourceGroups/rg-net/providers/Microsoft.Network/virtualNetworks/hub/subnets/pe

# Per-type operation durations (ms): the issue's 200-1000 ms range, slowest for the kinds that
# are slowest in Azure. Synchronous kinds listed here answer after their duration too.
SOAK_LRO="200,Microsoft.MachineLearningServices/workspaces=1000,Microsoft.Storage/storageAccounts=600"
SOAK_LRO+=",Microsoft.ContainerRegistry/registries=500,Microsoft.KeyVault/vaults=400"
SOAK_LRO+=",Microsoft.MachineLearningServices/workspaces/computes=700"
SOAK_LRO+=",Microsoft.MachineLearningServices/workspaces/onlineEndpoints=800"
SOAK_LRO+=",Microsoft.Network/privateEndpoints=600"

# soak_config DIR N: writes DIR/main.amlsec with about N resources (at least 16): a resource
# group, then stacks of 15 (a CMK vault and its key, storage, registry, Application Insights, a
# workspace encrypted with the key, its compute cluster and online endpoint, private endpoints
# for the workspace, blob, file, vault and registry, a lock on the registry, a role assignment
# on the workspace), then role assignments on the group up to N. The subnet is seeded.
soak_config() {
  local dir=$1 n=$2 stacks i total f
  stacks=$(((n - 1) / 15))
  [ "$stacks" -ge 1 ] || stacks=1
  f=$dir/main.amlsec
  cat > "$f" <<CFG
settings {
  subscription = "$SOAK_SUB"
  tenant       = "00000000-0000-0000-0000-00000000a11c"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-soak"
}

existing subnet "pe" {
  id = "$SOAK_SUBNET"
}

CFG
  for ((i = 0; i < stacks; i++)); do
    cat >> "$f" <<CFG
key_vault "v$i" {
  resource_group        = resource_group.g
  name                  = "kv-soak-$i"
  purge_protection      = true
  public_network_access = false
}

key "k$i" {
  vault = key_vault.v$i
  type  = "RSA"
  size  = 3072
}

storage_account "s$i" {
  resource_group           = resource_group.g
  name                     = "stsoak$i"
  allow_blob_public_access = false
  public_network_access    = false
  lifecycle {
    ignore_rules = { "ST-SERVICE-ENDPOINT" = "soak estate" }
  }
}

container_registry "c$i" {
  resource_group        = resource_group.g
  name                  = "acrsoak$i"
  sku                   = "Premium"
  admin_user            = true
  public_network_access = false
}

app_insights "a$i" {
  resource_group = resource_group.g
  name           = "appi-soak-$i"
}

workspace "w$i" {
  resource_group        = resource_group.g
  name                  = "mlw-soak-$i"
  hbi                   = true
  key_vault             = key_vault.v$i
  storage_account       = storage_account.s$i
  container_registry    = container_registry.c$i
  app_insights          = app_insights.a$i
  public_network_access = false
  image_build_compute   = "cpu-build"
  encryption {
    key = key.k$i
  }
}

compute_cluster "b$i" {
  workspace      = workspace.w$i
  name           = "cpu-build"
  vm_size        = "Standard_DS3_v2"
  subnet         = existing.subnet.pe.id
  node_public_ip = false
  local_auth     = false
  scale {
    max = 2
  }
}

online_endpoint "e$i" {
  workspace             = workspace.w$i
  name                  = "score-soak-$i"
  auth                  = "aad_token"
  public_network_access = false
}

private_endpoint "pw$i" {
  target      = workspace.w$i
  subresource = "amlworkspace"
  subnet      = existing.subnet.pe.id
}

private_endpoint "ps$i" {
  for_each    = ["blob", "file"]
  target      = storage_account.s$i
  subresource = each.value
  subnet      = existing.subnet.pe.id
}

private_endpoint "pv$i" {
  target      = key_vault.v$i
  subresource = "vault"
  subnet      = existing.subnet.pe.id
}

private_endpoint "pc$i" {
  target      = container_registry.c$i
  subresource = "registry"
  subnet      = existing.subnet.pe.id
}

lock "l$i" {
  target = container_registry.c$i
  level  = "CanNotDelete"
  notes  = "soak"
}

role_assignment "r$i" {
  principal      = "3f2504e0-4f89-11d3-9a0c-0305e82c$(printf %04d "$i")"
  principal_type = "Group"
  role           = "AzureML Data Scientist"
  scope          = workspace.w$i
}

CFG
  done
  total=$((1 + 15 * stacks))
  for ((i = 0; total < n; i++, total++)); do
    cat >> "$f" <<CFG
role_assignment "team$i" {
  principal      = "3f2504e0-4f89-11d3-9a0c-0305e82d$(printf %04d "$i")"
  principal_type = "Group"
  role           = "Reader"
  scope          = resource_group.g
}

CFG
  done
}

# soak_config_features DIR N [VARIANT]: the configuration of the newer features (crash-soak.sh
# -f), about N resources (at least 12): a resource group whose tag is a variable with a
# validation known only after apply (it reads app_insights.shared's app_id, in a group of its
# own: apply holds what reads var.owner until it is checked), a storage account with
# create_before_destroy whose name follows var.gen (-var gen=2: a renamed replacement, created first, the old one tracked at
# "ADDRESS (previous)" until its delete), and a module with for_each ("team": a resource group
# per team with a tag that is a whole number beyond int64 and var.mgen, a storage account tagged
# with var.mgen too, Application Insights and a role assignment) in DIR/mod, and outputs (one
# beyond int64).
# VARIANT moved: the module call is renamed "group" with a moved block (module.team ->
# module.group); statemv: renamed without the block (the trial runs state mv first).
soak_config_features() {
  local dir=$1 n=$2 variant=${3:-} teams i call=team keys="" f
  teams=$((n / 4))
  [ "$teams" -ge 2 ] || teams=2
  for ((i = 0; i < teams; i++)); do keys+="${keys:+, }\"t$i\""; done
  [ -n "$variant" ] && call=group
  mkdir -p "$dir/mod"
  cat > "$dir/mod/main.amlsec" <<'CFG'
variable "team" {
  type = string
}

variable "gen" {
  type    = string
  default = "1"
}

resource_group "team" {
  name = "rg-soak-${var.team}"
  tags = { team = var.team, gen = var.gen, quota = tostring(9223372036854775807 + 2) }
}

storage_account "data" {
  resource_group           = resource_group.team
  name                     = "stsoakm${var.team}"
  tags                     = { gen = var.gen }
  allow_blob_public_access = false
  public_network_access    = false
  lifecycle {
    ignore_rules = { "ST-SERVICE-ENDPOINT" = "soak estate" }
  }
}

app_insights "team" {
  resource_group = resource_group.team
  name           = "appi-soak-${var.team}"
}

role_assignment "reader" {
  principal      = "3f2504e0-4f89-11d3-9a0c-0305e82e0001"
  principal_type = "Group"
  role           = "Reader"
  scope          = resource_group.team
}

output "rg" {
  value = resource_group.team.id
}
CFG
  f=$dir/main.amlsec
  cat > "$f" <<CFG
settings {
  subscription = "$SOAK_SUB"
  tenant       = "00000000-0000-0000-0000-00000000a11c"
  location     = "westeurope"
}

variable "gen" {
  type    = string
  default = "1"
}

variable "mgen" {
  type    = string
  default = "1"
}

variable "owner" {
  type    = string
  default = "platform"
  validation {
    condition     = app_insights.shared.app_id != var.owner
    error_message = "the owner cannot be the app id \${app_insights.shared.app_id}"
  }
}

resource_group "g" {
  name = "rg-soak"
  tags = { owner = var.owner }
}

resource_group "s" {
  name = "rg-soak-shared"
}

app_insights "shared" {
  resource_group = resource_group.s
  name           = "appi-soak-shared"
}

storage_account "cbd" {
  resource_group           = resource_group.g
  name                     = "stsoakcbd\${var.gen}"
  allow_blob_public_access = false
  public_network_access    = false
  lifecycle {
    create_before_destroy = true
    ignore_rules          = { "ST-SERVICE-ENDPOINT" = "soak estate" }
  }
}

module "$call" {
  for_each = [$keys]
  source   = "./mod"
  team     = each.value
  gen      = var.mgen
}

output "big" {
  value = 9223372036854775807 * 4
}

output "teams" {
  value = { for k, m in module.$call : k => m.rg }
}
CFG
  if [ "$variant" = moved ]; then
    printf '\nmoved {\n  from = module.team\n  to   = module.group\n}\n' >> "$f"
  fi
}

# soak_cloud_start DIR PORT [FLAGS...]: starts the local cloud on 127.0.0.1:PORT (0: any) with
# its data in DIR/cloud and the soak's operation durations; sets SOAK_URL and SOAK_PID. Returns 1
# when it does not start (the port in use: "port in use" in DIR/cloud.err).
soak_cloud_start() {
  local dir=$1 port=$2
  shift 2
  rm -f "$dir/cloud.url"
  "$ARMLOCAL" --listen "127.0.0.1:$port" --data "$dir/cloud" --lro-ms "$SOAK_LRO" "$@" \
    > "$dir/cloud.url" 2> "$dir/cloud.err" &
  SOAK_PID=$!
  # until it prints its URL or exits (up to 60 s: an ASan build on a loaded machine is slow)
  for _ in $(seq 600); do
    [ -s "$dir/cloud.url" ] && break
    kill -0 "$SOAK_PID" 2> /dev/null || break
    sleep 0.1
  done
  SOAK_URL=$(head -n 1 "$dir/cloud.url" 2> /dev/null)
  [ -n "$SOAK_URL" ] && return 0
  kill "$SOAK_PID" 2> /dev/null
  wait "$SOAK_PID" 2> /dev/null
  SOAK_PID=""
  return 1
}

# soak_cloud_start_kept DIR [FLAGS...]: soak_cloud_start on a port the cloud can be restarted on
# (soak_cloud_start DIR PORT), for runs whose store holds URLs with the port. Not one the kernel
# picks (port 0): those come from its ephemeral range (ip_local_port_range), which it also hands
# any other program listening on port 0 and any outgoing connection on the machine, so once the
# cloud stopped one of them could hold the port when the cloud restarts (soak.short failed once:
# "armlocal did not start on port 38557"). A port below that range only a program asking for that
# very port can take: a random one, another one while it is in use.
soak_cloud_start_kept() {
  local dir=$1 low port
  shift
  read -r low _ < /proc/sys/net/ipv4/ip_local_port_range || low=32768
  for _ in $(seq 20); do
    port=$((10000 + RANDOM % (low - 10000)))
    soak_cloud_start "$dir" "$port" "$@" && return 0
    grep -q 'port in use' "$dir/cloud.err" 2> /dev/null || return 1
  done
  return 1
}

soak_cloud_stop() {
  [ -n "${SOAK_PID:-}" ] || return 0
  kill "$SOAK_PID" 2> /dev/null
  wait "$SOAK_PID" 2> /dev/null
  SOAK_PID=""
}

# The network team's subnet the private endpoints and clusters join.
soak_seed_network() {
  curl -sf -X PUT -H 'Content-Type: application/json' \
    -d '{"type":"Microsoft.Network/virtualNetworks/subnets","location":"westeurope","properties":{}}' \
    "$SOAK_URL/_armlocal/resources$SOAK_SUBNET" > /dev/null
}

# soak_expect > FILE: "address<TAB>arm id" of every instance of the state in the current
# directory.
soak_expect() {
  "$AMLSEC" state list -json | awk -F'"' '/"address":/ { a = $4 } /"arm_id":/ { print a "\t" $4 }'
}

# soak_compare MODE EXPECT [IGNORE]: compares the cloud at SOAK_URL with the state in the current
# directory (ids under IGNORE, like the seeded network's, left out); prints soak_check's counts
# line, its details go to check.err.
soak_compare() {
  curl -sf "$SOAK_URL/_armlocal/state" > store.json || { echo "harness: cannot read the store"; return 2; }
  # no state at all (killed before the first save, and never recovered) is an empty state
  if ! "$AMLSEC" state pull > state.json 2> pull.err && ! grep -q '^amlsec: error: no state stored at' pull.err; then
    echo "harness: state pull failed: $(head -n 1 pull.err)"
    return 2
  fi
  local counts rc journal=0
  counts=$("$SOAK_CHECK" --mode "$1" --store store.json --state state.json --expect "$2" \
    --ignore "/subscriptions/$SOAK_SUB/resourceGroups/rg-net" ${3:+--ignore "$3"} 2> check.err)
  rc=$?
  [ "$rc" -ge 2 ] && { echo "harness: soak_check failed: $(head -n 1 check.err)"; return 2; }
  # a run that converged leaves no pending intent: the journal is emptied
  [ -f .amlsec/state.json.journal ] && journal=$(wc -l < .amlsec/state.json.journal)
  if [ "$journal" != 0 ]; then
    echo "journal: .amlsec/state.json.journal still holds $journal records" >> check.err
    rc=1
  fi
  echo "$counts journal=$journal"
  return "$rc"
}

# ms_sleep N: sleeps N milliseconds.
ms_sleep() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; }

# now_ms: milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
