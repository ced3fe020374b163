#!/usr/bin/env bash
# armlocal --data persistence (docs/local-cloud.md, "Persistence"): a snapshot
# plus an append-only log. kill -9 in the middle of a burst of writes loses
# nothing that was acknowledged; a torn last batch is ignored with a
# warning (the records before it are kept); a log the snapshot already
# holds is ignored; a clean stop folds the log into the snapshot; a data
# directory written before the log (the snapshot alone) still starts.
source "$SRC/tests/sh/lib/armlocal.bash"
S=/subscriptions/00000000-0000-0000-0000-000000000001
V=api-version=2024-03-01
D="$TMP/data"

# persist_stat KEY: a field of GET /_armlocal/persist
persist_stat() {
  req GET /_armlocal/persist; expect_code 200 "persist stats"
  jq -r ".$1" <<<"$BODY"
}

# burst ACKS N: PUTs resource groups b<round>-<i> one after another; each
# one the server acknowledged (201) is appended to ACKS. Stops at the first
# failure (the server was killed).
burst() {
  local acks=$1 n=$2 i code
  for i in $(seq 1 "$n"); do
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT "$B$S/resourceGroups/b$round-$i?$V" \
      -H 'Content-Type: application/json' \
      -d "{\"location\":\"eastus\",\"tags\":{\"round\":\"$round\",\"i\":\"$i\"}}" 2>/dev/null) || break
    [ "$code" = 201 ] || break
    echo "b$round-$i" >>"$acks"
  done
}

# 1. kill -9 at seeded random moments of a burst, three rounds on one data
#    directory: every acknowledged write is there after the restart.
RANDOM=17
total=0
for round in 1 2 3; do
  armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
  acks="$TMP/acks.$round"; : >"$acks"
  burst "$acks" 2000 &
  bpid=$!
  # a random moment once the burst is under way (its first write acknowledged: on a loaded
  # machine that alone can take longer than the random wait)
  for _ in $(seq 600); do [ -s "$acks" ] && break; sleep 0.05; done
  sleep "0.$((RANDOM % 6 + 3))"
  kill -9 "$AL_PID"; wait "$AL_PID" 2>/dev/null || true; AL_PID=""
  wait "$bpid" || true
  n=$(wc -l <"$acks")
  [ "$n" -gt 0 ] || fail "round $round: no write was acknowledged before the kill"
  armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
  [ "$(persist_stat replayed)" -gt 0 ] || fail "round $round: nothing replayed from the log"
  for r in 1 2 3; do
    [ -s "$TMP/acks.$r" ] || continue
    while read -r g; do
      req GET "$S/resourceGroups/$g?$V"; expect_code 200 "round $round: acknowledged $g after kill -9"
    done <"$TMP/acks.$r"
  done
  req GET "$S/resourceGroups?$V"
  got=$(jq '[.value[] | select(.name | startswith("b"))] | length' <<<"$BODY")
  # the write in flight at the kill may have been logged without its answer
  [ "$got" -ge $((total + n)) ] && [ "$got" -le $((total + n + 1)) ] ||
    fail "round $round: $got groups listed, $((total + n)) acknowledged"
  total=$got
  [ "$round" = 3 ] || { armlocal_stop; continue; }
  # a run that only read leaves the files as they were; one that wrote
  # folds the log into a new snapshot at a clean stop
  armlocal_stop
  log_before=$(sha256sum <"$D/armlocal.log")
  armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
  req GET "$S/resourceGroups?$V"; expect_code 200 "read-only run"
  armlocal_stop
  [ "$(sha256sum <"$D/armlocal.log")" = "$log_before" ] || fail "a read-only run changed the log"
  armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
  req PUT "$S/resourceGroups/final?$V" '{"location":"eastus"}'; expect_code 201 "final"
  armlocal_stop
  [ "$(wc -l <"$D/armlocal.log")" = 1 ] || fail "a clean stop left records in the log"
  jq -e '.logGeneration >= 1 and (.resources | length) == '"$((total + 1))" "$D/armlocal.json" >/dev/null ||
    fail "the snapshot after a clean stop: $(jq -c '{logGeneration, n: (.resources | length)}' "$D/armlocal.json")"
