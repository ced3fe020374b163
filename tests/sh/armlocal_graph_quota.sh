#!/usr/bin/env bash
# armlocal's Resource Graph user quota (issue 18): by default it is Azure's,
# 15 queries per 5 s per principal, enforced with 429 whatever --throttle
# says (the 16th query within 5 s is refused, with the quota headers); the
# benchmarks' opt-out, --graph-quota off (or {"graphQuota":"off"} through
# /_armlocal/settings), counts nothing: 40 queries in a second all answer.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
Q="/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01"
QUERY='{"subscriptions":["'${S##*/}'"],"query":"resources | project id"}'

# n queries as fast as curl sends them (one curl process: well within a
# second); prints each answer's status and quota headers, one line each
burst() {
  local n=$1 args=()
  for _ in $(seq 1 "$n"); do
    args+=(-X POST "$B$Q" -H 'Content-Type: application/json' --data-binary "$QUERY"
      -o /dev/null -D - -w 'status %{http_code}\n' --next)
  done
  curl -sS "${args[@]:0:${#args[@]}-1}" >"$TMP/burst" 2>"$TMP/burst.err" || true
  tr -d '\r' <"$TMP/burst" | awk '
    tolower($1) == "x-ms-user-quota-remaining:" { rem = $2 }
    tolower($1) == "x-ms-user-quota-resets-after:" { reset = $2 }
    tolower($1) == "retry-after:" { ra = $2 }
    $1 == "status" { print $2, (rem == "" ? "-" : rem), (reset == "" ? "-" : reset), (ra == "" ? "-" : ra); rem = ""; reset = ""; ra = "" }'
}

# default: the quota, without --throttle arm
armlocal_start --lro-ms 0
start=$(date +%s.%N)
burst 16 >"$TMP/default"
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
awk -v e="$elapsed" 'BEGIN { exit !(e < 4) }' || fail "16 queries took ${elapsed}s: the test needs them within one window"
[ "$(wc -l <"$TMP/default")" = 16 ] || fail "16 answers expected: $(cat "$TMP/default" "$TMP/burst.err")"
head -15 "$TMP/default" | awk '{ print $1 }' | sort -u | grep -qx 200 || fail "the first 15 queries answer: $(cat "$TMP/default")"
[ "$(head -15 "$TMP/default" | awk '$1 != 200' | wc -l)" = 0 ] || fail "the first 15 queries answer 200: $(cat "$TMP/default")"
[ "$(head -15 "$TMP/default" | awk '{ printf "%s ", $2 }')" = "14 13 12 11 10 9 8 7 6 5 4 3 2 1 0 " ] ||
  fail "each answer counts down the quota: $(cat "$TMP/default")"
read -r code rem reset ra < <(sed -n 16p "$TMP/default")
[ "$code" = 429 ] || fail "the 16th query within 5 s is refused with 429: $(cat "$TMP/default")"
[ "$rem" = 0 ] || fail "the 429 says no quota is left: $rem"
[[ "$reset" =~ ^00:00:0[1-5]$ ]] || fail "the 429 says when the quota resets (hh:mm:ss): $reset"
[[ "$ra" =~ ^[1-5]$ ]] || fail "the 429 carries Retry-After: $ra"
req GET /_armlocal/requests/totals; expect_body '"graphThrottled": *1[,}]' "the totals count the refused query"
# the window resets: a query after it answers
sleep "${reset##*:}"
req POST "$Q" "$QUERY"; expect_code 200 "a query after the reset"
[ "$(header x-ms-user-quota-remaining)" = 14 ] || fail "a fresh window: $(header x-ms-user-quota-remaining)"
# switched off through the settings, then on again
req PUT /_armlocal/settings '{"graphQuota":"sometimes"}'; expect_code 400 "graphQuota is on or off"
req PUT /_armlocal/settings '{"graphQuota":"off"}'; expect_code 200 "graphQuota off"
expect_body '"graphQuota": *"off"' "settings show graphQuota"
burst 40 >"$TMP/off"
[ "$(awk '$1 == 200' "$TMP/off" | wc -l)" = 40 ] || fail "with the quota off, 40 queries answer: $(cat "$TMP/off")"
[ "$(awk '$2 != "-"' "$TMP/off" | wc -l)" = 0 ] || fail "with the quota off, no quota headers: $(cat "$TMP/off")"
req PUT /_armlocal/settings '{"graphQuota":"on"}'; expect_code 200 "graphQuota on"
burst 16 >"$TMP/on"
[ "$(awk '$1 == 200' "$TMP/on" | wc -l)" = 15 ] && [ "$(sed -n 16p "$TMP/on" | cut -d' ' -f1)" = 429 ] ||
  fail "the quota back on: 15 answers then 429: $(cat "$TMP/on")"
armlocal_stop

# the flag: 40 queries within a second, every one answered
armlocal_start --lro-ms 0 --graph-quota off
start=$(date +%s.%N)
burst 40 >"$TMP/flag"
elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ "$(awk '$1 == 200' "$TMP/flag" | wc -l)" = 40 ] || fail "--graph-quota off: 40 queries answer: $(cat "$TMP/flag")"
echo "40 queries in ${elapsed}s with --graph-quota off"
req GET /_armlocal/settings; expect_body '"graphQuota": *"off"' "the flag shows in the settings"
armlocal_stop
# a bad value is refused at start
if "$ARMLOCAL" --graph-quota maybe >/dev/null 2>"$TMP/bad"; then fail "--graph-quota maybe accepted"; fi
grep -q "'on' or 'off'" "$TMP/bad" || fail "--graph-quota maybe: $(cat "$TMP/bad")"
echo "ok"
