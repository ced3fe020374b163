#!/usr/bin/env bash
# Canary secrets through an interrupted and a tainted create (end to end): App Insights' generated
# connection string and instrumentation key, which the plan reads to show what Azure holds as the
# `before` of a create it sends again, must reach no output and no file in clear, and a saved plan's
# `before` leaves them out (docs/plan-json.md).
#   1. interrupted, without state encryption: apply is killed (kill -9) while App Insights' PUT,
#      carried out, waits for its answer (a slow fault); the journal keeps the create. For the plan
#      to see it as interrupted (create_because_interrupted) rather than have the recovery adopt
#      it, the resource must appear after the recovery's read and before the plan's: it is removed
#      out of band, the recovery's GET is answered late (a slow fault), and the resource, its
#      generated secrets included, is put back while that answer waits. Each command starts from
#      the state and journal the kill left: plan (AMLSEC_LOG=trace, as every amlsec run here),
#      plan -json, plan -out (saved unencrypted: the plan holds no secret; it was refused before
#      ef29f38, whose plan's before held the connection string), show and show -json of it, and
#      apply -json (after it the unencrypted state holds the secrets, as docs/state.md says, and
#      apply warns of it before it starts: only its output is scanned).
#   2. a plain create, saved unencrypted: apply PLANFILE warns of the secrets it will leave in the
#      state in clear, as apply does.
#   3. tainted, with state encryption: App Insights' PUT is carried out but its answer lost
#      (reset-after) and the retry refused (403), so the create is recorded tainted
#      (create_because_tainted); then plan, plan -json, plan -out, show -json of it, apply PLANFILE,
#      apply -json, output -json.
# Every output (stdout and stderr) and every file written (.amlsec/: state, backup, journal; the
# plan files) is scanned with canary_scan.py for the generated secrets and the passphrase.
set -uo pipefail
: "${AMLSEC:?}" "${ARMLOCAL:?}" "${SRC:?}"
work=$(mktemp -d)
source "$(dirname "$0")/lib/e2e.bash"
cloud_flags=(--lro-ms 0)
apid=""
cleanup() {
  [ -n "$apid" ] && kill -9 "$apid" 2>/dev/null
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work" || exit 1
start_cloud
sub=00000000-0000-0000-0000-0000000000ea
canaries=(CnryIntrPass1x)
control() { # method, path under /_armlocal/, optional JSON body
  curl -sf -X "$1" -H 'Content-Type: application/json' "$url/_armlocal/$2" ${3:+-d "$3"}
}
fault() { control POST faults "$1" > /dev/null || fail "add the fault $1"; }
project() { # directory, app insights name, and "output" for a sensitive output of its secret
  mkdir -p "$1" && cat > "$1/main.amlsec" <<AMLSEC
settings {
  subscription = "$sub"
  location     = "westeurope"
}

resource_group "g" {
  name = "rg-$2"
}

app_insights "ai" {
  resource_group = resource_group.g
  name           = "$2"
}
AMLSEC
  [ "${3:-}" = output ] && cat >> "$1/main.amlsec" <<AMLSEC

output "cs" {
  value     = app_insights.ai.connection_string
  sensitive = true
}
AMLSEC
}
generated() { # arm id: adds the generated secrets the local cloud holds to the canaries
  local rec ikey cstr
  rec=$(control GET "resources$1") || fail "read $1 from the local cloud"
  ikey=$(jq -r '.body.properties.InstrumentationKey // empty' <<<"$rec")
  cstr=$(jq -r '.body.properties.ConnectionString // empty' <<<"$rec")
  [ -n "$ikey" ] && [ -n "$cstr" ] || fail "no generated secrets in $1"
  canaries+=("$ikey" "$cstr")
}

scan() { # what, files or directories: every file in them, for the canaries
  local files
  mapfile -t files < <(find "${@:2}" -type f ! -name main.amlsec)
  [ ${#files[@]} -ge $(($# - 1)) ] || fail "nothing to scan ($1)"
  python3 "$SRC/tests/sh/lib/canary_scan.py" "${#canaries[@]}" "${canaries[@]}" "${files[@]}" \
    || fail "a canary leaked ($1)"
}

saved_create() { # plan file, reason, name: show -json of it shows App Insights' create for that
  # reason, its before (what Azure holds) without the generated secrets; in sj.out
  expect_exit 0 "$AMLSEC" show -json "$1" > sj.out 2> sj.err
  jq -e --arg r "create_because_$2" --arg n "$3" '.resource_changes[]
    | select(.address == "app_insights.ai")
    | .change.actions == ["create"] and .action_reason == $r and .change.before.name == $n
    and (.change.before | has("connection_string") or has("instrumentation_key") | not)' sj.out \
    > /dev/null || fail_with "show -json $1: App Insights' create is not the $2 one, its before without the generated secrets" sj.out
}

echo "1. an interrupted create (no state encryption: the plan holds no secret, so it is saved)"
project i appi-intr
cd i || exit 1
ai=/subscriptions/$sub/resourceGroups/rg-appi-intr/providers/Microsoft.Insights/components/appi-intr
fault '{"kind":"slow","method":"PUT","path":"*/components/appi-intr","ms":6000,"times":1}'
"$AMLSEC" apply -cloud "$url" -auto-approve -no-color > kill.out 2>&1 &
apid=$!
for _ in $(seq 300); do grep -qs '^app_insights.ai: Creating\.\.\.$' kill.out && break; sleep 0.05; done
grep -qs '^app_insights.ai: Creating\.\.\.$' kill.out || fail_with "App Insights' create never started" kill.out
for _ in $(seq 100); do control GET "resources$ai" > /dev/null 2>&1 && break; sleep 0.05; done
kill -9 "$apid"
wait "$apid" 2>/dev/null
apid=""
grep -q 'app_insights.ai: Creation complete' kill.out && fail_with "App Insights' create completed before the kill" kill.out
generated "$ai"
body=$(control GET "resources$ai" | jq -c .body) || fail "read App Insights"
cp -a .amlsec killed # the state and the journal the kill left: each command below starts from them
[ -s killed/state.json.journal ] || fail "no journal after the kill"
# run N WANT ARGS...: from the killed run's state and journal, with App Insights appearing between
# the recovery's read and the plan's (see above); output in N.out and N.err
run() {
  local n=$1 want=$2 cpid got
  shift 2
  rm -rf .amlsec && cp -a killed .amlsec
  control DELETE "resources$ai" > /dev/null || fail "remove App Insights out of band"
  control DELETE faults > /dev/null
  fault '{"kind":"slow","method":"GET","path":"*/components/appi-intr","ms":1000,"times":1}'
  "$AMLSEC" "$@" > "$n.out" 2> "$n.err" &
  cpid=$!
  for _ in $(seq 200); do
    control GET faults | jq -e '.value[0].fired == 1' > /dev/null && break
    sleep 0.05
  done
  control PUT "resources$ai" "$body" > /dev/null || fail "put App Insights back"
  wait "$cpid"
  got=$?
  [ "$got" = "$want" ] || fail_with "'$*' exited $got, wanted $want" "$n.out" "$n.err"
  control GET faults | jq -e '.value[0].fired == 1' > /dev/null || fail "'$*': no recovery read"
}
AMLSEC_LOG=trace run p 2 plan -cloud "$url" -no-color -detailed-exitcode
grep -q 'app_insights.ai was being created by an interrupted apply' p.out \
  || fail_with "the plan did not see an interrupted create" p.out p.err
AMLSEC_LOG=trace run pj 0 plan -cloud "$url" -json
jq -s -e 'any(.[]; .type == "planned_change" and .change.resource.addr == "app_insights.ai"
  and .change.reason == "create_because_interrupted")' pj.out > /dev/null \
  || fail_with "plan -json: no planned change of App Insights" pj.out
AMLSEC_LOG=trace run po 0 plan -cloud "$url" -no-color -out i.plan
expect_exit 0 "$AMLSEC" show -no-color i.plan > s.out 2> s.err
saved_create i.plan interrupted appi-intr
scan "the interrupted create's plans" .
# apply adopts it: the state, unencrypted here, then holds the generated secrets as docs/state.md
# says; its output may not
AMLSEC_LOG=trace run aj 0 apply -cloud "$url" -auto-approve -json
jq -s -e 'any(.[]; .type == "apply_complete" and .hook.resource.addr == "app_insights.ai")' aj.out > /dev/null \
  || fail_with "apply -json did not create App Insights" aj.out
# which apply says before it starts (docs/state.md; it said nothing of App Insights' secrets before)
grep -q 'the state will hold 2 sensitive values in clear (app_insights.ai connection_string, app_insights.ai instrumentation_key)' aj.err \
  || fail_with "apply -json did not warn that the unencrypted state will hold the generated secrets" aj.err
scan "apply -json of the interrupted create" aj.out aj.err
cd ..

echo "2. a plain create saved unencrypted (it holds no secret): apply PLANFILE warns as apply does"
project n appi-new
(
  cd n || exit 1
  AMLSEC_LOG=trace expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out n.plan > po.out 2> po.err
  AMLSEC_LOG=trace expect_exit 0 "$AMLSEC" apply -no-color n.plan > ap.out 2> ap.err
  grep -q 'the state will hold 2 sensitive values in clear (app_insights.ai connection_string, app_insights.ai instrumentation_key)' ap.err \
    || fail_with "apply PLANFILE did not warn that the unencrypted state will hold the generated secrets" ap.err
  generated /subscriptions/$sub/resourceGroups/rg-appi-new/providers/Microsoft.Insights/components/appi-new
  scan "a plain create's saved plan, applied" n.plan po.out po.err ap.out ap.err
) || exit 1

echo "3. a tainted create"
export AMLSEC_STATE_PASSPHRASE=CnryIntrPass1x
project t appi-tnt output
cd t || exit 1
ai=/subscriptions/$sub/resourceGroups/rg-appi-tnt/providers/Microsoft.Insights/components/appi-tnt
fault '{"kind":"reset-after","method":"PUT","path":"*/components/appi-tnt","nth":1,"times":1}'
fault '{"kind":"403","method":"PUT","path":"*/components/appi-tnt","nth":2,"times":1}'
AMLSEC_LOG=trace expect_exit 1 "$AMLSEC" apply -cloud "$url" -auto-approve -no-color > a.out 2> a.err
generated "$ai"
AMLSEC_LOG=trace expect_exit 2 "$AMLSEC" plan -cloud "$url" -no-color -detailed-exitcode > p.out 2> p.err
grep -q 'app_insights.ai is tainted' p.out || fail_with "the plan did not see a tainted create" p.out
AMLSEC_LOG=trace expect_exit 0 "$AMLSEC" plan -cloud "$url" -json > pj.out 2> pj.err
AMLSEC_LOG=trace expect_exit 0 "$AMLSEC" plan -cloud "$url" -no-color -out t.plan > po.out 2> po.err
saved_create t.plan tainted appi-tnt
AMLSEC_LOG=trace expect_exit 0 "$AMLSEC" apply -no-color t.plan > ap.out 2> ap.err
AMLSEC_LOG=trace expect_exit 0 "$AMLSEC" apply -cloud "$url" -auto-approve -json > aj.out 2> aj.err
AMLSEC_LOG=trace expect_exit 0 "$AMLSEC" output -json > o.out 2> o.err
cd ..

scan "the tainted create's plans, applied" t
# the needles are right: asked for, the connection string is there (not scanned)
[ "$(cd t && "$AMLSEC" output -show-sensitive cs 2> /dev/null)" = "${canaries[-1]}" ] \
  || fail "output -show-sensitive cs is not the generated connection string"
echo "canary through interrupted and tainted creates: ok"