done

# 2. a torn last batch: the records before it are replayed, the tail is
#    ignored with a warning, and writes after the restart are kept.
armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
req PUT "$S/resourceGroups/torn-a?$V" '{"location":"eastus"}'; expect_code 201 "torn-a"
req PUT "$S/resourceGroups/torn-b?$V" '{"location":"eastus"}'; expect_code 201 "torn-b"
[ "$(persist_stat flushes)" -ge 2 ] || fail "writes were not appended to the log"
[ "$(persist_stat compactions)" = 0 ] || fail "a small write rewrote the snapshot"
kill -9 "$AL_PID"; wait "$AL_PID" 2>/dev/null || true; AL_PID=""
# a whole record without its commit, then half a record
printf '%s\n' "{\"s\":\"resources\",\"k\":\"$S/resourcegroups/torn-c\",\"v\":{\"body\":{}}}" >>"$D/armlocal.log"
printf '%s' "{\"s\":\"resources\",\"k\":\"$S/resourcegroups/torn-d\",\"v\":{\"bo" >>"$D/armlocal.log"
armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
grep -q "ignoring its last" "$TMP/armlocal.err" || fail "no warning for the torn tail: $(cat "$TMP/armlocal.err")"
[ "$(persist_stat tornTails)" = 1 ] || fail "torn tail not counted"
req GET "$S/resourceGroups/torn-a?$V"; expect_code 200 "record before the torn tail"
req GET "$S/resourceGroups/torn-b?$V"; expect_code 200 "last committed batch"
req GET "$S/resourceGroups/torn-c?$V"; expect_code 404 "uncommitted batch applied"
req PUT "$S/resourceGroups/torn-e?$V" '{"location":"eastus"}'; expect_code 201 "torn-e"
kill -9 "$AL_PID"; wait "$AL_PID" 2>/dev/null || true; AL_PID=""
armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
req GET "$S/resourceGroups/torn-e?$V"; expect_code 200 "a write after the torn tail"
req GET "$S/resourceGroups/torn-a?$V"; expect_code 200 "torn-a after the second restart"

# 3. a crash between writing a snapshot and replacing the log leaves a log
#    of the previous generation: it is ignored, not replayed twice.
req DELETE "$S/resourceGroups/torn-a?$V"
req PUT "$S/resourceGroups/late?$V" '{"location":"eastus","tags":{"v":"1"}}'; expect_code 201 "late"
req PATCH "$S/resourceGroups/late?$V" '{"tags":{"v":"2"}}'; expect_code 200 "late patch"
cp "$D/armlocal.log" "$TMP/old.log"
armlocal_stop
cp "$TMP/old.log" "$D/armlocal.log"
armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
[ "$(persist_stat replayed)" = 0 ] || fail "a log the snapshot holds was replayed"
req GET "$S/resourceGroups/late?$V"; expect_code 200 "late"
[ "$(jq -r .tags.v <<<"$BODY")" = 2 ] || fail "late: $BODY"
req GET "$S/resourceGroups/torn-a?$V"; expect_code 404 "deleted torn-a"
armlocal_stop

# 4. a data directory from before the log (the snapshot alone, no
#    logGeneration) starts, and its first write is appended, not a rewrite.
jq 'del(.logGeneration)' "$D/armlocal.json" >"$TMP/old.json"
mv "$TMP/old.json" "$D/armlocal.json"; rm -f "$D/armlocal.log"
armlocal_start --data "$D" --flush-ms 0 --lro-ms 0
req GET "$S/resourceGroups/late?$V"; expect_code 200 "old-format store"
req PUT "$S/resourceGroups/after-upgrade?$V" '{"location":"eastus"}'; expect_code 201 "after upgrade"
[ "$(persist_stat compactions)" = 0 ] || fail "the first write after an upgrade rewrote the snapshot"
armlocal_stop
armlocal_start --data "$D"
req GET "$S/resourceGroups/after-upgrade?$V"; expect_code 200 "after-upgrade after restart"
armlocal_stop
echo "armlocal persist: $total writes acknowledged across 3 kill -9 rounds, all kept"
